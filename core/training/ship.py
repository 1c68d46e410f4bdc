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


NOREF_BETTER = {"illumination_uniformity": 1, "vessel_cnr": 1, "sharpness": 1, "colour_shift": -1}
"""Direction in which each no-reference measure improves."""


def choose_variant(report: dict[str, Any], supervised: str, teacher_student: str, max_loss_db: float = 0.3) -> tuple[str, str]:
    """Which model ships, and why: the teacher-student one when it beats the supervised one on most
    real no-reference measures while losing at most `max_loss_db` on the synthetic test (the issue's
    criterion); otherwise the one with the higher synthetic PSNR at 512."""
    rows = report["synthetic_512"]["rows"]
    ps, pt = rows[supervised]["psnr"]["mean"], rows[teacher_student]["psnr"]["mean"]
    nr = (report.get("real_noref") or {}).get("rows") or {}
    wins, total = [], 0
    for key, sign in NOREF_BETTER.items():
        if key in nr.get(supervised, {}) and key in nr.get(teacher_student, {}):
            total += 1
            if (nr[teacher_student][key]["mean"] - nr[supervised][key]["mean"]) * sign > 0:
                wins.append(key)
    if total and len(wins) * 2 > total and pt >= ps - max_loss_db:
        return teacher_student, (
            f"teacher-student is better on {len(wins)} of {total} real no-reference measures ({', '.join(wins)}) "
            f"and within {max_loss_db} dB of supervised on the synthetic test ({pt - ps:+.2f} dB)"
        )
    if pt > ps:
        return teacher_student, (f"teacher-student has the higher synthetic PSNR at 512 ({pt - ps:+.2f} dB); "
                                 f"it is better on {len(wins)} of {total} real no-reference measures")
    return supervised, (f"supervised has the higher synthetic PSNR at 512 ({ps - pt:+.2f} dB over teacher-student), "
                        f"and teacher-student is better on only {len(wins)} of {total} real no-reference measures"
                        + (f" ({', '.join(wins)})" if wins else ""))
