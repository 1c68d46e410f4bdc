"""Model registry: weights as safetensors plus a JSON model card, checked by sha256.

A model is `<name>-<version>.safetensors` + `<name>-<version>.json` (the card).
Shipped models live in resources/models (read only); installed, imported and
site-adapted ones in the user data dir. Weights are only ever read as tensors
(safetensors, never pickle) and only after their sha256 matches the card, so a
damaged or swapped file cannot silently change what the clinician sees.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import io
import json
import logging
import os
import re
import struct
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from safetensors.torch import load as st_load
from safetensors.torch import save_file
from torch import nn

from core import paths
from core.errors import ModelError
from core.provenance import atomic_write_bytes, sha256_file  # sha256_file: re-exported for model tools

log = logging.getLogger(__name__)

KINDS = ("enhancer", "vessel")
STATE_FILE_NAME = "_active.json"
"""Which model of each kind is active; underscore so the card scan skips it."""
RUNTIME_CONFIG_KEYS = ("inference",)
"""Card config keys that are hints for the caller (e.g. the Enhancer's working size), not network sizes."""

_MAX_CARD_BYTES = 1 << 20
_MAX_WEIGHTS_BYTES = 4 << 30
_MAX_HEADER_BYTES = 100 << 20
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

# ----------------------------------------------------------------------------- architectures
Factory = Callable[[dict[str, Any]], nn.Module]
_ARCHITECTURES: dict[str, str | Factory] = {
    # "module:attribute.path", resolved with importlib on first use (no import cycles).
    "magenet": "core.models.magenet:MageNet.from_config",
    "vesselnet": "core.models.vesselnet:VesselNet.from_config",
}


def register_architecture(name: str, factory: str | Factory) -> None:
    """Make `build_model(name, config)` call `factory(config)`; a string is "module:attr.path"."""
    if not name or not isinstance(name, str):
        raise ValueError("architecture name must be a non-empty string")
    _ARCHITECTURES[name] = factory


def architectures() -> list[str]:
    return sorted(_ARCHITECTURES)


def _resolve(name: str) -> Factory:
    try:
        entry = _ARCHITECTURES[name]
    except KeyError:
        raise ModelError(
            f"This model needs the network architecture '{name}', which this version of Fundus Studio "
            f"does not know (known: {', '.join(architectures())}). Update Fundus Studio or use another model."
        ) from None
    if callable(entry):
        return entry
    module_name, _, attr_path = entry.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ModelError(
            f"The network architecture '{name}' is not available in this installation ({exc})."
        ) from exc
    _ARCHITECTURES[name] = obj
    return obj


def build_model(architecture: str, config: Mapping[str, Any] | None = None) -> nn.Module:
    """A freshly initialised network of `architecture` with the card's `config`."""
    factory = _resolve(architecture)
    cfg = {k: v for k, v in dict(config or {}).items() if k not in RUNTIME_CONFIG_KEYS}
    try:
        return factory(cfg)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"The model card's settings do not fit the '{architecture}' network: {exc}") from exc


# ----------------------------------------------------------------------------- model card
def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def version_key(version: str) -> tuple:
    """Order versions naturally: 1.10 after 1.9, numbers before words."""
    parts = [p for p in re.split(r"[.\-+_]", version) if p]
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


