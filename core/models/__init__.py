"""Networks (MAGE-Net, later the vessel net) and the model registry (safetensors + model card)."""

from core.models.magenet import PRESETS, MageNet, MageNetConfig, MageNetOutput, count_parameters, preset
from core.models.registry import (
    InstalledModel,
    ModelCard,
    ModelRegistry,
    build_model,
    register_architecture,
)

__all__ = [
    "PRESETS",
    "InstalledModel",
    "MageNet",
    "MageNetConfig",
    "MageNetOutput",
    "ModelCard",
    "ModelRegistry",
    "build_model",
    "count_parameters",
    "preset",
    "register_architecture",
]
