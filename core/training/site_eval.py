"""Is the adapted model better than the one it started from, on this site's own held-out photos?

The held-out photos have no clean counterpart, so the real low-quality measures of
the evaluation protocol (MAGE-NET.md section 5, core.evaluation.noref) are used,
each on the output of the full Enhancer (fast mode, what the clinician sees):

* illumination uniformity, vessel contrast-to-noise, sharpness: higher is better;
* colour shift from the input photo: lower is better;
* vessel-map stability (when a vessel model is installed): the photo and a mildly
  perturbed copy (brightness, gamma, sensor noise; fixed seed per photo) are
  enhanced and segmented; Dice between the two vessel maps. An enhancer whose
  vessels come and go with small camera changes cannot be trusted. Higher is better.

* do no harm (core.imaging.measures, issue 15), output against the photo as taken, at the
  working resolution: the band-pass luminance correlation (did the vessels, macula and disc
  stay where they were, without painted patches?) and the vessel Weber contrast ratio.

Each measure gets a plain verdict, better / same / worse, by comparing the mean over
the held-out photos with a tolerance (relative for the open-ended measures, absolute
for colour shift, stability and the band-pass correlation), so noise-sized differences
read as "same". One "worse" makes the whole evaluation worse, whatever the other numbers:
in particular a band-pass correlation lower by more than 0.02, or a vessel contrast ratio
lower by more than 5 %. Such a model is flagged and is never made active without an
explicit choice. With fewer than MIN_CONCLUSIVE held-out photos the overall verdict is
"inconclusive" (the measures are still shown; a measure that got worse still needs the
explicit choice).

The adapted model also gets its own guard threshold (core.guard): its outputs on seeded
photometric shifts of the held-out photos (evaluate's own shift, core.evaluation.do_no_harm:
exposure x0.45-0.8 or x1.1-1.3, gamma 0.85-1.25, green x0.75-1.05, blue x0.6-1.1) are scored by the guard and by
their structure PSNR *against the unshifted photo itself* (evaluate's photometric table,
where the unshifted photo plays the clean one), and core.imaging.measures.calibrate_guard
picks the threshold. The photo, not the output on the unshifted photo, is the reference,
so that a model that damages every photo the same way is not calibrated into accepting it.
Without any output of >= 36 dB the starting model's threshold is kept (and the card says so).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from torch import nn

from core.enhance import Enhancer, EnhanceSettings
from core.errors import FundusError
from core.evaluation.do_no_harm import apply_photometric, photometric_params
from core.evaluation.noref import measure_all
from core.guard import DEFAULT_GUARD_THRESHOLD, card_guard
from core.imaging import measures as M
from core.imaging import read
from core.imaging.fov import detect_fov
from core.imaging.types import FundusImage
from core.models.registry import ModelRegistry
from core.progress import ProgressCallback, StopCallback, check_stop, report
from core.vessels import VesselSegmenter


@dataclass(frozen=True)
class MeasureSpec:
    key: str
    label: str
    higher_is_better: bool
    tolerance: float
    relative: bool
    """True: tolerance is a fraction of the starting model's value; False: in the measure's own units."""


MEASURES: tuple[MeasureSpec, ...] = (
    MeasureSpec("illumination_uniformity", "Illumination uniformity", True, 0.01, True),
    MeasureSpec("vessel_cnr", "Vessel contrast-to-noise", True, 0.02, True),
    MeasureSpec("sharpness", "Sharpness", True, 0.02, True),
    MeasureSpec("colour_shift", "Colour shift from the photo (CIELAB)", False, 0.5, False),
    MeasureSpec("vessel_stability", "Vessel-map stability (Dice)", True, 0.01, False),
    MeasureSpec("bandpass_correlation", "Structure kept (band-pass correlation)", True, 0.02, False),
    MeasureSpec("vessel_contrast_ratio", "Vessel contrast ratio (output / photo)", True, 0.05, True),
)
MIN_CONCLUSIVE = 5
"""Fewer held-out photos than this make the overall verdict "inconclusive"."""
GUARD_SHIFTS_TARGET = 24
"""Photometric shifts for the guard recalibration, spread over the held-out photos (at least 2 each)."""

SPECS = {m.key: m for m in MEASURES}
VERDICTS = ("better", "same", "worse", "inconclusive")


@dataclass
class MeasureResult:
    """One measure: means over the held-out photos (input, starting model, adapted) and the verdict."""

    key: str
    label: str
    higher_is_better: bool
    input: float | None
    starting: float
    adapted: float
    change: float
    """adapted - starting."""
    tolerance: float
    """Absolute tolerance used (relative ones already scaled)."""
    verdict: str
    photos_better: int
    photos_worse: int


@dataclass
class PreviewSet:
    """Before/after of one held-out photo (uint8 RGB, small)."""

    name: str
    original: np.ndarray
    starting: np.ndarray
    adapted: np.ndarray


@dataclass
class SiteEvaluation:
    measures: list[MeasureResult]
    photos: list[str]
    starting_model: str
    notes: list[str] = field(default_factory=list)
    previews: list[PreviewSet] = field(default_factory=list)
    guard: dict[str, Any] | None = None
    """The adapted model's guard calibration (calibrate_guard output + how it was made), or None."""

    @property
    def conclusive(self) -> bool:
        return len(self.photos) >= MIN_CONCLUSIVE

    @property
    def overall(self) -> str:
        """"inconclusive" below MIN_CONCLUSIVE photos; else "worse" if any measure is, whatever the others."""
        if not self.conclusive:
            return "inconclusive"
        verdicts = [m.verdict for m in self.measures]
        if "worse" in verdicts:
            return "worse"
        return "better" if "better" in verdicts else "same"

    @property
    def worse(self) -> bool:
        return self.overall == "worse"

    @property
    def needs_confirmation(self) -> bool:
        """Worse, or inconclusive with a measure that got worse: activated only by an explicit choice."""
        return self.worse or (not self.conclusive and any(m.verdict == "worse" for m in self.measures))

    @property
    def explanation(self) -> str:
        """One sentence on the overall verdict, for the CLI and the wizard."""
        if not self.conclusive:
            return (f"only {len(self.photos)} held-out photo(s), at least {MIN_CONCLUSIVE} are needed for a verdict; "
                    "add photos to the site folder for a reliable check")
        if self.worse:
            bad = ", ".join(m.label.lower() for m in self.measures if m.verdict == "worse")
            return f"worse on: {bad}"
        return {"better": "better on at least one measure and worse on none",
                "same": "the same as the starting model (differences within tolerance)"}[self.overall]

    def by_key(self) -> dict[str, MeasureResult]:
        return {m.key: m for m in self.measures}

    def to_dict(self) -> dict[str, Any]:
        """What the model card stores (no pixels)."""
        return {
            "held_out_photos": len(self.photos),
            "photos": self.photos,
            "compared_with": self.starting_model,
            "verdict": self.overall,
            "conclusive": self.conclusive,
            "min_conclusive": MIN_CONCLUSIVE,
            "guard": self.guard,
            "measures": {m.key: {k: v for k, v in asdict(m).items() if k != "key"} for m in self.measures},
            "notes": list(self.notes),
            "method": "means over the held-out site photos, Enhancer fast mode; verdict by tolerance",
        }