@dataclass
class ModelCard:
    """What a model is, how it was made, and the hash its weights must have."""

    name: str
    version: str
    kind: str = "enhancer"
    """"enhancer" | "vessel"."""
    architecture: str = "magenet"
    config: dict[str, Any] = field(default_factory=dict)
    """Network sizes for `build_model`; an optional "inference" entry holds caller hints."""
    weights_file: str = ""
    sha256: str = ""
    created: str = ""
    """ISO 8601 time, UTC."""
    parent: str | None = None
    """name@version this model was trained from (site adaptation), or None."""
    training: dict[str, Any] = field(default_factory=dict)
    """Data summary, steps, wall time, hardware."""
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    license: str = ""
    data_sources: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys from newer card formats, kept so a round trip loses nothing."""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}"

    def validate(self) -> None:
        """Raise ModelError when the card could not safely name files or build a network."""
        for label, value in (("name", self.name), ("version", self.version)):
            if not isinstance(value, str) or not _NAME_RE.match(value) or ".." in value:
                raise ModelError(
                    f"The model card's {label} {value!r} is not valid: use letters, digits, '.', '_', '+', '-'."
                )
        if self.kind not in KINDS:
            raise ModelError(f"The model card's kind {self.kind!r} is not one of {', '.join(KINDS)}.")
        if not isinstance(self.architecture, str) or not _NAME_RE.match(self.architecture):
            raise ModelError(f"The model card's architecture {self.architecture!r} is not valid.")
        if not isinstance(self.config, dict):
            raise ModelError("The model card's config must be a JSON object.")
        if self.weights_file and (Path(self.weights_file).name != self.weights_file or ".." in self.weights_file):
            raise ModelError(f"The model card's weights file {self.weights_file!r} must be a plain file name.")
        if not isinstance(self.created, str) or not (self.parent is None or isinstance(self.parent, str)):
            raise ModelError("The model card's created time and parent must be text.")
        if not isinstance(self.sha256, str) or (self.sha256 and not _SHA_RE.match(self.sha256)):
            raise ModelError("The model card's sha256 is not a 64-digit hexadecimal hash.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        return {**extra, **d}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelCard":
        if not isinstance(data, Mapping):
            raise ModelError("A model card must be a JSON object.")
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = [k for k in ("name", "version") if k not in data]
        if missing:
            raise ModelError(f"The model card has no {' or '.join(missing)}.")
        kwargs = {k: copy.deepcopy(v) for k, v in data.items() if k in known}
        extra = {k: copy.deepcopy(v) for k, v in data.items() if k not in known}
        return cls(**kwargs, extra=extra)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelCard":
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"The model card is not valid JSON ({exc}).") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelCard":
        path = Path(path)
        try:
            if path.stat().st_size > _MAX_CARD_BYTES:
                raise ModelError(f"The model card {path.name} is too large to be a model card.")
            return cls.from_json(path.read_bytes())
        except OSError as exc:
            raise ModelError(f"The model card {path} cannot be read ({exc.strerror or exc}).") from exc

    def save(self, path: str | os.PathLike) -> None:
        _atomic_write_bytes(Path(path), self.to_json().encode("utf-8"))

    def copy(self) -> "ModelCard":
        return ModelCard.from_dict(self.to_dict())


@dataclass(frozen=True)
class InstalledModel:
    """A card found on disk with the paths of its files; origin "shipped" or "user"."""

    card: ModelCard
    weights_path: Path
    card_path: Path
    origin: str

    def __hash__(self) -> int:  # the card is mutable, so hash by identity on disk
        return hash((self.card.name, self.card.version, self.origin, str(self.weights_path)))

    @property
    def ref(self) -> str:
        return self.card.ref

    def parameter_count(self) -> int | None:
        """Number of stored values, read from the safetensors header only (cheap); None if unreadable."""
        try:
            header = read_safetensors_header(self.weights_path)
        except ModelError:
            return None
        total = 0
        for key, info in header.items():
            if key == "__metadata__" or not isinstance(info, dict):
                continue
            n = 1
            for d in info.get("shape", []):
                n *= int(d)
            total += n
        return total


# ----------------------------------------------------------------------------- file helpers
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """The project's one atomic writer (core.provenance), creating the folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def _parse_safetensors_header(head: bytes, size: int, label: str) -> dict[str, Any]:
    """Check the safetensors layout: u64 little-endian header length, then a JSON object."""
    not_st = (
        f"{label} is not a safetensors weights file (it may be a pickle or a damaged download); "
        "Fundus Studio only loads safetensors weights."
    )
    if len(head) < 8:
        raise ModelError(not_st)
    (n,) = struct.unpack("<Q", head[:8])
    if n < 2 or n > _MAX_HEADER_BYTES or 8 + n > size or len(head) < 8 + n:
        raise ModelError(not_st)
    try:
        header = json.loads(head[8 : 8 + n])
    except (ValueError, UnicodeDecodeError):
        raise ModelError(not_st) from None
    if not isinstance(header, dict):
        raise ModelError(not_st)
    return header


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes); ModelError if it is not one."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            first = f.read(8)
            n = struct.unpack("<Q", first)[0] if len(first) == 8 else 0
            rest = f.read(n) if 0 < n <= _MAX_HEADER_BYTES else b""
    except OSError as exc:
        raise ModelError(f"The weights file {path} cannot be read ({exc.strerror or exc}).") from exc
    return _parse_safetensors_header(first + rest, size, f"The file {path.name}")


