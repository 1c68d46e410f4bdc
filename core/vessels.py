"""Retinal vessel maps: full-resolution segmentation and the original-vs-enhanced comparison.

Segmentation: the photo is rescaled so that its field-of-view (FOV) diameter equals
the model card's `working_fov_diameter` (the scale convention the network was
trained at), normalised per image inside the FOV, run through VesselNet in
overlapping tiles blended with smooth weights, and the probability map is mapped
back to the original geometry and zeroed outside the FOV. The binary map uses the
threshold stored in the model card (chosen on training images).

Comparison: which vessels are found in both maps, only after enhancement, only
before, the vessel density of each, Dice between them, and a hallucination check
that flags large "only after" structures where the original shows no trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import cv2
import numpy as np
import torch

from core.colours import COLOUR_BOTH, COLOUR_HALLUCINATION, COLOUR_ONLY_AFTER, COLOUR_ONLY_BEFORE
from core.errors import FieldOfViewError, ModelError, UnsupportedImageError
from core.imaging.fov import detect_fov
from core.models.registry import ModelRegistry
from core.models.vesselnet import fov_diameter, normalise_in_fov
from core.progress import ProgressCallback, StopCallback, check_stop, report

DEFAULT_WORKING_DIAMETER = 640
DEFAULT_TILE = 384
DEFAULT_OVERLAP = 64


@dataclass
class VesselMap:
    """prob: H x W float32 in [0, 1] (0 outside the FOV); binary: prob >= threshold."""

    prob: np.ndarray
    binary: np.ndarray
    threshold: float
    fov: Optional[np.ndarray] = None


# ----------------------------------------------------------------------------- inference

def _ramp(n: int, overlap: int, ramp_start: bool = True, ramp_end: bool = True) -> np.ndarray:
    """1-D tile weight: 0 over a small margin, then a linear rise over the rest of `overlap`.

    Only sides shared with a neighbouring tile ramp; a side on the image border keeps
    weight 1 (nothing else covers it). The zero margin drops the pixels nearest a tile
    edge, whose prediction is spoilt by the zero padding the network sees there.
    """
    i = np.arange(n, dtype=np.float32) + 0.5
    overlap = max(2, min(overlap, n // 2))
    margin = overlap // 4
    w = np.ones(n, dtype=np.float32)
    rise = lambda d: np.clip((d - margin) / (overlap - margin), 0.0, 1.0)  # noqa: E731
    if ramp_start:
        w = np.minimum(w, rise(i))
    if ramp_end:
        w = np.minimum(w, rise(n - i))
    return w


def blend_window(th: int, tw: int, overlap: int, sides: tuple[bool, bool, bool, bool] = (True,) * 4) -> np.ndarray:
    """Separable tile weight, so overlapping tiles fade into each other without seams.

    sides: (top, bottom, left, right) - True where the tile meets another tile.
    """
    top, bottom, left, right = sides
    return np.outer(_ramp(th, overlap, top, bottom), _ramp(tw, overlap, left, right)).astype(np.float32)


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    s = list(range(0, size - tile, stride))
    s.append(size - tile)
    return s


@torch.no_grad()
def predict_prob(
    model: torch.nn.Module,
    x: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device: str | torch.device = "cpu",
    should_stop: Optional[StopCallback] = None,
) -> np.ndarray:
    """Vessel probability for a prepared input x (C, H, W) in the working frame, by blended tiles."""
    c, h, w = x.shape
    mult = getattr(getattr(model, "cfg", None), "multiple", 8)
    tile = max(mult, (tile // mult) * mult)
    th, tw = min(tile, -(-h // mult) * mult), min(tile, -(-w // mult) * mult)
    ph, pw = max(h, th), max(w, tw)
    xp = np.zeros((c, ph, pw), dtype=np.float32)
    xp[:, :h, :w] = x
    acc = np.zeros((ph, pw), dtype=np.float32)
    wsum = np.zeros((ph, pw), dtype=np.float32)
    stride_y, stride_x = max(1, th - overlap), max(1, tw - overlap)
    was_training = model.training
    model.eval()
    try:
        ys, xs = _starts(ph, th, stride_y), _starts(pw, tw, stride_x)
        for y0 in ys:
            for x0 in xs:
                check_stop(should_stop)
                win = blend_window(th, tw, overlap, (y0 > 0, y0 < ys[-1], x0 > 0, x0 < xs[-1]))
                t = torch.from_numpy(xp[None, :, y0 : y0 + th, x0 : x0 + tw]).to(device)
                p = torch.sigmoid(model(t))[0, 0].float().cpu().numpy()
                acc[y0 : y0 + th, x0 : x0 + tw] += p * win
                wsum[y0 : y0 + th, x0 : x0 + tw] += win
    finally:
        model.train(was_training)
    return (acc / np.maximum(wsum, 1e-6))[:h, :w]


def to_float_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float RGB -> float32 in [0, 1]."""
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] < 3:
        raise UnsupportedImageError("The vessel map needs a colour (RGB) photograph.")
    a = a[..., :3]
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def rescale_to_working(
    rgb: np.ndarray, fov: np.ndarray, working_diameter: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Resize so the FOV diameter equals `working_diameter`; returns (rgb, fov, scale)."""
    d = fov_diameter(fov)
    if d < 16:
        raise FieldOfViewError("The field of view is too small to find vessels in.")
    scale = float(working_diameter) / d
    h, w = fov.shape
    nh, nw = max(8, int(round(h * scale))), max(8, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb_s = cv2.resize(rgb, (nw, nh), interpolation=interp)
    fov_s = cv2.resize(fov.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA) > 0.5
    return rgb_s, fov_s, scale


def segment_probability(
    model: torch.nn.Module,
    rgb: np.ndarray,
    fov: np.ndarray,
    *,
    working_diameter: float = DEFAULT_WORKING_DIAMETER,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device: str | torch.device = "cpu",
    should_stop: Optional[StopCallback] = None,
) -> np.ndarray:
    """Full-resolution vessel probability (H x W float32, 0 outside the FOV) for an RGB float image."""
    fov = np.asarray(fov, dtype=bool)
    rgb_s, fov_s, _ = rescale_to_working(rgb, fov, working_diameter)
    x = normalise_in_fov(rgb_s, fov_s)
    prob_s = predict_prob(model, x, tile=tile, overlap=overlap, device=device, should_stop=should_stop)
    prob_s[~fov_s] = 0.0
    h, w = fov.shape
    prob = cv2.resize(prob_s, (w, h), interpolation=cv2.INTER_LINEAR) if prob_s.shape != (h, w) else prob_s
    prob = np.clip(prob, 0.0, 1.0).astype(np.float32)
    prob[~fov] = 0.0
    return prob


def find_fov(rgb: np.ndarray) -> np.ndarray:
    """The photo's FOV mask (core.imaging.fov), as the Enhancer finds it."""
    fov = detect_fov(rgb)
    return np.asarray(getattr(fov, "mask", fov), dtype=bool)


class VesselSegmenter:
    """Loads a vessel model once and segments photos at full resolution.

    `installed`: a registry InstalledModel (or None: the active "vessel" model of
    core.models.registry). `model`/`card` let tests and training pass a network directly.
    """

    def __init__(
        self,
        installed: Any = None,
        *,
        model: Optional[torch.nn.Module] = None,
        card: Optional[dict] = None,
        device: str = "cpu",
    ) -> None:
        self.device = device
        if model is not None:
            self.model = model
            self.card = dict(card or {})
        else:
            self.model, self.card = _load_vessel_model(installed, device)
        self.model.to(device).eval()
        params = dict((self.card.get("config") or {}).get("inference") or {})
        self.working_diameter = float(params.get("working_fov_diameter", DEFAULT_WORKING_DIAMETER))
        self.threshold = float(params.get("threshold", 0.5))
        self.tile = int(params.get("tile", DEFAULT_TILE))
        self.overlap = int(params.get("overlap", DEFAULT_OVERLAP))

    @property
    def name(self) -> str:
        return f"{self.card.get('name', 'vesselnet')}-{self.card.get('version', 'dev')}"

    def probability(self, rgb: np.ndarray, fov_mask: Optional[np.ndarray] = None,
                    should_stop: Optional[StopCallback] = None) -> np.ndarray:
        rgbf = to_float_rgb(rgb)
        fov = find_fov(rgbf) if fov_mask is None else np.asarray(fov_mask, dtype=bool)
        if fov.shape != rgbf.shape[:2]:
            raise FieldOfViewError("The field-of-view mask does not match the photograph's size.")
        return segment_probability(
            self.model, rgbf, fov, working_diameter=self.working_diameter, tile=self.tile,
            overlap=self.overlap, device=self.device, should_stop=should_stop,
        )

    def segment(
        self,
        rgb: np.ndarray,
        fov_mask: Optional[np.ndarray] = None,
        progress: Optional[ProgressCallback] = None,
        should_stop: Optional[StopCallback] = None,
    ) -> VesselMap:
        """RGB (uint8/uint16/float in [0,1]) + FOV mask -> VesselMap at the photo's resolution."""
        report(progress, 0, 1, "Finding vessels")
        rgbf = to_float_rgb(rgb)
        fov = find_fov(rgbf) if fov_mask is None else np.asarray(fov_mask, dtype=bool)
        prob = self.probability(rgbf, fov, should_stop=should_stop)
        report(progress, 1, 1, "Vessels found")
        return VesselMap(prob=prob, binary=(prob >= self.threshold) & fov, threshold=self.threshold, fov=fov)


def _load_vessel_model(installed: Any, device: str) -> tuple[torch.nn.Module, dict]:
    """Through core.models.registry (kind "vessel"); a clear ModelError when none is installed."""

    registry = ModelRegistry()
    if installed is None:
        installed = registry.active("vessel")
        if installed is None:
            raise ModelError("No vessel model is installed. Reinstall Fundus Studio or import a vessel model.")
    if installed.card.kind != "vessel":
        raise ModelError(f"{installed.ref} is a {installed.card.kind} model, not a vessel model.")
    return registry.load(installed, device), installed.card.to_dict()


# ----------------------------------------------------------------------------- comparison

# Overlay colours (both maps, only after, only before, warning boxes) come from core.colours.


@dataclass
class HallucinationRegion:
    """A vessel-like structure present only after enhancement, with no trace in the original."""

    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive-exclusive), image coordinates
    area: int  # pixels
    length: float  # bounding-box diagonal, pixels


