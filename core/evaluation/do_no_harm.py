"""The do-no-harm tables of the evaluation protocol (issue 15, MAGE-NET.md section 6).

* photometric (a): clean photos of core.data.splits.photometric_test at the 512 px working
  FOV, each given only a seeded global shift (exposure, gamma, white balance); structure PSNR
  (after the best per-channel affine fit) and plain PSNR of each method's output against the
  clean photo: mean, worst and the worst photo, per population (HEI-MED race) and per dataset.
* real (b): the fixed real-photo subset (core.data.splits.real_subset) at 512: band-pass
  correlation of output vs input, and the vessel Weber contrast ratio output / input at the
  input's vessel pixels (geometric means; low-quality and normal photos apart).
* lesions (c): lesion-like blob counts output / input on the photometric and real photos.
* guard: each model's guard score (core.imaging.measures.guard_score) on its photometric
  outputs, calibrated against their structure PSNR (the threshold that goes on the model card).

Every measure comes from core.imaging.measures, the module the Enhancer's guard, shipping and
the site verdict use, so the tables and those checks cannot drift apart.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import cv2
import numpy as np

from core.data.sources import SourceSpec, at_scale, load_source
from core.errors import FundusError
from core.evaluation.contact_sheet import make_contact_sheet, save_png
from core.evaluation.metrics import psnr
from core.imaging import measures as M
from core.progress import ProgressCallback, StopCallback, check_stop, report

EnhanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

PHOTOMETRIC_SEED = 2026
EXPOSURE_RANGES = ((0.45, 0.8), (1.1, 1.3))
"""Exposure gain: darker or brighter, never near 1 (uniform over the union of the two ranges)."""
GAMMA_RANGE = (0.85, 1.25)
GREEN_RANGE = (0.75, 1.05)
BLUE_RANGE = (0.6, 1.1)
MIN_CELL = 5
"""A population or dataset cell with fewer photos prints its count only."""
SHEET_SIDE = 256
"""Kept example images (contact sheets) are stored at this size, 8-bit."""
LESION_CROP = 128
"""Side of the IDRiD lesion crops at the 512 px working FOV."""


@dataclass
class EvalPhoto:
    """One photo of a do-no-harm table, its FOV square at the working size."""

    id: str
    rgb: np.ndarray  # float32 S x S x 3 in [0, 1], zero outside the FOV
    fov: np.ndarray  # bool S x S
    dataset: str = ""
    population: str | None = None
    stratum: str | None = None
    quality: str | None = None


def load_split(photos: Sequence[Any], size: int = 512, limit: int | None = None) -> tuple[list[EvalPhoto], list[str]]:
    """The split's photos (core.data.splits.SplitPhoto) framed as the Enhancer frames them and resized so
    the FOV square is `size` px; returns (photos, ids left out because they are missing or have no FOV)."""

    out: list[EvalPhoto] = []
    skipped: list[str] = []
    for p in list(photos)[: limit or None]:
        if not Path(p.image).exists():
            skipped.append(p.id)
            continue
        try:
            src = load_source(SourceSpec(p.id, Path(p.image), p.mask), None, max_side=max(size, 64))
            rgb, fov, _ = at_scale(src, size)
        except (FundusError, ValueError, OSError):
            skipped.append(p.id)
            continue
        if fov.mean() < 0.05:
            skipped.append(p.id)
            continue
        out.append(EvalPhoto(p.id, rgb, fov, p.dataset, p.population, p.stratum, p.quality))
    return out, skipped


# ----------------------------------------------------------------------------- the photometric shift


def photometric_params(image_id: str) -> dict[str, float]:
    """The fixed global shift of one photo: a pure function of its id and PHOTOMETRIC_SEED."""
    seed = (zlib.crc32(f"{image_id}|photometric".encode()) + PHOTOMETRIC_SEED) % (2**31 - 1)
    rng = np.random.default_rng(seed)
    (a0, a1), (b0, b1) = EXPOSURE_RANGES
    u = rng.uniform(0.0, (a1 - a0) + (b1 - b0))
    exposure = a0 + u if u < a1 - a0 else b0 + (u - (a1 - a0))
    return {
        "exposure": float(exposure),
        "gamma": float(rng.uniform(*GAMMA_RANGE)),
        "green": float(rng.uniform(*GREEN_RANGE)),
        "blue": float(rng.uniform(*BLUE_RANGE)),
    }


def apply_photometric(clean: np.ndarray, fov: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """clip(exposure * white balance * clean ** gamma) inside the FOV, rounded through 8 bits (as on disk)."""
    wb = np.array([1.0, params["green"], params["blue"]], np.float32) * np.float32(params["exposure"])
    out = np.power(np.clip(clean, 0.0, 1.0), np.float32(params["gamma"])) * wb
    out = np.clip(out, 0.0, 1.0) * fov[..., None]
    return (np.rint(out * 255.0) / 255.0).astype(np.float32)


# ----------------------------------------------------------------------------- summaries


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _mean_worst(per: Mapping[str, float | None], lower_is_worse: bool = True) -> dict[str, Any]:
    """{"mean", "worst", "worst_image", "n"} over the finite values of {image id: value}."""
    items = [(k, float(v)) for k, v in per.items() if v is not None and math.isfinite(float(v))]
    if not items:
        return {"mean": None, "worst": None, "worst_image": None, "n": 0}
    k, v = (min if lower_is_worse else max)(items, key=lambda kv: kv[1])
    return {"mean": float(np.mean([x for _, x in items])), "worst": v, "worst_image": k, "n": len(items)}


def _geo_mean(values: Sequence[float]) -> float | None:
    v = [x for x in _finite(values) if x > 0]
    return float(math.exp(np.mean(np.log(v)))) if v else None


def _cells(per: Mapping[str, float], groups: Mapping[str, str | None]) -> dict[str, Any]:
    """Mean per group; a group with fewer than MIN_CELL photos gets its count only (mean None)."""
    by: dict[str, list[float]] = {}
    for k, v in per.items():
        g = groups.get(k)
        if g is not None and v is not None and math.isfinite(v):
            by.setdefault(g, []).append(float(v))
    return {g: {"n": len(v), "mean": float(np.mean(v)) if len(v) >= MIN_CELL else None,
                "worst": float(np.min(v)) if len(v) >= MIN_CELL else None} for g, v in sorted(by.items())}


def _thumb(img: np.ndarray) -> np.ndarray:
    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    if u8.shape[0] == SHEET_SIDE:
        return u8
    return cv2.resize(u8, (SHEET_SIDE, SHEET_SIDE), interpolation=cv2.INTER_AREA)


def _lesion_window(clean: np.ndarray, fov: np.ndarray) -> tuple[int, int, int] | None:
    """(top, left, blobs) of the LESION_CROP window holding the most lesion-like blobs of the clean photo."""
    dark, bright = M.blob_points(clean, fov)
    pts = np.concatenate([dark, bright])
    if len(pts) == 0:
        return None
    h, w = fov.shape
    c = min(LESION_CROP, h, w)
    density = np.zeros((h, w), np.float32)
    density[pts[:, 0], pts[:, 1]] = 1.0
    box = cv2.boxFilter(density, -1, (c, c), normalize=False, borderType=cv2.BORDER_CONSTANT)
    y, x = np.unravel_index(int(np.argmax(box)), box.shape)
    top, left = int(np.clip(y - c // 2, 0, h - c)), int(np.clip(x - c // 2, 0, w - c))
    return top, left, int(round(float(box[y, x])))


# ----------------------------------------------------------------------------- (a) photometric


def photometric_table(
    photos: Sequence[EvalPhoto],
    methods: Mapping[str, EnhanceFn],
    models: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    keep_examples: Sequence[str] = ("clahe_lab",),
) -> dict[str, Any]:
    """Table (a) plus what the lesion table and the guard need from the same outputs.

    Returns {"images", "params", "groups": {"population", "dataset"}, "rows": {method: {...}},
    "per_image": {method: {id: {...}}}, "examples": {...}} (examples are stripped before JSON).
    """
    per: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in methods}
    params: dict[str, dict[str, float]] = {}
    examples: dict[str, dict[str, np.ndarray]] = {}
    lesion_crops: dict[str, dict[str, Any]] = {}
    shown = [m for m in methods if m in models or m in keep_examples]
    for k, ph in enumerate(photos):
        check_stop(should_stop)
        report(progress, k, len(photos), f"photometric {ph.id}")
        p = photometric_params(ph.id)
        params[ph.id] = p
        shifted = apply_photometric(ph.rgb, ph.fov, p)
        blobs_in = M.blob_counts(shifted, ph.fov)
        examples[ph.id] = {"input": _thumb(shifted), "clean": _thumb(ph.rgb)}
        window = _lesion_window(ph.rgb, ph.fov) if ph.dataset == "idrid" else None
        if window is not None:
            t, l, n = window
            sl = (slice(t, t + LESION_CROP), slice(l, l + LESION_CROP))
            lesion_crops[ph.id] = {"blobs": n, "clean": _thumb_crop(ph.rgb[sl]), "input": _thumb_crop(shifted[sl])}
        for name, fn in methods.items():
            out = np.clip(fn(shifted, ph.fov), 0.0, 1.0) * ph.fov[..., None]
            blobs_out = M.blob_counts(out, ph.fov)
            rec: dict[str, Any] = {
                "structure_psnr": M.structure_psnr(out, ph.rgb, ph.fov),
                "psnr": psnr(out, ph.rgb, ph.fov),
                "blobs_in": [blobs_in.dark, blobs_in.bright],
                "blobs_out": [blobs_out.dark, blobs_out.bright],
                "blob_ratio": (blobs_out.total + 1) / (blobs_in.total + 1),
            }
            if name in models:
                rec["guard"] = M.guard_score(shifted, out, ph.fov)
            per[name][ph.id] = rec
            if name in shown:
                examples[ph.id][name] = _thumb(out)
                if window is not None:
                    lesion_crops[ph.id][name] = _thumb_crop(out[sl])
        report(progress, k + 1, len(photos), f"photometric {ph.id}")
    groups = {"population": {ph.id: ph.population for ph in photos},
              "dataset": {ph.id: ph.dataset for ph in photos}}
    rows: dict[str, Any] = {}
    for name in methods:
        sp = {i: r["structure_psnr"] for i, r in per[name].items()}
        pl = {i: r["psnr"] for i, r in per[name].items()}
        rows[name] = {
            "structure_psnr": _mean_worst(sp),
            "psnr": _mean_worst(pl),
            "by_population": {"structure_psnr": _cells(sp, groups["population"]),
                              "psnr": _cells(pl, groups["population"])},
            "by_dataset": {"structure_psnr": _cells(sp, groups["dataset"]), "psnr": _cells(pl, groups["dataset"])},
        }
    return {"images": [ph.id for ph in photos], "params": params, "groups": groups, "rows": rows,
            "per_image": per, "examples": examples, "lesion_crops": lesion_crops}


def _thumb_crop(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------- (b) real photos


def real_table(
    photos: Sequence[EvalPhoto],
    methods: Mapping[str, EnhanceFn],
    models: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    keep_examples: Sequence[str] = ("clahe_lab",),
) -> dict[str, Any]:
    """Table (b): band-pass correlation and vessel contrast ratio of each method on the real subset.

    Returns {"images", "strata", "rows": {method: {...}}, "per_image": {method: {id: {...}}}, "examples"}.
    """
    per: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in methods}
    examples: dict[str, dict[str, np.ndarray]] = {}
    input_contrast: dict[str, float] = {}
    shown = [m for m in methods if m in models or m in keep_examples]
    for k, ph in enumerate(photos):
        check_stop(should_stop)
        report(progress, k, len(photos), f"real fidelity {ph.id}")
        vessels = M.vessel_pixels(ph.rgb, ph.fov)
        c_in = M.weber_vessel_contrast(ph.rgb, ph.fov, vessels)
        input_contrast[ph.id] = c_in
        blobs_in = M.blob_counts(ph.rgb, ph.fov)
        examples[ph.id] = {"input": _thumb(ph.rgb)}
        for name, fn in methods.items():
            out = np.clip(fn(ph.rgb, ph.fov), 0.0, 1.0) * ph.fov[..., None]
            blobs_out = M.blob_counts(out, ph.fov)
            ratio = (M.weber_vessel_contrast(out, ph.fov, vessels) / c_in) if c_in >= M.MIN_INPUT_CONTRAST else None
            rec: dict[str, Any] = {
                "bandpass_correlation": M.bandpass_correlation(ph.rgb, out, ph.fov),
                "vessel_contrast_ratio": ratio,
                "blobs_in": [blobs_in.dark, blobs_in.bright],
                "blobs_out": [blobs_out.dark, blobs_out.bright],
                "blob_ratio": (blobs_out.total + 1) / (blobs_in.total + 1),
            }
            if name in models:
                rec["guard"] = M.guard_score(ph.rgb, out, ph.fov)
            per[name][ph.id] = rec
            if name in shown:
                examples[ph.id][name] = _thumb(out)
        report(progress, k + 1, len(photos), f"real fidelity {ph.id}")
    strata = {ph.id: {"stratum": ph.stratum, "quality": ph.quality, "dataset": ph.dataset} for ph in photos}
    rows: dict[str, Any] = {}
    for name in methods:
        corr = {i: r["bandpass_correlation"] for i, r in per[name].items()}
        ratio = {i: r["vessel_contrast_ratio"] for i, r in per[name].items() if r["vessel_contrast_ratio"] is not None}
        by_quality = {}
        for q in sorted({s["quality"] for s in strata.values() if s["quality"]}):
            vals = [v for i, v in ratio.items() if strata[i]["quality"] == q]
            by_quality[q] = {"n": len(vals), "geo_mean": _geo_mean(vals),
                             "min": float(min(vals)) if vals else None}
        by_stratum = {}
        for st in sorted({s["stratum"] for s in strata.values() if s["stratum"]}):
            ids = [i for i in corr if strata[i]["stratum"] == st]
            by_stratum[st] = {"n": len(ids), "correlation_mean": float(np.mean([corr[i] for i in ids])) if ids else None,
                              "ratio_geo_mean": _geo_mean([ratio[i] for i in ids if i in ratio])}
        ratio_worst = _mean_worst(ratio)
        rows[name] = {
            "bandpass_correlation": _mean_worst(corr),
            "vessel_contrast_ratio": {
                "geo_mean": _geo_mean(list(ratio.values())),
                "worst": ratio_worst["worst"],
                "worst_image": ratio_worst["worst_image"],
                "n": len(ratio),
                "skipped": len(corr) - len(ratio),
                "by_quality": by_quality,
            },
            "by_stratum": by_stratum,
        }
    return {"images": [ph.id for ph in photos], "strata": strata, "input_vessel_contrast": input_contrast,
            "rows": rows, "per_image": per, "examples": examples}


# ----------------------------------------------------------------------------- (c) lesions, guard


def lesion_table(photometric: Mapping[str, Any] | None, real: Mapping[str, Any] | None) -> dict[str, Any]:
    """Table (c): blob count output / input (+1 smoothed) per method: geometric mean, worst (highest)
    photo, and the dark / bright totals over each set."""
    rows: dict[str, Any] = {}
    for set_name, table in (("photometric", photometric), ("real", real)):
        if not table:
            continue
        for name, per in table["per_image"].items():
            ratios = {i: r["blob_ratio"] for i, r in per.items()}
            worst = _mean_worst(ratios, lower_is_worse=False)
            d_in = sum(r["blobs_in"][0] for r in per.values())
            b_in = sum(r["blobs_in"][1] for r in per.values())
            d_out = sum(r["blobs_out"][0] for r in per.values())
            b_out = sum(r["blobs_out"][1] for r in per.values())
            rows.setdefault(name, {})[set_name] = {
                "geo_mean": _geo_mean(list(ratios.values())),
                "worst": worst["worst"],
                "worst_image": worst["worst_image"],
                "n": worst["n"],
                "dark_ratio": (d_out + 1) / (d_in + 1),
                "bright_ratio": (b_out + 1) / (b_in + 1),
            }
    return {"rows": rows}


def guard_calibration(photometric: Mapping[str, Any], real: Mapping[str, Any] | None,
                      models: Sequence[str]) -> dict[str, Any]:
    """Each model's guard threshold from its photometric outputs (core.imaging.measures.calibrate_guard),
    plus the share of its real-photo outputs that threshold would flag."""
    out: dict[str, Any] = {}
    for name in models:
        per = photometric["per_image"].get(name) or {}
        ids = [i for i, r in per.items() if "guard" in r]
        cal = M.calibrate_guard([per[i]["guard"] for i in ids], [per[i]["structure_psnr"] for i in ids])
        cal["side"] = M.GUARD_SIDE
        t = cal["threshold"]
        if real and t is not None:
            rs = [r["guard"] for r in (real["per_image"].get(name) or {}).values() if "guard" in r]
            cal["real_flag_rate"] = float(np.mean([g < t for g in rs])) if rs else None
            cal["real_n"] = len(rs)
        out[name] = cal
    return out


TARGETS = {
    "photometric_structure_psnr_mean_db": 36.0,
    "photometric_structure_psnr_worst_db": 30.0,
    "photometric_population_mean_db": 34.0,
    "real_correlation_mean": 0.92,
    "real_correlation_worst": 0.75,
    "vessel_ratio_low_quality_geo_mean": 1.3,
    "vessel_ratio_min": 0.9,
    "vessel_ratio_normal_range": (0.95, 1.3),
    "blob_ratio_max": 1.1,
}
"""Issue 15's targets for the model that ships (met by the structured MAGE-Net, reported for every model)."""


