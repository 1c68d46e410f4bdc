"""Ship a trained model: its registry files plus the evaluation figures in the model card.

The card's sha256 covers the weights only, so the metrics measured by
`fundus-studio evaluate` after training are written into a copy of the card
next to a copy of the verified weights (resources/models for the shipped model).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from core.errors import ModelError


def ship_model(
    card_path: str | Path,
    dest_dir: str | Path,
    metrics: dict[str, Any],
    training_extra: dict[str, Any] | None = None,
    notes: str | None = None,
):
    """Copy a registry model (card + weights, sha256 checked) into dest_dir with `metrics` in its card."""
    from core.models.registry import InstalledModel, ModelCard, ModelRegistry, sha256_file  # noqa: PLC0415

    card_path = Path(card_path)
    card = ModelCard.load(card_path)
    weights = card_path.parent / card.weights_file
    if sha256_file(weights) != card.sha256:
        raise ModelError(f"The weights of {card.ref} do not match their card; not shipping them.")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / card.weights_file)
    card.metrics = json.loads(json.dumps(metrics, default=float))
    if training_extra:
        card.training = {**card.training, **training_extra}
    if notes is not None:
        card.notes = notes
    card.validate()
    out_card = dest / card_path.name
    card.save(out_card)
    installed = InstalledModel(card, dest / card.weights_file, out_card, "shipped")
    ModelRegistry(shipped_dir=dest, user_dir=dest / ".none").load(installed)  # proves it loads
    return installed