@dataclass
class VesselComparison:
    """Original ("before") vs enhanced ("after") vessel maps, all masks inside the FOV."""

    both: np.ndarray
    only_after: np.ndarray
    only_before: np.ndarray
    fov: np.ndarray
    density_before: float
    density_after: float
    dice: float
    hallucinations: list[HallucinationRegion] = field(default_factory=list)
    warning: str = ""
    settings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "density_before": self.density_before,
            "density_after": self.density_after,
            "dice": self.dice,
            "pixels_both": int(self.both.sum()),
            "pixels_only_after": int(self.only_after.sum()),
            "pixels_only_before": int(self.only_before.sum()),
            "hallucination_regions": [
                {"bbox": list(r.bbox), "area": r.area, "length": round(r.length, 1)} for r in self.hallucinations
            ],
            "warning": self.warning,
        }


def _original_trace(original_rgb: np.ndarray, fov: np.ndarray, diameter: float) -> np.ndarray:
    """Faint dark-line evidence in the original photo (green black-top-hat, robustly scaled)."""
    g = to_float_rgb(original_rgb)[..., 1]
    k = max(3, int(round(diameter * 0.02)) | 1)
    tophat = cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    vals = tophat[fov]
    if vals.size == 0:
        return np.zeros_like(fov)
    # "trace" = clearly above the background texture of this photo
    return (tophat > np.percentile(vals, 50) + 4.0 * (np.percentile(vals, 75) - np.percentile(vals, 25))) & fov