def targets(dnh: Mapping[str, Any], models: Sequence[str]) -> dict[str, Any]:
    """Each model's do-no-harm figures against TARGETS: {model: {measure: value, "meets_...": bool}}."""
    out: dict[str, Any] = {}
    ph, rl, le = dnh.get("photometric"), dnh.get("real"), (dnh.get("lesions") or {}).get("rows") or {}
    for name in models:
        t: dict[str, Any] = {}
        if ph and name in ph["rows"]:
            r = ph["rows"][name]
            t["photometric_structure_psnr_mean_db"] = r["structure_psnr"]["mean"]
            t["photometric_structure_psnr_worst_db"] = r["structure_psnr"]["worst"]
            pops = {k: c["mean"] for k, c in r["by_population"]["structure_psnr"].items() if c["mean"] is not None}
            t["photometric_population_means_db"] = pops
            t["meets_photometric_mean"] = _ge(t["photometric_structure_psnr_mean_db"], TARGETS["photometric_structure_psnr_mean_db"])
            t["meets_photometric_worst"] = _ge(t["photometric_structure_psnr_worst_db"], TARGETS["photometric_structure_psnr_worst_db"])
            t["meets_every_population"] = all(v >= TARGETS["photometric_population_mean_db"] for v in pops.values())
        if rl and name in rl["rows"]:
            r = rl["rows"][name]
            bq = r["vessel_contrast_ratio"]["by_quality"]
            t["real_correlation_mean"] = r["bandpass_correlation"]["mean"]
            t["real_correlation_worst"] = r["bandpass_correlation"]["worst"]
            t["vessel_ratio_low_quality_geo_mean"] = (bq.get("low") or {}).get("geo_mean")
            t["vessel_ratio_normal_geo_mean"] = (bq.get("normal") or {}).get("geo_mean")
            t["vessel_ratio_min"] = r["vessel_contrast_ratio"]["worst"]
            t["meets_correlation_mean"] = _ge(t["real_correlation_mean"], TARGETS["real_correlation_mean"])
            t["meets_correlation_worst"] = _ge(t["real_correlation_worst"], TARGETS["real_correlation_worst"])
            t["meets_vessel_ratio_low_quality"] = _ge(t["vessel_ratio_low_quality_geo_mean"], TARGETS["vessel_ratio_low_quality_geo_mean"])
            t["meets_vessel_ratio_min"] = _ge(t["vessel_ratio_min"], TARGETS["vessel_ratio_min"])
            lo, hi = TARGETS["vessel_ratio_normal_range"]
            n = t["vessel_ratio_normal_geo_mean"]
            t["meets_vessel_ratio_normal"] = n is not None and lo <= n <= hi
        if name in le:
            worst = max((x["geo_mean"] for x in le[name].values() if x.get("geo_mean") is not None), default=None)
            t["blob_ratio_geo_mean_highest_set"] = worst
            t["meets_blob_ratio"] = _ge(TARGETS["blob_ratio_max"], worst) if worst is not None else False
        out[name] = t
    return out


