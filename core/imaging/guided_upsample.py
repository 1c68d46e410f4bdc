"""Carry a low-resolution enhancement to full resolution (fast guided upsampling).

The network runs at a working resolution. Around every working-resolution pixel we
fit the local linear model `output = a * input + b` per channel (the guided filter
of He et al., with the input as guide), upsample the smooth coefficient maps a and b
bilinearly, and apply them to the full-resolution input. Illumination, colour and
contrast corrections carry over, while full-resolution detail (thin vessels, the
disc rim) comes from the original photo rather than from a blurry upscale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from core.imaging.fov import SquareFrame


RATIO_FLOOR = 1.0 / 255.0
"""Below one 8-bit level a window's mean is black padding or noise: its gain prior is capped."""
MAX_PRIOR_GAIN = 4.0
"""Largest gain a flat window is given: above the structured form's 3x field gain plus detail."""


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    k = 2 * radius + 1
    return cv2.boxFilter(x, ddepth=-1, ksize=(k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def local_linear_coefficients(
    guide: np.ndarray, target: np.ndarray, radius: int, eps: float, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel coefficients (a, b) with target ~= a * guide + b in each (2r+1)^2 window.

    guide, target: H x W x C float32. weight: optional H x W mask (1 inside the FOV), so
    black padding outside the FOV does not bias the fit at the rim. Returns the window
    averages of a and b, as the guided filter does, so they are smooth enough to upsample.
    """
    guide = guide.astype(np.float32, copy=False)
    target = target.astype(np.float32, copy=False)
    if weight is None:
        w = np.ones(guide.shape[:2], np.float32)
    else:
        w = weight.astype(np.float32)
    w3 = w[..., None]
    mw = np.maximum(_box(w, radius), 1e-6)[..., None]
    mean_i = _box(guide * w3, radius) / mw
    mean_p = _box(target * w3, radius) / mw
    corr_ii = _box(guide * guide * w3, radius) / mw
    corr_ip = _box(guide * target * w3, radius) / mw
    var_i = corr_ii - mean_i * mean_i
    cov_ip = corr_ip - mean_i * mean_p
    # Ridge toward the window's own gain (mean_p / mean_i), not toward a = 0 as the plain guided
    # filter does. With a -> 0 a flat window becomes flat b: in a dark, low-contrast region whose
    # local variance is below eps (a darkened or unevenly lit photo, exactly where the network
    # brightens most) the full-resolution vessels were replaced by their mean. Measured on DRIVE
    # test with the clean-trained segmenter: vessel AUC recovery -0.43 with a -> 0, +0.2 with
    # the gain prior (docs/evaluation.md, sixth round). Where the window has texture the fit is
    # unchanged; where it is flat the photo is scaled by the local gain, so its detail survives.
    prior = np.clip(mean_p / np.maximum(mean_i, RATIO_FLOOR), 0.0, MAX_PRIOR_GAIN)
    a = (cov_ip + eps * prior) / (var_i + eps)
    b = mean_p - a * mean_i
    # Average the coefficients over windows (plain, unweighted) so they vary smoothly.
    return _box(a, radius), _box(b, radius)


def apply_upsampled(
    full_input: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Resize (a, b) bilinearly to full_input's size and return a * full_input + b (float32).

    Works row band by row band so peak memory stays a few full-size float planes.
    """
    h, w = full_input.shape[:2]
    a_full = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    b_full = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    if out is None:
        out = np.empty((h, w, full_input.shape[2]), np.float32)
    np.multiply(a_full, full_input, out=out, casting="unsafe")
    out += b_full
    return out


def _bilinear_rows(coef: np.ndarray, side: int, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of cv2.resize(coef, (side, side), INTER_LINEAR), without the rest.

    Same sampling as OpenCV (pixel centres, (d + 0.5) * scale - 0.5, clamped at the edges):
    vertical weights here, the horizontal pass by cv2.resize on the thin band.
    """
    h = coef.shape[0]
    scale = h / side
    pos = (np.arange(start, stop, dtype=np.float64) + 0.5) * scale - 0.5
    y0 = np.floor(pos).astype(np.int64)
    wy = (pos - y0).astype(np.float32)
    low = y0 < 0
    y0[low], wy[low] = 0, 0.0
    high = y0 >= h - 1
    y0[high], wy[high] = h - 1, 0.0
    y1 = np.minimum(y0 + 1, h - 1)
    rows = coef[y0] * (1.0 - wy)[:, None, None] + coef[y1] * wy[:, None, None]
    return cv2.resize(rows, (side, stop - start), interpolation=cv2.INTER_LINEAR)


def apply_to_photo(
    photo: np.ndarray,
    frame: "SquareFrame",
    square_mask: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    max_value: int,
    band: int = 128,
) -> np.ndarray:
    """`a * photo + b` in the photo's own geometry and dtype, band by band.

    Equivalent to resizing (a, b) to the square, applying them to the photo squared and
    scaled to [0, 1], masking with the FOV, clipping, mapping back and rounding; but it
    never holds a full-size float copy, so it is faster (cache-sized bands, no page faults
    on fresh arrays) and needs a fraction of the memory on a 3504 x 2336 photo.
    """
    out = np.zeros(photo.shape, photo.dtype)
    ry, rx, sy, sx = frame._overlap()
    side = frame.side
    inv = np.float32(1.0 / max_value)
    top = np.float32(max_value)
    for r0 in range(sy.start, sy.stop, band):
        r1 = min(r0 + band, sy.stop)
        ab = _bilinear_rows(a, side, r0, r1)[:, sx]
        bb = _bilinear_rows(b, side, r0, r1)[:, sx]
        prow = slice(ry.start + (r0 - sy.start), ry.start + (r1 - sy.start))
        x = photo[prow, rx].astype(np.float32)
        x *= inv
        x *= ab
        x += bb
        x *= square_mask[r0:r1, sx, None]
        np.clip(x, 0.0, 1.0, out=x)
        x *= top
        np.rint(x, out=x)
        out[prow, rx] = x.astype(photo.dtype)
    return out