def _inner_fov(fov: np.ndarray, margin: float) -> np.ndarray:
    """The FOV shrunk by `margin` pixels (distance to the nearest pixel outside it)."""
    if margin <= 0:
        return fov
    padded = np.pad(fov.astype(np.uint8), 1)  # the image border counts as outside the FOV
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    return dist > margin


def compare_vessels(
    before: VesselMap,
    after: VesselMap,
    fov: np.ndarray,
    original_rgb: Optional[np.ndarray] = None,
    *,
    trace_threshold: float = 0.2,
    neighbourhood_frac: float = 0.006,
    min_length_frac: float = 0.05,
    min_area_frac: float = 0.04,
    min_piece_frac: float = 1.0,
    border_frac: float = 0.025,
) -> VesselComparison:
    """Compare the original's vessel map with the enhanced photo's.

    Hallucination check: "novel" pixels are "only after" pixels with nothing within
    neighbourhood_frac x FOV diameter that the original map gives probability
    >= trace_threshold (or, with original_rgb, a faint dark line in the original
    photo). Novel pieces closer than a few pixels are grouped (a made-up vessel
    that crosses a real one is cut in two by the real one's neighbourhood); a group
    is reported when its longest single piece is long (bounding-box diagonal >=
    min_piece_frac x min_length_frac x FOV diameter) and the group is big (area >=
    min_area_frac x diameter x diameter/540 pixels: a 1-px line of that length at
    DRIVE scale, thicker at higher resolution). Working per pixel means a made-up
    vessel that branches off a real one is still caught, while widened or extended
    real vessels are not; the FOV-relative sizes and the longest-piece rule keep
    tiny fragments, single or in clouds, from flooding the warning. Pixels within
    border_frac x diameter of the FOV edge are not judged: the edge of the
    aperture (round, or cut straight on HRF and many EyePACS cameras) is a
    bright-to-black step that enhancement sharpens into a vessel-like rim.
    """
    fov = np.asarray(fov, dtype=bool)
    if before.binary.shape != fov.shape or after.binary.shape != fov.shape:
        raise UnsupportedImageError("The two vessel maps and the field of view must have the same size.")
    b = before.binary.astype(bool) & fov
    a = after.binary.astype(bool) & fov
    both, only_after, only_before = a & b, a & ~b, b & ~a
    n_fov = max(int(fov.sum()), 1)
    total = int(a.sum() + b.sum())
    dice = 2.0 * int(both.sum()) / total if total else 1.0
    diameter = max(fov_diameter(fov), 1.0)

    trace = (before.prob >= trace_threshold) | b
    if original_rgb is not None:
        trace |= _original_trace(original_rgb, fov, diameter)
    r = max(1, int(round(neighbourhood_frac * diameter)))
    near_trace = cv2.dilate(trace.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0

    min_length = min_length_frac * diameter
    min_area = min_area_frac * diameter * max(1.0, diameter / 540.0)
    regions: list[HallucinationRegion] = []
    novel = only_after & ~near_trace & _inner_fov(fov, border_frac * diameter)
    # bridge the small gaps where a made-up vessel crosses a real one, so it is judged as one structure
    grouped = cv2.dilate(novel.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 3, 2 * r + 3)))
    n, lab, _, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    # and the longest single piece must itself be substantial, so a cloud of specks is not one "vessel"
    npc, piece_lab, piece_stats, _ = cv2.connectedComponentsWithStats(novel.astype(np.uint8), connectivity=8)
    piece_len = np.hypot(piece_stats[:, cv2.CC_STAT_WIDTH], piece_stats[:, cv2.CC_STAT_HEIGHT]).astype(np.float64)
    ys, xs = np.nonzero(novel)
    ids = lab[ys, xs]
    pieces = piece_lab[ys, xs]
    for i in range(1, n):
        sel = ids == i
        area = int(sel.sum())
        if area == 0:
            continue
        x, y = int(xs[sel].min()), int(ys[sel].min())
        w, h = int(xs[sel].max()) - x + 1, int(ys[sel].max()) - y + 1
        length = float(np.hypot(w, h))
        if length < min_length or area < min_area:
            continue
        if piece_len[np.unique(pieces[sel])].max() < min_piece_frac * min_length:
            continue
        regions.append(HallucinationRegion((x, y, x + w, y + h), area, length))
    regions.sort(key=lambda rg: -rg.area)
    warning = ""
    if regions:
        warning = (
            f"Enhancement shows {len(regions)} vessel-like structure{'s' if len(regions) > 1 else ''} where the "
            "original photo has no trace of a vessel (amber boxes). Treat them as possible artefacts of "
            "enhancement and check the original."
        )
    return VesselComparison(
        both=both, only_after=only_after, only_before=only_before, fov=fov,
        density_before=float(b.sum()) / n_fov, density_after=float(a.sum()) / n_fov, dice=float(dice),
        hallucinations=regions, warning=warning,
        settings={"trace_threshold": trace_threshold, "neighbourhood_px": float(r),
                  "min_length_px": float(min_length), "min_area_px": float(min_area),
                  "border_px": float(border_frac * diameter)},
    )