def verdict(spec: MeasureSpec, starting: float, adapted: float) -> tuple[str, float]:
    """("better" | "same" | "worse", absolute tolerance) of one measure's means."""
    tol = spec.tolerance * max(abs(starting), 1e-9) if spec.relative else spec.tolerance
    diff = adapted - starting
    if abs(diff) <= tol:
        return "same", tol
    good = diff > 0 if spec.higher_is_better else diff < 0
    return ("better" if good else "worse"), tol


def perturbed(rgb: np.ndarray, fov: np.ndarray, seed: int) -> np.ndarray:
    """A mild camera-like change of a uint8 photo: brightness x0.9, gamma 1.1, noise sigma 1 % (inside the FOV)."""
    rng = np.random.default_rng([seed, 31])
    x = rgb.astype(np.float32) / 255.0
    x = np.clip(x * 0.9, 0, 1) ** 1.1
    x = x + rng.normal(0.0, 0.01, x.shape).astype(np.float32)
    x = np.clip(x, 0, 1) * fov[..., None]
    return (x * 255.0 + 0.5).astype(np.uint8)


def _dice(a: np.ndarray, b: np.ndarray, fov: np.ndarray) -> float:
    a, b = a & fov, b & fov
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def _small(rgb: np.ndarray, side: int = 384) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s >= 1.0:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def default_segmenter() -> Any:
    """The installed vessel model, or None (stability is then left out, with a note)."""

    installed = ModelRegistry().active("vessel")
    if installed is None:
        return None

    return VesselSegmenter(installed)


