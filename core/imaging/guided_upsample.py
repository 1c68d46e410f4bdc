"""Carry a low-resolution enhancement to full resolution (fast guided upsampling).

The network runs at a working resolution. Around every working-resolution pixel we
fit the local linear model `output = a * input + b` per channel (the guided filter
of He et al., with the input as guide), upsample the smooth coefficient maps a and b
bilinearly, and apply them to the full-resolution input. Illumination, colour and
contrast corrections carry over, while full-resolution detail (thin vessels, the
disc rim) comes from the original photo rather than from a blurry upscale.
"""

from __future__ import annotations

import cv2
import numpy as np


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
    a = cov_ip / (var_i + eps)
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
