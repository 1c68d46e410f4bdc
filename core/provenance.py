"""Hashes and JSON sidecars: a record of what made each output, so a result can be traced.

Every output image gets `<output file>.json` next to it with the input hash, output hash,
model (name, version, weights hash), device, parameters, software versions and UTC time.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

import core
from core.errors import OutputError

SCHEMA = "fundus-studio/provenance/1"
_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes already in memory (the reader hashes what it decodes)."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks so large files do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_version(name: str) -> str | None:
    """Installed version without importing the package (importing torch takes seconds)."""
    try:
        return _metadata.version(name)
    except _metadata.PackageNotFoundError:
        return None


def build_provenance(
    *,
    input_sha256: str | None,
    input_path: str | os.PathLike[str] | None,
    model: dict[str, Any] | None,
    device: str | None,
    parameters: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record for one output; `write_sidecar` adds the output hash.

    model: {"name", "version", "weights_sha256"} or None when no model was used.
    """
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "software": {"name": "Fundus Studio", "version": core.__version__},
        "disclaimer": core.DISCLAIMER,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "torch": _package_version("torch"),
            "numpy": _package_version("numpy"),
            "platform": platform.platform(terse=True),
        },
        "input": {
            "path": str(input_path) if input_path is not None else None,
            "name": Path(input_path).name if input_path is not None else None,
            "sha256": input_sha256,
        },
        "model": dict(model) if model is not None else None,
        "device": device,
        "parameters": dict(parameters),
    }
    if extra:
        record["extra"] = dict(extra)
    return record


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays and paths turn up in parameters; store them as plain JSON."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy scalar or small array
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def sidecar_path_for(output_path: str | os.PathLike[str]) -> Path:
    """`out.png` -> `out.png.json` (keeps the full name, so out.png and out.tif never share one)."""
    out = Path(output_path)
    return out.with_name(out.name + ".json")


def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`.

    A crash or full disk leaves either the old file or the new one, never half a file,
    and the temporary file is removed on failure.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"Cannot save '{target.name}': the folder '{folder}' does not exist.")
    if target.is_dir():
        raise OutputError(f"Cannot save '{target.name}': a folder with that name already exists.")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"Cannot save '{target.name}' in '{folder}': {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, _FILE_MODE)  # mkstemp makes 0600; outputs should read like any saved file
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"Cannot save '{target.name}': {exc.strerror or exc}.") from exc
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the OS allows it (not on Windows)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_sidecar(
    output_path: str | os.PathLike[str], provenance: dict[str, Any], output_sha256: str
) -> Path:
    """Write `<output>.json` atomically: the provenance plus the output's name and hash."""
    record = dict(provenance)
    record["output"] = {"name": Path(output_path).name, "sha256": output_sha256}
    try:
        text = json.dumps(record, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutputError(f"The processing record for '{Path(output_path).name}' could not be saved: {exc}.") from exc
    sidecar = sidecar_path_for(output_path)
    atomic_write_bytes(sidecar, (text + "\n").encode("utf-8"))
    return sidecar
