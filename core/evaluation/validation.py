"""Checkpoint choice on the validation split (core.data.validation), never on a test split.

Issue 17: "the score is vessel recovery plus the do-no-harm measures". Every candidate (the
snapshots of a run, and the model it started from) is measured in one pass, so the shared parts
(the clean and degraded vessel rows, the photos as read) are computed once:

* vessel recovery with the clean-trained segmenter (the paper's protocol) on the labelled
  validation photos, degraded as evaluate degrades its test sets;
* the do-no-harm measures of evaluate's tables on the validation photos: band-pass correlation and
  vessel contrast ratio on real photos, structure PSNR on photometrically shifted clean photos,
  lesion-like blob ratios (dark dots kept) on both.

A candidate is eligible when no do-no-harm measure is worse than the reference's (the model the run
started from) by more than `Gates`' tolerance, or, without a reference, than the absolute floors;
the eligible candidate with the highest vessel recovery is chosen. None is chosen when no snapshot
passes: the reference stays the better model, and the report says which measure stopped each one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from core.data.validation import validation_clean, validation_real
from core.evaluation import do_no_harm as dnh
from core.evaluation.do_no_harm import EvalPhoto
from core.evaluation.vessel_eval import VALIDATION_SETS
from core.progress import ProgressCallback, StopCallback

EnhanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]



@dataclass(frozen=True)
class Gates:
    """How much worse than the reference a do-no-harm measure may get (absolute floors without one)."""

    correlation_mean: float = 0.01
    correlation_worst: float = 0.03
    ratio_worst: float = 0.03
    structure_mean_db: float = 0.5
    structure_worst_db: float = 1.0
    blob_ratio: float = 0.05
    dark_ratio: float = 0.05
    floor_correlation_mean: float = 0.90
    floor_correlation_worst: float = 0.70
    floor_ratio_worst: float = 0.90
    floor_structure_mean_db: float = 34.0
    floor_blob_ratio: float = 1.10
    floor_dark_ratio: float = 0.90


@dataclass
class ValidationPhotos:
    """The validation photos as the tables read them (512 px FOV squares), loaded once per selection."""

    clean: list[EvalPhoto]
    real: list[EvalPhoto]
    skipped: list[str]
    data_root: Path


def load_validation(data_root: Path, real_limit: int | None = None, clean_limit: int | None = None) -> ValidationPhotos:
    clean, s1 = dnh.load_split(validation_clean(data_root), limit=clean_limit)
    real, s2 = dnh.load_split(validation_real(data_root), limit=real_limit)
    return ValidationPhotos(clean, real, s1 + s2, Path(data_root))


def _measures(name: str, vessels: Mapping[str, Any] | None, photometric: Mapping[str, Any],
              real: Mapping[str, Any], lesions: Mapping[str, Any]) -> dict[str, float | None]:
    """The figures one candidate is judged by, flat (None where a table had nothing to say)."""
    out: dict[str, float | None] = {}
    if vessels is not None:
        rec = [s["rows"][name].get("auc_recovery") for s in vessels["sets"].values()]
        rec = [float(r) for r in rec if r is not None]
        out["vessel_recovery"] = float(np.mean(rec)) if rec else None
        for set_name, s in vessels["sets"].items():
            out[f"vessel_recovery_{set_name}"] = s["rows"][name].get("auc_recovery")
    r = real["rows"][name]
    out["correlation_mean"] = r["bandpass_correlation"]["mean"]
    out["correlation_worst"] = r["bandpass_correlation"]["worst"]
    out["ratio_geo_mean"] = r["vessel_contrast_ratio"]["geo_mean"]
    out["ratio_worst"] = r["vessel_contrast_ratio"]["worst"]
    p = photometric["rows"][name]
    out["structure_mean_db"] = p["structure_psnr"]["mean"]
    out["structure_worst_db"] = p["structure_psnr"]["worst"]
    les = lesions["rows"][name]
    ratios = [les[k]["geo_mean"] for k in ("photometric", "real") if k in les and les[k]["geo_mean"] is not None]
    out["blob_ratio"] = float(max(ratios)) if ratios else None
    out["dark_ratio"] = les["photometric"]["dark_ratio"] if "photometric" in les else None
    return out


def measure(
    candidates: Mapping[str, EnhanceFn],
    photos: ValidationPhotos,
    segmenter: Any | None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    tables: dict[str, Any] | None = None,
) -> dict[str, dict[str, float | None]]:
    """Every candidate's validation figures (see `_measures`); vessel recovery needs the segmenter.

    `tables`, when given, receives the photometric and real tables themselves (per photo), so that a
    caller can say *which* photo is a candidate's worst without measuring twice."""
    from core.evaluation import protocol  # noqa: PLC0415 - protocol imports the Enhancer and torch: only when measuring

    names = list(candidates)
    vessels = None
    if segmenter is not None:
        vessels = protocol.vessel_recovery(segmenter, candidates, photos.data_root, progress=progress,
                                           should_stop=should_stop, datasets=tuple(VALIDATION_SETS))
    photometric = dnh.photometric_table(photos.clean, candidates, models=names, progress=progress,
                                        should_stop=should_stop, keep_examples=())
    real = dnh.real_table(photos.real, candidates, models=names, progress=progress, should_stop=should_stop,
                          keep_examples=())
    lesions = dnh.lesion_table(photometric, real)
    if tables is not None:
        tables.update(photometric=photometric, real=real)
    return {n: _measures(n, vessels, photometric, real, lesions) for n in names}