def _to_uint8_rgb(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a[..., :3])
    return np.ascontiguousarray(np.round(to_float_rgb(a) * 255.0).astype(np.uint8))


def difference_overlay(base_rgb: np.ndarray, comparison: VesselComparison, opacity: float = 0.8) -> np.ndarray:
    """The photo with vessels tinted by where they were found, plus amber boxes round suspect regions.

    both = light yellow, only after enhancement = cyan, only before = magenta (colour-blind safe).
    """
    base = _to_uint8_rgb(base_rgb)
    if base.shape[:2] != comparison.fov.shape:
        raise UnsupportedImageError("The photo and the vessel comparison must have the same size.")
    op = float(np.clip(opacity, 0.0, 1.0))
    out = base.astype(np.float32)
    for mask, colour in (
        (comparison.both, COLOUR_BOTH),
        (comparison.only_after, COLOUR_ONLY_AFTER),
        (comparison.only_before, COLOUR_ONLY_BEFORE),
    ):
        out[mask] = out[mask] * (1.0 - op) + np.asarray(colour, np.float32) * op
    out = np.round(out).astype(np.uint8)
    diameter = max(fov_diameter(comparison.fov), 1.0)
    thick = max(1, int(round(diameter / 300)))
    pad = 2 * thick
    h, w = out.shape[:2]
    for r in comparison.hallucinations:
        x0, y0, x1, y1 = r.bbox
        cv2.rectangle(out, (max(0, x0 - pad), max(0, y0 - pad)), (min(w - 1, x1 - 1 + pad), min(h - 1, y1 - 1 + pad)),
                      COLOUR_HALLUCINATION, thick)
    return out
