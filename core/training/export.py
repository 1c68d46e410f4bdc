"""Turn a finished training run into a registry model: safetensors weights + model card."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.models.registry import ModelCard, ModelRegistry
from core.training.config import TrainConfig


def model_config(module: nn.Module, working_size: int) -> dict[str, Any]:
    """The card's config: the network sizes plus the Enhancer's working size."""
    cfg = module.config.to_dict()  # type: ignore[union-attr]
    cfg["inference"] = {"working_size": int(working_size)}
    return cfg


def hardware_string() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} torch threads)"


def export_model(
    module: nn.Module,
    cfg: TrainConfig,
    out_dir: str | Path,
    training: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    data_sources: list[str] | None = None,
    notes: str = "",
    name: str | None = None,
    version: str | None = None,
):
    """Write `<name>-<version>.safetensors` + `.json` into out_dir through the registry (sha256 filled in)."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    card = ModelCard(
        name=name or cfg.name,
        version=version or cfg.version,
        kind="enhancer",
        architecture="magenet",
        config=model_config(module, cfg.working_size),
        training=dict(training),
        metrics=dict(metrics or {}),
        notes=notes or cfg.notes,
        license="Weights trained on research-use-only data (DRIVE, HRF, EyePACS/EyeQ): research use only.",
        data_sources=list(data_sources or []),
    )
    registry = ModelRegistry(shipped_dir=out / ".none", user_dir=out)
    return registry.install(module.cpu().eval(), card, overwrite=True)