def _failures(m: Mapping[str, float | None], ref: Mapping[str, float | None] | None, g: Gates) -> list[str]:
    """The do-no-harm measures on which a candidate falls short (empty: eligible)."""
    higher = {  # measure: (tolerance below the reference, floor without one)
        "correlation_mean": (g.correlation_mean, g.floor_correlation_mean),
        "correlation_worst": (g.correlation_worst, g.floor_correlation_worst),
        "ratio_worst": (g.ratio_worst, g.floor_ratio_worst),
        "structure_mean_db": (g.structure_mean_db, g.floor_structure_mean_db),
        "structure_worst_db": (g.structure_worst_db, None),
        "dark_ratio": (g.dark_ratio, g.floor_dark_ratio),
    }
    out: list[str] = []
    for key, (tol, floor) in higher.items():
        v = m.get(key)
        base = None if ref is None else ref.get(key)
        limit = (base - tol) if base is not None else floor
        if limit is not None and (v is None or v < limit):
            out.append(f"{key} {_fmt(v)} < {limit:.3f}")
    v, base = m.get("blob_ratio"), None if ref is None else ref.get("blob_ratio")
    limit = max(g.floor_blob_ratio, base + g.blob_ratio) if base is not None else g.floor_blob_ratio
    if v is None or v > limit:
        out.append(f"blob_ratio {_fmt(v)} > {limit:.3f}")
    return out


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def choose(
    figures: Mapping[str, Mapping[str, float | None]], reference: str | None, gates: Gates = Gates(),  # noqa: B008 - frozen
) -> dict[str, Any]:
    """{"chosen": name or None, "reference", "candidates": {name: {"eligible", "failures", "score"}}, "gates"}.

    The reference is never chosen: it is what a snapshot must not be worse than. Among the eligible
    snapshots the highest vessel recovery wins (the structure PSNR mean breaks a tie or stands in
    when no segmenter was available)."""
    ref = figures.get(reference) if reference else None
    rows: dict[str, Any] = {}
    best: tuple[float, float, str] | None = None
    for name, m in figures.items():
        if name == reference:
            continue
        fails = _failures(m, ref, gates)
        score = m.get("vessel_recovery")
        rows[name] = {"eligible": not fails, "failures": fails, "score": score}
        if not fails:
            key = (score if score is not None else float("-inf"), m.get("structure_mean_db") or float("-inf"), name)
            best = key if best is None or key > best else best
    beats = None
    if best is not None and ref is not None and ref.get("vessel_recovery") is not None and best[0] != float("-inf"):
        beats = best[0] > float(ref["vessel_recovery"])
    return {"chosen": None if best is None else best[2], "reference": reference, "beats_reference": beats,
            "candidates": rows, "gates": asdict(gates)}


def markdown(figures: Mapping[str, Mapping[str, float | None]], choice: Mapping[str, Any]) -> str:
    cols = ("vessel_recovery", "correlation_mean", "correlation_worst", "ratio_geo_mean", "ratio_worst",
            "structure_mean_db", "structure_worst_db", "blob_ratio", "dark_ratio")
    lines = ["| candidate | " + " | ".join(cols) + " | eligible |", "|---" * (len(cols) + 2) + "|"]
    for name, m in figures.items():
        row = choice["candidates"].get(name)
        verdict = "reference" if name == choice.get("reference") else (
            "**chosen**" if name == choice.get("chosen") else ("yes" if row and row["eligible"] else
                                                             "no: " + "; ".join(row["failures"]) if row else ""))
        lines.append(f"| {name} | " + " | ".join(_fmt(m.get(c)) for c in cols) + f" | {verdict} |")
    return "\n".join(lines) + "\n"


def worst_photos(real: Mapping[str, Any], name: str, n: int = 3) -> dict[str, list[tuple[str, float]]]:
    """A candidate's `n` worst real photos by band-pass correlation, by vessel contrast ratio (lowest
    first) and by lesion-like blob ratio (highest first: where the most dots were added)."""
    per = real["per_image"][name]
    corr = sorted((float(r["bandpass_correlation"]), i) for i, r in per.items())
    ratio = sorted((float(r["vessel_contrast_ratio"]), i) for i, r in per.items() if r["vessel_contrast_ratio"] is not None)
    blobs = sorted(((-float(r["blob_ratio"]), i) for i, r in per.items() if r.get("blob_ratio") is not None))
    return {"correlation": [(i, v) for v, i in corr[:n]], "ratio": [(i, v) for v, i in ratio[:n]],
            "blobs": [(i, -v) for v, i in blobs[:n]]}


def snapshot_names(paths: Sequence[Path]) -> dict[str, Path]:
    """step-000120.safetensors -> "step 120", in step order."""
    out = {}
    for p in sorted(paths, key=lambda q: q.stem):
        step = p.stem.split("-")[-1]
        out[f"step {int(step)}" if step.isdigit() else p.stem] = p
    return out
