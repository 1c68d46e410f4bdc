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

Each measure gets a plain verdict, better / same / worse, by comparing the mean over
the held-out photos with a tolerance (relative for the open-ended measures, absolute
for colour shift and stability), so noise-sized differences read as "same". One
"worse" makes the whole evaluation worse: such a model is flagged and is never made
active without an explicit choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from torch import nn

from core.errors import FundusError
from core.progress import ProgressCallback, StopCallback, check_stop, report


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
)
SPECS = {m.key: m for m in MEASURES}
VERDICTS = ("better", "same", "worse")


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

    @property
    def overall(self) -> str:
        verdicts = [m.verdict for m in self.measures]
        if "worse" in verdicts:
            return "worse"
        return "better" if "better" in verdicts else "same"

    @property
    def worse(self) -> bool:
        return self.overall == "worse"

    def by_key(self) -> dict[str, MeasureResult]:
        return {m.key: m for m in self.measures}

    def to_dict(self) -> dict[str, Any]:
        """What the model card stores (no pixels)."""
        return {
            "held_out_photos": len(self.photos),
            "photos": self.photos,
            "compared_with": self.starting_model,
            "verdict": self.overall,
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
    from core.models.registry import ModelRegistry  # noqa: PLC0415

    installed = ModelRegistry().active("vessel")
    if installed is None:
        return None
    from core.vessels import VesselSegmenter  # noqa: PLC0415

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
) -> SiteEvaluation:
    """Measure the starting and adapted models on the held-out photos and give each measure a verdict."""
    from core.enhance import EnhanceSettings, Enhancer  # noqa: PLC0415
    from core.evaluation.noref import measure_all  # noqa: PLC0415
    from core.imaging import read  # noqa: PLC0415
    from core.imaging.fov import detect_fov  # noqa: PLC0415
    from core.imaging.types import FundusImage  # noqa: PLC0415

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
    steps_per = 2 if segmenter is not None else 1
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
        for name, enh in models.items():
            check_stop(should_stop)
            outs[name] = enh.enhance(img).pixels
            per_photo[name] = measure_all(outs[name].astype(np.float32) / 255.0, fov, reference=rgb)
        if segmenter is not None:
            report(progress, i * steps_per + 1, n * steps_per, f"{Path(path).name}: vessel maps")
            noisy = FundusImage(pixels=perturbed(px, fov, i), bit_depth=8, source_sha256="0" * 64)
            for name, enh in models.items():
                check_stop(should_stop)
                a = segmenter.segment(outs[name], fov, should_stop=should_stop).binary
                b = segmenter.segment(enh.enhance(noisy).pixels, fov, should_stop=should_stop).binary
                per_photo[name]["vessel_stability"] = _dice(a, b, fov)
        for name, vals in per_photo.items():
            for k, v in vals.items():
                per[name].setdefault(k, []).append(float(v))
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
        s_mean, a_mean = float(s_vals.mean()), float(a_vals.mean())
        v, tol = verdict(spec, s_mean, a_mean)
        diff = a_vals - s_vals
        if not spec.higher_is_better:
            diff = -diff
        per_tol = tol if not spec.relative else spec.tolerance * np.maximum(np.abs(s_vals), 1e-9)
        inp = per["input"].get(spec.key)
        results.append(MeasureResult(
            spec.key, spec.label, spec.higher_is_better,
            None if inp is None else round(float(np.mean(inp)), 5),
            round(s_mean, 5), round(a_mean, 5), round(a_mean - s_mean, 5), round(float(tol), 5), v,
            int((diff > per_tol).sum()), int((diff < -per_tol).sum()),
        ))
    return SiteEvaluation(results, used, starting_name, notes, previews)


def evaluate_run(run: Any, segmenter: Any = "default", progress: ProgressCallback | None = None,
                 should_stop: StopCallback | None = None, preview_count: int = 3) -> SiteEvaluation:
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
    )
