"""Classical enhancers that every evaluation table compares against (MAGE-NET.md section 5).

All take and return RGB float in [0, 1] with the FOV mask, keep the outside of the
FOV black, and scale their window sizes with the FOV diameter (tuned at 512 px), so
a 3504 px HRF photo is treated like its 512 px version.

* ``clahe_lab``: CLAHE on L* of CIELAB; a* and b* untouched (colour kept).
* ``clahe_green``: Setiawan et al. 2013, CLAHE on the green channel, which carries
  the vessel contrast. Colour output: the original red and blue with the equalised
  green, (R, CLAHE(G), B), as in that paper's colour recombination; the hue
  shifts where G changes, a known trait of this baseline.
* ``structured``: the do-no-harm classical baseline of issue 15 (the output form a structured
  MAGE-Net must beat): a smooth luminosity gain toward the photo's median level (masked
  Gaussian, sigma = 0.2 x the FOV diameter, gain clipped to 0.5-3), then unsharp masking at
  1.2 % of the diameter, amount 1. It cannot paint a patch or erase anatomy by construction.
* ``dcp``: dark-channel-prior dehazing (He, Sun, Tang, CVPR 2009 / TPAMI 2011), with
  the transmission refined by the guided filter rather than soft matting.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from core.imaging.guided_filter import guided_filter
from core.imaging.measures import masked_gaussian

REFERENCE_DIAMETER = 512.0
CLAHE_CLIP = 2.0
CLAHE_TILES_AT_512 = 8  # 8 x 8 tiles across a 512 px FOV (64 px tiles)


def _prepare(rgb: np.ndarray, fov: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    img = np.clip(np.asarray(rgb, np.float32), 0.0, 1.0)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an RGB image, got shape {img.shape}")
    m = np.asarray(fov)
    m = m > 0.5 if m.dtype != bool else m
    if m.shape != img.shape[:2]:
        raise ValueError(f"FOV mask {m.shape} does not match the image {img.shape[:2]}")
    ys, xs = np.nonzero(m)
    diameter = float(max(np.ptp(xs), np.ptp(ys)) + 1) if xs.size else float(max(img.shape[:2]))
    return img * m[..., None], m, diameter


def _clahe_u16(channel01: np.ndarray, diameter: float, shape: tuple[int, int]) -> np.ndarray:
    """CLAHE on a [0, 1] channel through 16-bit (finer than 8-bit), tile size scaled with the FOV."""
    tile_px = REFERENCE_DIAMETER / CLAHE_TILES_AT_512 * diameter / REFERENCE_DIAMETER
    grid = (max(1, int(round(shape[1] / tile_px))), max(1, int(round(shape[0] / tile_px))))
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=grid)
    u16 = np.clip(np.rint(channel01 * 65535.0), 0, 65535).astype(np.uint16)
    return clahe.apply(u16).astype(np.float32) / 65535.0


def clahe_lab(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """CLAHE on the lightness L* of CIELAB; chroma untouched."""
    img, m, dia = _prepare(rgb, fov)
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)  # float: L in [0, 100]
    lab[..., 0] = _clahe_u16(lab[..., 0] / 100.0, dia, m.shape) * 100.0
    out = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(out, 0.0, 1.0) * m[..., None]


def clahe_green(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Setiawan et al.: CLAHE on the green channel, recombined as (R, CLAHE(G), B)."""
    img, m, dia = _prepare(rgb, fov)
    out = img.copy()
    out[..., 1] = _clahe_u16(img[..., 1], dia, m.shape)
    return np.clip(out, 0.0, 1.0) * m[..., None]


def dark_channel(img: np.ndarray, fov: np.ndarray, patch: int) -> np.ndarray:
    """min over channels, then min over a patch x patch square; outside the FOV never wins."""
    v = np.where(fov, img.min(axis=2), 1.0).astype(np.float32)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(v, k, borderType=cv2.BORDER_REPLICATE)


def dcp(
    rgb: np.ndarray,
    fov: np.ndarray,
    omega: float = 0.95,
    t0: float = 0.1,
    eps: float = 1e-3,
) -> np.ndarray:
    """Dark-channel-prior dehazing with guided-filter refinement of the transmission.

    Airlight A: mean colour of the FOV pixels whose dark channel is in the top 0.1 %
    (the brightest haze). Transmission t = 1 - omega * dark(I / A), refined by the
    guided filter (grey guide, radius 4 x patch), floored at t0. J = (I - A) / t + A.
    Patch 15 px and radius 60 px at a 512 px FOV, scaled with the FOV.
    """
    img, m, dia = _prepare(rgb, fov)
    s = dia / REFERENCE_DIAMETER
    patch = max(3, int(round(15 * s)) | 1)
    dark = dark_channel(img, m, patch)
    vals = dark[m]
    n_top = max(1, int(vals.size * 0.001))
    thr = np.partition(vals, vals.size - n_top)[vals.size - n_top]
    sel = m & (dark >= thr)
    A = np.maximum(img[sel].mean(axis=0), 1e-3).astype(np.float32)
    norm = img / A[None, None, :]
    t = 1.0 - omega * dark_channel(norm, m, patch)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    radius = max(2, int(round(60 * s)))
    t = guided_filter(gray, t, radius, eps, subsample=max(1, int(s)))
    t = np.maximum(t, t0)[..., None]
    out = (img - A) / t + A
    return np.clip(out, 0.0, 1.0) * m[..., None]


STRUCTURED_GAIN_SIGMA = 0.2
STRUCTURED_GAIN_RANGE = (0.5, 3.0)
STRUCTURED_UNSHARP_SIGMA = 0.012
STRUCTURED_UNSHARP_AMOUNT = 1.0


def structured(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Smooth luminosity gain toward the median level, then unsharp masking (see the module docstring)."""

    img, m, dia = _prepare(rgb, fov)
    lum = img @ np.array([0.299, 0.587, 0.114], np.float32)
    level = masked_gaussian(lum, m, STRUCTURED_GAIN_SIGMA * dia)
    target = float(np.median(lum[m]))
    gain = np.clip(target / np.maximum(level, 1e-4), *STRUCTURED_GAIN_RANGE).astype(np.float32)
    out = img * gain[..., None]
    blur = masked_gaussian(out, m, STRUCTURED_UNSHARP_SIGMA * dia)
    out = out + STRUCTURED_UNSHARP_AMOUNT * (out - blur)
    return np.clip(out, 0.0, 1.0) * m[..., None]


Baseline = Callable[[np.ndarray, np.ndarray], np.ndarray]

BASELINES: dict[str, Baseline] = {
    "clahe_lab": clahe_lab,
    "clahe_green": clahe_green,
    "dcp": dcp,
    "structured": structured,
}
