"""Display levels (black point, white point, gamma) turned into a screen-ready buffer.

Display only: the arrays that get exported are never touched. The conversion writes a
BGRA buffer that Qt draws without any per-frame conversion (QImage.Format_RGB32), so
zooming and panning cost nothing more than drawing; the buffer is rebuilt only when the
levels or the image change.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DisplayLevels:
    """black/white are in the image's own range (0..255 or 0..65535); gamma > 0."""

    black: float = 0.0
    white: float = 255.0
    gamma: float = 1.0

    @classmethod
    def identity(cls, max_value: int) -> "DisplayLevels":
        return cls(0.0, float(max_value), 1.0)

    def is_identity(self, max_value: int) -> bool:
        return self.black == 0 and self.white == max_value and self.gamma == 1.0


def build_lut(levels: DisplayLevels, max_value: int) -> np.ndarray:
    """uint8 lookup table of max_value+1 entries: clip to [black, white], then gamma."""
    x = np.arange(max_value + 1, dtype=np.float32)
    span = max(float(levels.white) - float(levels.black), 1e-6)
    t = np.clip((x - float(levels.black)) / span, 0.0, 1.0)
    if levels.gamma != 1.0:
        t = np.power(t, 1.0 / float(levels.gamma))
    return np.rint(t * 255.0).astype(np.uint8)


def to_display(pixels: np.ndarray, levels: DisplayLevels, max_value: int, out: np.ndarray | None = None) -> np.ndarray:
    """HxWx3 RGB (uint8/uint16) -> HxWx4 BGRA uint8 (alpha 255), reusing `out` when it fits."""
    h, w = pixels.shape[:2]
    if out is None or out.shape != (h, w, 4) or not out.flags.c_contiguous:
        out = np.empty((h, w, 4), np.uint8)
    src = np.ascontiguousarray(pixels)
    if not (levels.is_identity(max_value) and src.dtype == np.uint8):
        lut = build_lut(levels, max_value)
        # cv2.LUT is an order of magnitude faster than fancy indexing on 8-bit photos
        src = cv2.LUT(src, lut) if src.dtype == np.uint8 else lut[src]
    cv2.cvtColor(src, cv2.COLOR_RGB2BGRA, dst=out)
    return out


def channel_histograms(pixels: np.ndarray, max_value: int, fov: np.ndarray | None = None) -> np.ndarray:
    """3 x 256 counts of R, G, B inside the field of view (or non-black pixels when none is given)."""
    h, w = pixels.shape[:2]
    half = (max(1, w // 2), max(1, h // 2))
    # a quarter of the pixels is plenty for a display histogram
    sub = cv2.resize(np.ascontiguousarray(pixels), half, interpolation=cv2.INTER_NEAREST)
    if fov is not None and fov.shape == pixels.shape[:2]:
        mask = cv2.resize(fov.astype(np.uint8), half, interpolation=cv2.INTER_NEAREST)
    else:
        gray = cv2.cvtColor(sub, cv2.COLOR_RGB2GRAY)
        mask = (gray > (max_value // 64)).astype(np.uint8)
    if not mask.any():
        mask = None
    hist = np.zeros((3, 256), np.int64)
    for c in range(3):
        h = cv2.calcHist([sub], [c], mask, [256], [0, max_value + 1])
        hist[c] = np.rint(np.asarray(h).reshape(-1)[:256]).astype(np.int64)
    return hist


def auto_levels(hist: np.ndarray, max_value: int, low: float = 0.005, high: float = 0.995) -> DisplayLevels:
    """Black and white points at the given quantiles of the brightest-to-darkest channel spread."""
    total = hist.sum(axis=0).astype(np.float64)
    cdf = np.cumsum(total)
    if cdf[-1] <= 0:
        return DisplayLevels.identity(max_value)
    cdf /= cdf[-1]
    lo = int(np.searchsorted(cdf, low))
    hi = int(np.searchsorted(cdf, high))
    scale = (max_value + 1) / 256.0
    black, white = lo * scale, min(max_value, (hi + 1) * scale)
    if white - black < 2 * scale:
        return DisplayLevels.identity(max_value)
    return DisplayLevels(float(black), float(white), 1.0)
