"""A run's snapshots (TrainConfig.snapshot_minutes): listing, loading, and exporting the chosen one.

The choice itself is core.evaluation.validation's; this module only knows the run folder's layout:
<run>/config.json, <run>/snapshots/step-NNNNNN.safetensors, <run>/model/<name>-<version>.json (the
end-of-run card, whose training record the chosen snapshot's card inherits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from safetensors import safe_open
from safetensors.torch import load_model
from torch import nn

from core.errors import FundusError
from core.training.config import TrainConfig
from core.training.trainer import SNAPSHOT_DIR, build_model

SELECTED_DIR = "selected"
"""<run>/selected/: the chosen snapshot as a registry model (card + weights), ready for `fundus-studio ship`."""


def run_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FundusError(f"{run_dir} is not a training run folder (it has no config.json).")
    return TrainConfig.load(path)


def list_snapshots(run_dir: Path) -> list[Path]:
    """The run's snapshots in step order (empty when the run kept none)."""
    return sorted((Path(run_dir) / SNAPSHOT_DIR).glob("step-*.safetensors"))


def snapshot_step(path: Path) -> int:
    return int(Path(path).stem.split("-")[-1])


def load_snapshot(cfg: TrainConfig, path: Path) -> nn.Module:
    """The network of `cfg` with a snapshot's weights, in eval mode on the CPU."""
    module = build_model(cfg)
    try:
        with safe_open(str(path), "pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file: say which
        raise FundusError(f"The snapshot {path} cannot be read: {exc}") from exc
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    wrong = sorted(k for k in shapes if want.get(k, shapes[k]) != shapes[k]) + sorted(set(shapes) - set(want))
    missing = sorted(set(want) - set(shapes))
    if wrong or missing:
        raise FundusError(f"The snapshot {path} does not fit the run's network: {len(wrong)} tensor(s) of "
                          f"another shape or name (e.g. {wrong[:2]}), {len(missing)} missing (e.g. {missing[:2]}).")
    load_model(module, str(path))
    return module.eval()


def end_of_run_card(run_dir: Path, cfg: TrainConfig) -> Any | None:
    from core.models.registry import ModelCard  # noqa: PLC0415 - the registry pulls in the model zoo: only when exporting

    path = Path(run_dir) / "model" / f"{cfg.name}-{cfg.version}.json"
    return ModelCard.load(path) if path.exists() else None


def export_selected(run_dir: Path, cfg: TrainConfig, snapshot: Path, selection: Mapping[str, Any]) -> Any:
    """Write the chosen snapshot into <run>/selected/ as a registry model; its card keeps the run's
    training record, with the snapshot's step and the selection (figures, gates, reference) added."""
    from core.training.export import export_model  # noqa: PLC0415 - needs the registry: only when exporting

    module = load_snapshot(cfg, snapshot)
    card = end_of_run_card(run_dir, cfg)
    training = dict(card.training) if card is not None else {"mode": cfg.mode, "config": cfg.to_dict()}
    training["steps"] = snapshot_step(snapshot)
    training["selected_by"] = "validation split (core.data.validation): fundus-studio select"
    training["selection"] = dict(selection)
    sources = list(card.data_sources) if card is not None else []
    return export_model(module, cfg, Path(run_dir) / SELECTED_DIR, training=training, data_sources=sources)
