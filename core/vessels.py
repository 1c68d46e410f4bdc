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

from core.errors import FieldOfViewError, ModelError, UnsupportedImageError
from core.models.vesselnet import VesselNet, fov_diameter, normalise_in_fov
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

def _ramp(n: int, overlap: int) -> np.ndarray:
    """1-D weight that rises linearly over `overlap` pixels at each end (never exactly 0)."""
    i = np.arange(n, dtype=np.float32) + 0.5
    return np.clip(np.minimum(i, n - i) / max(overlap, 1), 1e-3, 1.0)


def blend_window(th: int, tw: int, overlap: int) -> np.ndarray:
    """Separable tile weight, so overlapping tiles fade into each other without seams."""
    return np.outer(_ramp(th, min(overlap, th // 2)), _ramp(tw, min(overlap, tw // 2))).astype(np.float32)


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
    win = blend_window(th, tw, overlap)
    stride_y, stride_x = max(1, th - overlap), max(1, tw - overlap)
    was_training = model.training
    model.eval()
    try:
        for y0 in _starts(ph, th, stride_y):
            for x0 in _starts(pw, tw, stride_x):
                check_stop(should_stop)
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


def _simple_fov(rgb: np.ndarray) -> np.ndarray:
    """Fallback FOV when core.imaging.fov is unavailable: the largest bright-enough region."""
    r = rgb[..., 0]
    thr = max(0.02, 0.15 * float(np.percentile(r, 99)))
    m = (r > thr).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m)
    if n <= 1:
        raise FieldOfViewError("No field of view was found in this photograph.")
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return lab == big


def find_fov(rgb: np.ndarray) -> np.ndarray:
    """The photo's FOV mask, from core.imaging.fov when available."""
    try:
        from core.imaging.fov import detect_fov  # noqa: PLC0415 - optional sibling module
    except ImportError:
        return _simple_fov(rgb)
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
        params = self.card.get("inference", {})
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
    try:
        from core.models import registry as reg  # noqa: PLC0415 - heavy, load on demand
    except ImportError as exc:  # pragma: no cover - registry missing only during development
        raise ModelError(f"The model registry is not available: {exc}") from exc
    registry = reg.ModelRegistry() if installed is None or not hasattr(installed, "card") else None
    if installed is None:
        installed = registry.active("vessel")
        if installed is None:
            raise ModelError("No vessel model is installed. Reinstall Fundus Studio or import a vessel model.")
    if registry is None:
        registry = reg.ModelRegistry()
    model = registry.load(installed, device)
    card = installed.card
    card_dict = card.to_dict() if hasattr(card, "to_dict") else dict(getattr(card, "__dict__", card))
    return model, card_dict