def _ge(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and float(a) >= float(b)


def run_do_no_harm(
    methods: Mapping[str, EnhanceFn],
    models: Sequence[str],
    photometric_photos: Sequence[EvalPhoto] | None,
    real_photos: Sequence[EvalPhoto] | None,
    skipped: Mapping[str, Sequence[str]] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> dict[str, Any]:
    """All do-no-harm tables for one report: {"photometric", "real", "lesions", "guard", "skipped_photos"}."""
    out: dict[str, Any] = {"photometric": None, "real": None}
    if photometric_photos:
        out["photometric"] = photometric_table(photometric_photos, methods, models, progress, should_stop)
    if real_photos:
        out["real"] = real_table(real_photos, methods, models, progress, should_stop)
    out["lesions"] = lesion_table(out["photometric"], out["real"])
    out["guard"] = guard_calibration(out["photometric"], out["real"], models) if out["photometric"] else {}
    out["skipped_photos"] = {k: list(v) for k, v in (skipped or {}).items()}
    out["targets"] = targets(out, models)
    return out


def strip(dnh: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The do-no-harm block without example images (for JSON)."""
    if not dnh:
        return dnh  # type: ignore[return-value]
    out = dict(dnh)
    for key in ("photometric", "real"):
        if out.get(key):
            out[key] = {k: v for k, v in out[key].items() if k not in ("examples", "lesion_crops")}
    return out


# ----------------------------------------------------------------------------- markdown


def _f(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, (float, np.floating)):
        return "nan" if not math.isfinite(float(v)) else f"{float(v):.{nd}f}"
    return str(v)


def _cell_text(cell: Mapping[str, Any] | None, nd: int = 1) -> str:
    if not cell:
        return "-"
    if cell.get("mean") is None:
        return f"(n={cell['n']})"
    return f"{_f(cell['mean'], nd)} / {_f(cell['worst'], nd)} (n={cell['n']})"


def markdown(dnh: Mapping[str, Any]) -> list[str]:
    """The do-no-harm tables as Markdown lines (appended to the protocol's report)."""
    lines: list[str] = []
    ph = dnh.get("photometric")
    if ph:
        lines += ["", f"## Do no harm (a): photometric shifts of clean photos ({len(ph['images'])} photos, 512 px FOV)",
                  "", "Each clean photo gets only a seeded global exposure / gamma / white-balance shift; structure "
                  "PSNR is the PSNR after the best per-channel gain and offset (a colour difference costs nothing, "
                  "a painted patch or an erased macula does). dB, absolute.", "",
                  "| method | structure PSNR mean | worst | worst photo | PSNR mean | worst | worst photo |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in ph["rows"].items():
            s, p = r["structure_psnr"], r["psnr"]
            lines.append(f"| {name} | {_f(s['mean'])} | {_f(s['worst'])} | {s['worst_image']} | {_f(p['mean'])} | "
                         f"{_f(p['worst'])} | {p['worst_image']} |")
        for group, title in (("by_population", "population (HEI-MED race)"), ("by_dataset", "dataset / camera")):
            keys: list[str] = []
            for r in ph["rows"].values():
                keys += [k for k in r[group]["structure_psnr"] if k not in keys]
            if not keys:
                continue
            lines += ["", f"Structure PSNR by {title}: mean / worst (n); a cell with fewer than {MIN_CELL} photos "
                      "shows its count only:", "", "| method | " + " | ".join(keys) + " |",
                      "|---|" + "---|" * len(keys)]
            for name, r in ph["rows"].items():
                cells = r[group]["structure_psnr"]
                lines.append(f"| {name} | " + " | ".join(_cell_text(cells.get(k)) for k in keys) + " |")
    rl = dnh.get("real")
    if rl:
        lines += ["", f"## Do no harm (b): real-photo structure fidelity ({len(rl['images'])} photos of the fixed "
                  "real subset, 512 px FOV)", "",
                  "Band-pass correlation of output vs input at 1.5-6 % of the FOV diameter (1 = same anatomy-scale "
                  "structure); vessel contrast ratio = Weber contrast of output / input at the input's vessel "
                  "pixels (geometric mean; > 1: vessels stand out more). Low quality: EyeQ, cataract severity >= 3; "
                  "normal: CSDI NL_*, cataract 0-2.", "",
                  "| method | correlation mean | worst | worst photo | ratio (geo mean) | worst | worst photo | "
                  "low quality | normal | skipped |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in rl["rows"].items():
            c, v = r["bandpass_correlation"], r["vessel_contrast_ratio"]
            bq = v["by_quality"]
            lines.append(
                f"| {name} | {_f(c['mean'], 3)} | {_f(c['worst'], 3)} | {c['worst_image']} | {_f(v['geo_mean'], 3)} | "
                f"{_f(v['worst'], 3)} | {v['worst_image']} | {_f((bq.get('low') or {}).get('geo_mean'), 3)} | "
                f"{_f((bq.get('normal') or {}).get('geo_mean'), 3)} | {v['skipped']} |")
        strata: list[str] = []
        for r in rl["rows"].values():
            strata += [k for k in r["by_stratum"] if k not in strata]
        lines += ["", "By stratum (correlation mean / ratio geometric mean):", "",
                  "| method | " + " | ".join(strata) + " |", "|---|" + "---|" * len(strata)]
        for name, r in rl["rows"].items():
            bs = r["by_stratum"]
            lines.append(f"| {name} | " + " | ".join(
                f"{_f(bs[s]['correlation_mean'], 3)} / {_f(bs[s]['ratio_geo_mean'], 2)}" if s in bs else "-"
                for s in strata) + " |")
    le = (dnh.get("lesions") or {}).get("rows") or {}
    if le:
        lines += ["", "## Do no harm (c): lesion-like blobs, output / input", "",
                  "Small dark (microaneurysm-like) and bright (exudate-like) blobs of 0.3-1 % of the FOV diameter; "
                  "(count out + 1) / (count in + 1) per photo, geometric mean, and the highest photo (target <= 1.1).", "",
                  "| method | photometric | highest | photo | dark / bright | real | highest | photo | dark / bright |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, r in le.items():
            cells = []
            for s in ("photometric", "real"):
                x = r.get(s)
                cells += ([_f(x["geo_mean"], 3), _f(x["worst"], 2), str(x["worst_image"]),
                           f"{_f(x['dark_ratio'], 2)} / {_f(x['bright_ratio'], 2)}"] if x else ["-"] * 4)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    gd = dnh.get("guard") or {}
    if gd:
        lines += ["", f"## Guard calibration (band-pass correlation of output vs input at a {M.GUARD_SIDE} px FOV)", "",
                  "Threshold: the highest score that flags at most 5 % of the photometric outputs with structure "
                  "PSNR >= 36 dB; catch rate: the share of outputs < 30 dB it flags.", "",
                  "| model | threshold | good flagged | catch rate | bad caught | real photos flagged |",
                  "|---|---|---|---|---|---|"]
        for name, g in gd.items():
            lines.append(f"| {name} | {_f(g['threshold'], 3)} | {g['n_good_flagged']} / {g['n_good']} | "
                         f"{_f(g['catch_rate'], 3)} | {g['n_bad_caught']} / {g['n_bad']} | "
                         f"{_f(g.get('real_flag_rate'), 3)} |")
    sk = {k: v for k, v in (dnh.get("skipped_photos") or {}).items() if v}
    if sk:
        lines += ["", "Left out (missing or no usable FOV): " + "; ".join(f"{k}: {', '.join(v)}" for k, v in sk.items())]
    return lines


def contact_sheets(dnh: Mapping[str, Any], models: Sequence[str], out_dir: Path, n_rows: int = 8) -> list[Path]:
    """Sheets: photometric cases worst first (input | models | CLAHE-L* | clean), the six worst real photos
    by correlation (input | models | CLAHE-L*), and IDRiD crops around lesion-like blobs."""

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    first = models[0] if models else None
    ph = dnh.get("photometric")
    if ph and ph.get("examples"):
        key = first or "degraded input"
        order = sorted(ph["per_image"][key], key=lambda i: ph["per_image"][key][i]["structure_psnr"])[:n_rows]
        cols = ["input", *models, "clahe_lab", "clean"]
        rows = [[ph["examples"][i].get(c) for c in cols] for i in order]
        labels = [f"{i} {ph['per_image'][key][i]['structure_psnr']:.1f} dB" for i in order]
        sheet = make_contact_sheet(rows, labels, cols, cell=256,
                                   title=f"Photometric do-no-harm, worst first by structure PSNR ({key})")
        p = out_dir / "contact_photometric.png"
        save_png(p, sheet)
        written.append(p)
    rl = dnh.get("real")
    if rl and rl.get("examples"):
        key = first or "clahe_lab"
        order = sorted(rl["per_image"][key], key=lambda i: rl["per_image"][key][i]["bandpass_correlation"])[:6]
        cols = ["input", *models, "clahe_lab"]
        rows = [[rl["examples"][i].get(c) for c in cols] for i in order]
        labels = [f"{i} r={rl['per_image'][key][i]['bandpass_correlation']:.2f}" for i in order]
        sheet = make_contact_sheet(rows, labels, cols, cell=256,
                                   title=f"Real photos, the six worst by band-pass correlation ({key})")
        p = out_dir / "contact_real_fidelity.png"
        save_png(p, sheet)
        written.append(p)
    crops = (ph or {}).get("lesion_crops") or {}
    if crops:
        order = sorted(crops, key=lambda i: -crops[i]["blobs"])[:n_rows]
        cols = ["clean", "input", *models, "clahe_lab"]
        rows = [[crops[i].get(c) for c in cols] for i in order]
        sheet = make_contact_sheet(rows, [f"{i} ({crops[i]['blobs']} blobs)" for i in order], cols, cell=192,
                                   title="IDRiD lesion crops (128 px at the 512 px FOV)")
        p = out_dir / "contact_lesions.png"
        save_png(p, sheet)
        written.append(p)
    return written
