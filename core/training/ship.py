"""Ship a trained model: its registry files plus the evaluation figures in the model card.

The card's sha256 covers the weights only, so the metrics measured by
`fundus-studio evaluate` after training are written into a copy of the card
next to a copy of the verified weights (resources/models for the shipped model).

Do no harm (issue 15): given the evaluate report, the card stores the model's do-no-harm
figures (`metrics["do_no_harm"]`: photometric structure PSNR, real-photo band-pass
correlation and vessel contrast ratio, lesion blobs) and its guard calibration (the card's
top-level "guard", core.guard). Shipping refuses a model that is worse than the currently
shipped model's card on the photometric or the real table, in the mean or in the worst,
beyond TOLERANCES; `allow_worse=True` (`fundus-studio ship --allow-worse`) ships it anyway
and records the reasons in the card.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.guard import set_card_guard
from core.models.registry import InstalledModel, ModelCard, ModelRegistry, sha256_file, version_key

TOLERANCES: dict[tuple[str, str], dict[str, float]] = {
    ("photometric", "structure_psnr"): {"mean": 0.3, "worst": 1.0},  # dB
    ("real", "bandpass_correlation"): {"mean": 0.01, "worst": 0.03},
}
"""How much worse than the shipped card a new model may be, per (table, measure) and statistic."""
UNITS = {"structure_psnr": " dB", "bandpass_correlation": ""}


def do_no_harm_figures(report: dict[str, Any], label: str) -> dict[str, Any]:
    """One model's do-no-harm figures from an evaluate report (core.evaluation.do_no_harm), for its card:
    {"photometric": {"structure_psnr", "psnr", "by_population"}, "real": {"bandpass_correlation",
    "vessel_contrast_ratio"}, "lesions": {...}}; {} when the report has no do-no-harm tables."""
    dnh = report.get("do_no_harm") or {}
    out: dict[str, Any] = {}
    ph = ((dnh.get("photometric") or {}).get("rows") or {}).get(label)
    if ph:
        out["photometric"] = {k: ph[k] for k in ("structure_psnr", "psnr", "by_population") if k in ph}
    rl = ((dnh.get("real") or {}).get("rows") or {}).get(label)
    if rl:
        out["real"] = {k: rl[k] for k in ("bandpass_correlation", "vessel_contrast_ratio") if k in rl}
    le = ((dnh.get("lesions") or {}).get("rows") or {}).get(label)
    if le:
        out["lesions"] = le
    return json.loads(json.dumps(out, default=float))


def compare_do_no_harm(new: dict[str, Any], shipped: dict[str, Any]) -> list[str]:
    """Why `new` is worse than `shipped` (both do_no_harm_figures) beyond TOLERANCES; [] when it is not.

    A table the shipped card has but the new figures lack counts as worse: it was not measured."""
    reasons: list[str] = []
    for (table, key), tol in TOLERANCES.items():
        old = ((shipped.get(table) or {}).get(key)) or {}
        if not any(isinstance(old.get(s), (int, float)) for s in tol):
            continue
        cur = ((new.get(table) or {}).get(key)) or {}
        for stat, allowed in tol.items():
            o, n = old.get(stat), cur.get(stat)
            if not isinstance(o, (int, float)):
                continue
            unit = UNITS.get(key, "")
            if not isinstance(n, (int, float)):
                reasons.append(f"{table} {key.replace('_', ' ')} {stat} was not measured (shipped: {o:.3f}{unit})")
            elif n < o - allowed:
                reasons.append(f"{table} {key.replace('_', ' ')} {stat} {n:.3f}{unit} is {o - n:.3f}{unit} below the "
                               f"shipped model's {o:.3f}{unit} (tolerance {allowed}{unit})")
    return reasons


def current_shipped_card(dest_dir: str | Path, kind: str = "enhancer") -> Any:
    """The newest card of `kind` in dest_dir (the shipped model that a new one replaces), or None."""

    cards = []
    for p in sorted(Path(dest_dir).glob("*.json")):
        if p.name.startswith("_"):
            continue
        try:
            c = ModelCard.load(p)
        except ModelError:
            continue
        if c.kind == kind:
            cards.append(c)
    return max(cards, key=lambda c: version_key(c.version), default=None)


def ship_model(
    card_path: str | Path,
    dest_dir: str | Path,
    metrics: dict[str, Any],
    training_extra: dict[str, Any] | None = None,
    notes: str | None = None,
    report: dict[str, Any] | None = None,
    label: str | None = None,
    shipped_card: Any = "current",
    allow_worse: bool = False,
):
    """Copy a registry model (card + weights, sha256 checked) into dest_dir with `metrics` in its card.

    With the evaluate `report` and the model's `label` in it, the card also gets its do-no-harm
    figures and guard calibration, and the model is refused (ModelError) when it is worse than
    `shipped_card` ("current": the newest enhancer card in dest_dir; None: no comparison) beyond
    TOLERANCES, unless `allow_worse`.
    """

    card_path = Path(card_path)
    card = ModelCard.load(card_path)
    weights = card_path.parent / card.weights_file
    if sha256_file(weights) != card.sha256:
        raise ModelError(f"The weights of {card.ref} do not match their card; not shipping them.")
    dest = Path(dest_dir)
    figures: dict[str, Any] = {}
    guard: dict[str, Any] | None = None
    if report is not None:
        if not label:
            raise ValueError("give the model's label in the evaluate report")
        figures = do_no_harm_figures(report, label)
        guard = ((report.get("do_no_harm") or {}).get("guard") or {}).get(label)
    if isinstance(shipped_card, str) and shipped_card == "current":
        old = current_shipped_card(dest) if dest.is_dir() else None
    else:
        old = shipped_card
    if isinstance(old, (str, Path)):
        old = ModelCard.load(old)
    reasons: list[str] = []
    if old is not None:
        reasons = compare_do_no_harm(figures, (old.metrics or {}).get("do_no_harm") or {})
    if reasons and not allow_worse:
        raise ModelError(
            f"Not shipping {card.ref}: it does more harm than the shipped {old.ref} on the do-no-harm tables:\n  - "
            + "\n  - ".join(reasons)
            + "\nShip it anyway only as an explicit choice (allow_worse=True, `fundus-studio ship --allow-worse`)."
        )
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / card.weights_file)
    card.metrics = json.loads(json.dumps(metrics, default=float))
    if figures:
        card.metrics["do_no_harm"] = figures
    if guard and guard.get("threshold") is not None:
        set_card_guard(card, json.loads(json.dumps(guard, default=float)))
    if reasons:
        training_extra = {**(training_extra or {}), "shipped_despite_do_no_harm": reasons,
                          "compared_with": old.ref}
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