def _tensors_from_bytes(data: bytes, label: str) -> dict[str, Any]:
    n = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else 0
    _parse_safetensors_header(data[: 8 + min(n, _MAX_HEADER_BYTES)], len(data), label)
    try:
        return st_load(data)
    except Exception as exc:  # safetensors raises its own error types for corrupt data
        raise ModelError(f"{label} is damaged and cannot be read as weights ({exc}).") from exc


def _load_into(card: ModelCard, tensors: Mapping[str, Any]) -> nn.Module:
    model = build_model(card.architecture, card.config)
    try:
        model.load_state_dict(dict(tensors), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"The weights of {card.ref} do not fit the network its model card describes "
            f"({card.architecture}): {first}"
        ) from exc
    return model


# ----------------------------------------------------------------------------- registry
class ModelRegistry:
    """Shipped and user models, the active choice per kind, install/load/delete/export/import."""

    def __init__(
        self,
        shipped_dir: str | os.PathLike | None = None,
        user_dir: str | os.PathLike | None = None,
    ) -> None:
        self.shipped_dir = Path(shipped_dir) if shipped_dir is not None else paths.resources_dir() / "models"
        self.user_dir = Path(user_dir) if user_dir is not None else paths.user_data_dir() / "models"
        self.state_file = self.user_dir / STATE_FILE_NAME
        self.problems: list[tuple[Path, str]] = []
        """Cards skipped by the last scan, with the reason (shown by the CLI and the models dialog)."""

    # ---------------------------------------------------------------- discovery
    def _scan(self) -> Iterator[InstalledModel]:
        self.problems = []
        for origin, folder in (("shipped", self.shipped_dir), ("user", self.user_dir)):
            if not folder.is_dir():
                continue
            for card_path in sorted(folder.glob("*.json")):
                if card_path.name.startswith(("_", ".")):
                    continue
                try:
                    card = ModelCard.load(card_path)
                    card.validate()
                    if not card.weights_file:
                        raise ModelError("The model card names no weights file.")
                except ModelError as err:
                    self.problems.append((card_path, str(err)))
                    log.warning("skipping model card %s: %s", card_path, err)
                    continue
                yield InstalledModel(card, folder / card.weights_file, card_path, origin)

    def list(self, kind: str | None = None) -> list[InstalledModel]:
        """Every model with a readable card (optionally of one kind), by kind, name, version."""
        found = [m for m in self._scan() if kind is None or m.card.kind == kind]
        found.sort(key=lambda m: (m.card.kind, m.card.name, version_key(m.card.version), m.origin))
        return found

    def _find(self, name: str, version: str) -> list[InstalledModel]:
        return [m for m in self.list() if m.card.name == name and m.card.version == version]

    def get(self, name: str, version: str | None = None) -> InstalledModel:
        """One model by name (or "name@version"); the newest version when none is given."""
        if version is None and "@" in name:
            name, _, version = name.partition("@")
            version = version or None
        matches = [m for m in self.list() if m.card.name == name and (version is None or m.card.version == version)]
        if not matches:
            what = f"{name}@{version}" if version else name
            raise ModelError(f"No model called {what} is installed.")
        # Newest version; a user copy wins over a shipped one of the same version.
        return max(matches, key=lambda m: (version_key(m.card.version), m.origin == "user"))

    # ---------------------------------------------------------------- active model
    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self, state: dict[str, Any]) -> None:
        _atomic_write_bytes(self.state_file, (json.dumps(state, indent=2) + "\n").encode("utf-8"))

    def active(self, kind: str = "enhancer") -> InstalledModel | None:
        """The chosen model of `kind`; else the newest shipped one of that kind; else None."""
        entry = self._read_state().get(kind)
        models = self.list(kind)
        if isinstance(entry, dict):
            chosen = [m for m in models if m.card.name == entry.get("name") and m.card.version == entry.get("version")]
            if chosen:
                return max(chosen, key=lambda m: m.origin == "user")
        shipped = [m for m in models if m.origin == "shipped"]
        if not shipped:
            return None
        return max(shipped, key=lambda m: (m.card.created, version_key(m.card.version)))

    def set_active(self, kind: str, name: str, version: str | None = None) -> InstalledModel:
        """Remember `name@version` (newest when None) as the model of `kind` to use."""
        model = self.get(name, version)
        if model.card.kind != kind:
            raise ModelError(f"{model.ref} is a {model.card.kind} model, not a {kind} model.")
        state = self._read_state()
        state[kind] = {"name": model.card.name, "version": model.card.version}
        self._write_state(state)
        return model

    # ---------------------------------------------------------------- install / load
    def _check_clash(self, card: ModelCard, overwrite: bool) -> None:
        for existing in self._find(card.name, card.version):
            if existing.origin == "shipped":
                raise ModelError(
                    f"{card.ref} is a model shipped with Fundus Studio; give the new model another version."
                )
            if not overwrite:
                raise ModelError(f"{card.ref} is already installed; choose another version or allow overwriting.")

    def install(self, module: nn.Module, card: ModelCard, overwrite: bool = False) -> InstalledModel:
        """Save `module`'s weights (safetensors) and its card into the user folder; sha256 filled in."""

        card = card.copy()
        if not card.config and hasattr(getattr(module, "config", None), "to_dict"):
            card.config = module.config.to_dict()  # type: ignore[union-attr]
        card.validate()
        self._check_clash(card, overwrite)
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
        _load_into(card, tensors)  # the card must rebuild exactly this network, or loading would fail later
        card.weights_file = f"{card.stem}.safetensors"
        card.created = card.created or _now_iso()
        self.user_dir.mkdir(parents=True, exist_ok=True)
        weights_path = self.user_dir / card.weights_file
        fd, tmp = tempfile.mkstemp(prefix=f".{card.weights_file}.", suffix=".tmp", dir=self.user_dir)
        os.close(fd)
        try:
            meta = {"name": card.name, "version": card.version, "kind": card.kind, "architecture": card.architecture}
            save_file(tensors, tmp, metadata=meta)
            card.sha256 = sha256_file(Path(tmp))
            os.replace(tmp, weights_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        card_path = self.user_dir / f"{card.stem}.json"
        card.save(card_path)
        return InstalledModel(card, weights_path, card_path, "user")

    def _verified_bytes(self, installed: InstalledModel) -> bytes:
        card, path = installed.card, installed.weights_path
        if not card.sha256:
            raise ModelError(f"The model card of {card.ref} has no sha256, so its weights cannot be checked.")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"The weights file of {card.ref} is missing ({path}). Reinstall the model.") from None
        except OSError as exc:
            raise ModelError(f"The weights file of {card.ref} cannot be read ({exc.strerror or exc}).") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != card.sha256.lower():
            raise ModelError(
                f"The weights file of {card.ref} does not match its model card (sha256 {actual[:12]}... instead of "
                f"{card.sha256[:12]}...). The file is damaged or was changed; reinstall the model."
            )
        return data

    def load(self, installed: InstalledModel, device: Any = "cpu") -> nn.Module:
        """The network with its weights, in eval mode; the sha256 is checked before anything is parsed."""
        data = self._verified_bytes(installed)  # hash of exactly the bytes that are then parsed
        tensors = _tensors_from_bytes(data, f"The weights file of {installed.ref}")
        model = _load_into(installed.card, tensors)
        return model.to(device).eval()

    # ---------------------------------------------------------------- delete / export / import
    def delete(self, installed: InstalledModel) -> None:
        """Remove a user model (never a shipped one) and forget it as the active model."""
        if installed.origin != "user":
            raise ModelError(f"{installed.ref} is shipped with Fundus Studio and cannot be deleted.")
        installed.weights_path.unlink(missing_ok=True)
        installed.card_path.unlink(missing_ok=True)
        state = self._read_state()
        entry = state.get(installed.card.kind)
        if isinstance(entry, dict) and (entry.get("name"), entry.get("version")) == (
            installed.card.name,
            installed.card.version,
        ):
            del state[installed.card.kind]
            self._write_state(state)

    def export_package(self, installed: InstalledModel, zip_path: str | os.PathLike) -> Path:
        """Write a zip with the weights and the card (checked first, so a damaged model is not passed on)."""
        data = self._verified_bytes(installed)
        card = installed.card.copy()
        card.weights_file = f"{card.stem}.safetensors"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"{card.stem}.json", card.to_json(), compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr(card.weights_file, data, compress_type=zipfile.ZIP_STORED)
        zip_path = Path(zip_path)
        try:
            _atomic_write_bytes(zip_path, buf.getvalue())
        except OSError as exc:
            raise ModelError(f"The model package {zip_path} cannot be written ({exc.strerror or exc}).") from exc
        return zip_path

    def import_package(self, zip_path: str | os.PathLike, overwrite: bool = False) -> InstalledModel:
        """Install a model package made by `export_package`; its weights must match the card's sha256."""
        zip_path = Path(zip_path)
        label = f"The model package {zip_path.name}"
        try:
            zf = zipfile.ZipFile(zip_path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(f"{label} cannot be opened as a zip file ({exc}).") from exc
        with zf:
            cards, weights = [], []
            for info in zf.infolist():
                name = info.filename
                if (
                    info.is_dir()
                    or "/" in name
                    or "\\" in name
                    or name.startswith(".")
                    or ":" in name
                    or (info.external_attr >> 16) & 0o170000 == 0o120000  # symlink
                ):
                    raise ModelError(f"{label} contains an unexpected entry {name!r}; it was not made by Fundus Studio.")
                if name.endswith(".json"):
                    cards.append(info)
                elif name.endswith(".safetensors"):
                    weights.append(info)
                else:
                    raise ModelError(f"{label} contains an unexpected file {name!r}.")
            if len(cards) != 1 or len(weights) != 1:
                raise ModelError(f"{label} must hold exactly one model card (.json) and one weights file.")
            if cards[0].file_size > _MAX_CARD_BYTES or weights[0].file_size > _MAX_WEIGHTS_BYTES:
                raise ModelError(f"{label} is too large to be a Fundus Studio model.")
            try:
                card = ModelCard.from_json(zf.read(cards[0]))
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                raise ModelError(f"{label} is damaged ({exc}).") from exc
            card.validate()
            if card.weights_file != weights[0].filename:
                raise ModelError(f"{label} does not hold the weights file its card names ({card.weights_file!r}).")
            if not card.sha256:
                raise ModelError(f"{label} has a model card without a sha256.")
            self._check_clash(card, overwrite)
            try:
                data = zf.read(weights[0])
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:  # CRC errors are BadZipFile
                raise ModelError(f"{label} is damaged ({exc}).") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != card.sha256:
            raise ModelError(
                f"{label} is damaged or was altered: its weights do not match the sha256 in its model card."
            )
        _load_into(card, _tensors_from_bytes(data, f"The weights in {zip_path.name}"))
        card.weights_file = f"{card.stem}.safetensors"
        weights_path = self.user_dir / card.weights_file
        _atomic_write_bytes(weights_path, data)
        card_path = self.user_dir / f"{card.stem}.json"
        card.save(card_path)
        return InstalledModel(card, weights_path, card_path, "user")