def evaluate_adaptation(
    photos: Sequence[str | Path],
    starting: nn.Module,
    adapted: nn.Module,
    segmenter: Any = None,
    working_size: int = 512,
    starting_name: str = "starting model",
    preview_count: int = 3,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    guard_shifts: int | None = None,
    fallback_guard: dict[str, Any] | None = None,
) -> SiteEvaluation:
    """Measure the starting and adapted models on the held-out photos and give each measure a verdict.

    guard_shifts: photometric shifts per photo for the adapted model's guard threshold (None: about
    GUARD_SHIFTS_TARGET in all, at least 2 per photo; 0: no recalibration). fallback_guard: the
    starting model's calibration, kept when no shifted output reaches the good level."""

    if not photos:
        raise FundusError("No held-out photos to evaluate on: hold out at least one site photo.")
    settings = EnhanceSettings(working_size=int(working_size))
    models = {"starting": Enhancer.from_module(starting, device="cpu", settings=settings),
              "adapted": Enhancer.from_module(adapted, device="cpu", settings=settings)}
    per: dict[str, dict[str, list[float]]] = {"input": {}, "starting": {}, "adapted": {}}
    used: list[str] = []
    previews: list[PreviewSet] = []
    notes: list[str] = []
    n = len(photos)
    if guard_shifts is None:
        guard_shifts = max(2, -(-GUARD_SHIFTS_TARGET // n))
    steps_per = (2 if segmenter is not None else 1) + (1 if guard_shifts else 0)
    guard_cases: list[tuple[float, float]] = []
    for i, path in enumerate(photos):
        check_stop(should_stop)
        report(progress, i * steps_per, n * steps_per, Path(path).name)
        try:
            img = read(path)
        except FundusError as exc:
            notes.append(f"{Path(path).name} left out: {exc}")
            continue
        px = img.pixels
        if img.bit_depth != 8:
            px = (px.astype(np.float32) * (255.0 / img.max_value) + 0.5).astype(np.uint8)
            img = FundusImage(pixels=px, bit_depth=8, source_sha256=img.source_sha256, source_path=img.source_path)
        try:
            fov = detect_fov(px).mask
        except FundusError as exc:
            notes.append(f"{Path(path).name} left out: {exc}")
            continue
        rgb = px.astype(np.float32) / 255.0
        outs: dict[str, np.ndarray] = {}
        per_photo = {"input": measure_all(rgb, fov)}
        small_in, small_fov = working_view(rgb, fov, working_size)
        for name, enh in models.items():
            check_stop(should_stop)
            outs[name] = enh.enhance(img).pixels
            per_photo[name] = measure_all(outs[name].astype(np.float32) / 255.0, fov, reference=rgb)
            per_photo[name].update(structure_measures(small_in, working_view(outs[name], fov, working_size)[0],
                                                      small_fov))
        if segmenter is not None:
            report(progress, i * steps_per + 1, n * steps_per, f"{Path(path).name}: vessel maps")
            noisy = FundusImage(pixels=perturbed(px, fov, i), bit_depth=8, source_sha256="0" * 64)
            for name, enh in models.items():
                check_stop(should_stop)
                a = segmenter.segment(outs[name], fov, should_stop=should_stop).binary
                b = segmenter.segment(enh.enhance(noisy).pixels, fov, should_stop=should_stop).binary
                per_photo[name]["vessel_stability"] = _dice(a, b, fov)
        if guard_shifts:
            report(progress, i * steps_per + steps_per - 1, n * steps_per, f"{Path(path).name}: guard calibration")
            guard_cases += guard_cases_for(models["adapted"], px, fov, Path(path).name, guard_shifts, working_size,
                                           should_stop)
        for name, vals in per_photo.items():
            for k, v in vals.items():
                per[name].setdefault(k, []).append(np.nan if v is None else float(v))
        used.append(Path(path).name)
        if len(previews) < preview_count:
            previews.append(PreviewSet(Path(path).name, _small(px), _small(outs["starting"]), _small(outs["adapted"])))
    report(progress, n * steps_per, n * steps_per, "evaluation finished")
    if not used:
        raise FundusError("None of the held-out photos could be evaluated.")
    if segmenter is None:
        notes.append("No vessel model is installed, so vessel-map stability was not measured.")
    results = []
    for spec in MEASURES:
        if spec.key not in per["adapted"]:
            continue
        s_vals, a_vals = np.asarray(per["starting"][spec.key]), np.asarray(per["adapted"][spec.key])
        ok = np.isfinite(s_vals) & np.isfinite(a_vals)  # the contrast ratio is undefined on vessel-less photos
        if not ok.any():
            notes.append(f"{spec.label} could not be measured on these photos.")
            continue
        if not ok.all():
            notes.append(f"{spec.label}: {int((~ok).sum())} photo(s) left out (no visible vessels on the photo).")
        s_vals, a_vals = s_vals[ok], a_vals[ok]
        s_mean, a_mean = float(s_vals.mean()), float(a_vals.mean())
        v, tol = verdict(spec, s_mean, a_mean)
        diff = a_vals - s_vals
        if not spec.higher_is_better:
            diff = -diff
        per_tol = tol if not spec.relative else spec.tolerance * np.maximum(np.abs(s_vals), 1e-9)
        inp = per["input"].get(spec.key)
        inp = None if inp is None else [v for v in inp if np.isfinite(v)] or None
        results.append(MeasureResult(
            spec.key, spec.label, spec.higher_is_better,
            None if inp is None else round(float(np.mean(inp)), 5),
            round(s_mean, 5), round(a_mean, 5), round(a_mean - s_mean, 5), round(float(tol), 5), v,
            int((diff > per_tol).sum()), int((diff < -per_tol).sum()),
        ))
    guard = calibrate_site_guard(guard_cases, fallback_guard) if guard_shifts else None
    ev = SiteEvaluation(results, used, starting_name, notes, previews, guard)
    if not ev.conclusive:
        notes.append(f"Only {len(used)} held-out photo(s): the overall verdict is inconclusive (at least "
                     f"{MIN_CONCLUSIVE} are needed).")
    return ev


def evaluate_run(run: Any, segmenter: Any = "default", progress: ProgressCallback | None = None,
                 should_stop: StopCallback | None = None, preview_count: int = 3,
                 guard_shifts: int | None = None) -> SiteEvaluation:
    """Evaluate a core.training.site_adapt.SiteAdaptation on its held-out photos."""

    seg = default_segmenter() if segmenter == "default" else segmenter
    return evaluate_adaptation(
        [im.path for im in run.plan.holdout],
        run.starting_module(),
        run.adapted_module(),
        segmenter=seg,
        working_size=run.working_size(),
        starting_name=run.start_model.ref,
        preview_count=preview_count,
        progress=progress,
        should_stop=should_stop,
        guard_shifts=guard_shifts,
        fallback_guard=card_guard(run.start_model.card) or None,
    )


# ----------------------------------------------------------------------------- do no harm


def working_view(rgb: np.ndarray, fov: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The FOV's bounding box area-resized so its longer side is `side` (float32 [0,1], bool FOV): the
    do-no-harm measures at the working resolution, as in evaluate."""
    ys, xs = np.nonzero(fov)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = rgb[y0:y1, x0:x1]
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    m = fov[y0:y1, x0:x1].astype(np.float32)
    s = side / max(y1 - y0, x1 - x0)
    if s < 1.0:
        size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        m = cv2.resize(m, size, interpolation=cv2.INTER_AREA)
    mask = m > 0.5
    return np.ascontiguousarray(a * mask[..., None]), mask


def structure_measures(photo: np.ndarray, output: np.ndarray, fov: np.ndarray) -> dict[str, float | None]:
    """Band-pass correlation of the output with the photo and the vessel contrast ratio (None: no vessels)."""

    return {"bandpass_correlation": M.bandpass_correlation(photo, output, fov),
            "vessel_contrast_ratio": M.vessel_contrast_ratio(output, photo, fov)}


def shifted_photo(px: np.ndarray, fov: np.ndarray, name: str, k: int) -> np.ndarray:
    """The k-th seeded global shift of one held-out photo, as uint8: evaluate's own shift
    (core.evaluation.do_no_harm, same ranges and generator) for the id "<name>#site<k>"."""

    y = apply_photometric(px.astype(np.float32) / 255.0, fov, photometric_params(f"{name}#site{k}"))
    return (y * 255.0 + 0.5).astype(np.uint8)


def guard_cases_for(enhancer: Any, px: np.ndarray, fov: np.ndarray, name: str, shifts: int, working_size: int,
                    should_stop: StopCallback | None = None) -> list[tuple[float, float]]:
    """(guard score, structure PSNR vs the unshifted photo) of the enhancer's output on `shifts` shifts."""

    photo, small_fov = working_view(px, fov, working_size)
    out = []
    for k in range(shifts):
        check_stop(should_stop)
        shifted = shifted_photo(px, fov, name, k)
        res = enhancer.enhance(FundusImage(pixels=shifted, bit_depth=8, source_sha256="0" * 64))
        score = res.guard_score if res.guard_score is not None else M.guard_score(shifted, res.pixels, fov)
        out.append((float(score), M.structure_psnr(working_view(res.pixels, fov, working_size)[0], photo, small_fov)))
    return out


def calibrate_site_guard(cases: Sequence[tuple[float, float]], fallback: dict[str, Any] | None) -> dict[str, Any]:
    """calibrate_guard on the site cases; without any good (>= 36 dB) output, the starting model's threshold."""

    cal = M.calibrate_guard([c[0] for c in cases], [c[1] for c in cases])
    cal["source"] = "site held-out photos, seeded photometric shifts (structure PSNR vs the unshifted photo)"
    cal["side"] = M.GUARD_SIDE
    if cal["threshold"] is None:
        kept = (fallback or {}).get("threshold")
        cal["threshold"] = float(kept) if kept is not None else DEFAULT_GUARD_THRESHOLD
        cal["source"] = ("no shifted output reached the good level, so the starting model's threshold is kept"
                         if kept is not None else "no shifted output reached the good level; the default threshold")
    return json.loads(json.dumps(cal, default=float))
