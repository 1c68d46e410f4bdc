"""No-reference measures for real low-quality photos, which have no clean counterpart.

Each works inside the FOV at a fixed working scale (the FOV resized to 512 px), so
a full-resolution photo and its 512 px version score alike. They measure what an
enhancer should change, and one thing it should not:

* ``illumination_uniformity``: 1 - coefficient of variation of the heavily low-passed
  luminance (sigma 8 % of the FOV diameter) over the FOV without its rim (inner 90 %).
  1 = perfectly even lighting; halos and dark patches lower it. Anatomy (bright disc,
  dark macula) keeps a clean photo below 1; compare before vs after, not to 1.
* ``vessel_cnr``: vessel contrast-to-noise ratio of the green channel. A black-hat
  (closing minus image, disc of 15 px at 512) responds to thin dark structures.
  Likely-vessel pixels: the top 10 % of the response; background: the bottom 50 %.
  CNR = (mean response on vessels - mean on background) / std of the background's
  fine detail (green minus its Gaussian blur, sigma 8 px at 512). Higher = vessels
  stand out more from the background texture and noise.
* ``sharpness``: standard deviation of the Laplacian of the luminance (after a 0.7 px
  Gaussian pre-smoothing so JPEG noise does not dominate) divided by the mean
  luminance: gain-invariant, falls with blur. Noise raises it, so read it with the CNR.
* ``colour_shift`` (input vs output): mean Euclidean distance in the CIELAB a*b*
  plane between the input and the enhanced photo, per pixel in the FOV; CIELAB units,
  lower = colour more faithful to the input.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_DIAMETER = 512


def _to_work(rgb: np.ndarray, fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the FOV's bounding box and resize so the FOV is WORK_DIAMETER px wide."""
    img = np.clip(np.asarray(rgb, np.float32), 0.0, 1.0)
    m = np.asarray(fov)
    m = m > 0.5 if m.dtype != bool else m
    if img.ndim != 3 or img.shape[2] != 3 or m.shape != img.shape[:2]:
        raise ValueError(f"expected an RGB image and a matching FOV mask, got {img.shape} and {m.shape}")
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        raise ValueError("the FOV mask is empty")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    img, m = img[y0:y1, x0:x1], m[y0:y1, x0:x1]
    s = WORK_DIAMETER / max(y1 - y0, x1 - x0)
    if abs(s - 1.0) > 1e-3:
        size = (max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s))))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        m = cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return img, m


def _inner(m: np.ndarray, fraction: float) -> np.ndarray:
    """The FOV shrunk by (1 - fraction) of its radius: away from the rim and its glare."""
    k = max(1, int(round(WORK_DIAMETER * (1 - fraction) / 2)))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    inner = cv2.erode(m.astype(np.uint8), se) > 0
    return inner if inner.any() else m


def _luminance(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2Lab)[..., 0] / 100.0


def _masked_gauss(v: np.ndarray, m: np.ndarray, sigma: float) -> np.ndarray:
    mf = m.astype(np.float32)
    num = cv2.GaussianBlur(v * mf, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(mf, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return num / np.maximum(den, 1e-4)


def illumination_uniformity(rgb: np.ndarray, fov: np.ndarray) -> float:
    """1 - CV of the low-passed luminance over the inner 90 % of the FOV (higher = more even)."""
    img, m = _to_work(rgb, fov)
    low = _masked_gauss(_luminance(img), m, 0.08 * WORK_DIAMETER)
    v = low[_inner(m, 0.9)]
    mean = float(v.mean())
    if mean <= 1e-6:
        return 0.0
    return float(max(0.0, 1.0 - v.std() / mean))


def vessel_cnr(rgb: np.ndarray, fov: np.ndarray) -> float:
    """Black-hat vessel contrast over background detail std, green channel (higher = clearer vessels)."""
    img, m = _to_work(rgb, fov)
    g = img[..., 1]
    inner = _inner(m, 0.9)
    # fill outside the FOV with the local mean so the rim does not look like a huge dark vessel
    g_fill = np.where(m, g, _masked_gauss(g, m, 10.0)).astype(np.float32)
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))
    bh = cv2.morphologyEx(g_fill, cv2.MORPH_BLACKHAT, se)
    r = bh[inner]
    hi, med = np.percentile(r, [90, 50])
    vessel, background = inner & (bh >= hi), inner & (bh <= med)
    contrast = float(bh[vessel].mean() - bh[background].mean())
    detail = g_fill - cv2.GaussianBlur(g_fill, (0, 0), 8.0, borderType=cv2.BORDER_REFLECT)
    noise = float(detail[background].std())
    return contrast / max(noise, 1e-4)


def sharpness(rgb: np.ndarray, fov: np.ndarray) -> float:
    """std of the Laplacian of luminance inside the FOV, over the mean luminance (higher = sharper)."""
    img, m = _to_work(rgb, fov)
    lum = _luminance(img)
    lum = cv2.GaussianBlur(lum, (0, 0), 0.7, borderType=cv2.BORDER_REFLECT)
    lap = cv2.Laplacian(lum, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
    inner = _inner(m, 0.95)
    mean = float(lum[inner].mean())
    if mean <= 1e-6:
        return 0.0
    return float(lap[inner].std() / mean)


def colour_shift(reference: np.ndarray, output: np.ndarray, fov: np.ndarray) -> float:
    """Mean a*b* distance (CIELAB units) between input and output inside the FOV (lower = more faithful)."""
    a = np.clip(np.asarray(reference, np.float32), 0, 1)
    b = np.clip(np.asarray(output, np.float32), 0, 1)
    if a.shape != b.shape:
        raise ValueError(f"input {a.shape} and output {b.shape} differ in shape")
    m = np.asarray(fov)
    m = m > 0.5 if m.dtype != bool else m
    lab_a = cv2.cvtColor(a, cv2.COLOR_RGB2Lab)[..., 1:]
    lab_b = cv2.cvtColor(b, cv2.COLOR_RGB2Lab)[..., 1:]
    d = np.sqrt(((lab_a - lab_b) ** 2).sum(axis=2))
    return float(d[m].mean())


def measure_all(rgb: np.ndarray, fov: np.ndarray, reference: np.ndarray | None = None) -> dict[str, float]:
    """All measures of one photo; `colour_shift` too when the input (`reference`) is given."""
    out = {
        "illumination_uniformity": illumination_uniformity(rgb, fov),
        "vessel_cnr": vessel_cnr(rgb, fov),
        "sharpness": sharpness(rgb, fov),
    }
    if reference is not None:
        out["colour_shift"] = colour_shift(reference, rgb, fov)
    return out
