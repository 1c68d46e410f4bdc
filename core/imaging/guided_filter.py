"""Guided filter (He, Sun, Tang, TPAMI 2013) with box filters: edge-preserving smoothing.

cv2.ximgproc is not in the headless OpenCV build, so this is the O(N) box-filter
form. It refines the dark-channel-prior transmission map (core.evaluation.baselines)
and is shared with the engine. A grey guide fits q = a * I + b per window; a colour
guide fits q = a . I + b with a per-pixel 3 x 3 covariance (sharper at colour edges).
`subsample` > 1 gives the fast guided filter (He & Sun 2015): coefficients are
computed on a downscaled copy and upsampled, for full-resolution photos.
"""

from __future__ import annotations

import cv2
import numpy as np


def box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, reflected borders (works per channel)."""
    k = 2 * int(radius) + 1
    return cv2.boxFilter(x, ddepth=-1, ksize=(k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def _coefficients_gray(I: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    mean_i = box_mean(I, r)
    var_i = box_mean(I * I, r) - mean_i * mean_i
    if p.ndim == 3:
        mean_i3, var_i3 = mean_i[..., None], var_i[..., None]
        mean_p = box_mean(p, r)
        cov = box_mean(I[..., None] * p, r) - mean_i3 * mean_p
        a = cov / (var_i3 + eps)
        b = mean_p - a * mean_i3
    else:
        mean_p = box_mean(p, r)
        cov = box_mean(I * p, r) - mean_i * mean_p
        a = cov / (var_i + eps)
        b = mean_p - a * mean_i
    return box_mean(a, r), box_mean(b, r)


def _coefficients_color(I: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour guide: a is H x W x 3 per output channel; solve the 3 x 3 system per pixel."""
    mean_i = box_mean(I, r)  # H W 3
    # covariance entries (symmetric): rr rg rb gg gb bb
    idx = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    cov = {}
    for i, j in idx:
        cov[i, j] = box_mean(I[..., i] * I[..., j], r) - mean_i[..., i] * mean_i[..., j]
    s_rr, s_rg, s_rb = cov[0, 0] + eps, cov[0, 1], cov[0, 2]
    s_gg, s_gb, s_bb = cov[1, 1] + eps, cov[1, 2], cov[2, 2] + eps
    # inverse by the adjugate
    inv_rr = s_gg * s_bb - s_gb * s_gb
    inv_rg = s_gb * s_rb - s_rg * s_bb
    inv_rb = s_rg * s_gb - s_gg * s_rb
    inv_gg = s_rr * s_bb - s_rb * s_rb
    inv_gb = s_rb * s_rg - s_rr * s_gb
    inv_bb = s_rr * s_gg - s_rg * s_rg
    det = s_rr * inv_rr + s_rg * inv_rg + s_rb * inv_rb
    channels = [p] if p.ndim == 2 else [p[..., c] for c in range(p.shape[2])]
    a_out, b_out = [], []
    for pc in channels:
        mean_p = box_mean(pc, r)
        c_r = box_mean(I[..., 0] * pc, r) - mean_i[..., 0] * mean_p
        c_g = box_mean(I[..., 1] * pc, r) - mean_i[..., 1] * mean_p
        c_b = box_mean(I[..., 2] * pc, r) - mean_i[..., 2] * mean_p
        a_r = (inv_rr * c_r + inv_rg * c_g + inv_rb * c_b) / det
        a_g = (inv_rg * c_r + inv_gg * c_g + inv_gb * c_b) / det
        a_b = (inv_rb * c_r + inv_gb * c_g + inv_bb * c_b) / det
        a = np.stack([a_r, a_g, a_b], axis=2)
        b = mean_p - (a * mean_i).sum(axis=2)
        a_out.append(box_mean(a, r))
        b_out.append(box_mean(b, r))
    return np.stack(a_out, axis=-1), np.stack(b_out, axis=-1)  # H W 3 C, H W C


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, subsample: int = 1) -> np.ndarray:
    """Edge-preserving smoothing of `src` steered by the edges of `guide`.

    guide: H x W (grey) or H x W x 3 (colour) float. src: H x W or H x W x C float.
    radius: window radius in pixels of the full image. eps: regularisation (in the
    squared units of the guide; 1e-3..1e-2 for [0, 1] images). Returns float32 shaped like src.
    """
    I = np.asarray(guide, np.float32)
    p = np.asarray(src, np.float32)
    if I.shape[:2] != p.shape[:2]:
        raise ValueError(f"guide {I.shape} and source {p.shape} differ in size")
    if I.ndim == 3 and I.shape[2] == 1:
        I = I[..., 0]
    if radius < 1:
        raise ValueError("the guided filter radius must be at least 1 pixel")
    H, W = I.shape[:2]
    s = max(1, int(subsample))
    if s > 1:
        size = (max(1, W // s), max(1, H // s))
        Is = cv2.resize(I, size, interpolation=cv2.INTER_AREA)
        ps = cv2.resize(p, size, interpolation=cv2.INTER_AREA)
        if p.ndim == 3 and ps.ndim == 2:
            ps = ps[..., None]
        r = max(1, int(round(radius / s)))
    else:
        Is, ps, r = I, p, int(radius)
    color = Is.ndim == 3
    if color:
        a, b = _coefficients_color(Is, ps, r, eps)
    else:
        a, b = _coefficients_gray(Is, ps, r, eps)
    if s > 1:
        a = _resize_stack(a, (W, H))
        b = _resize_stack(b, (W, H))
    if color:
        if p.ndim == 2:
            return ((a[..., 0] * I).sum(axis=2) + b[..., 0]).astype(np.float32)
        return ((a * I[..., None]).sum(axis=2) + b).astype(np.float32)
    if p.ndim == 3:
        return (a * I[..., None] + b).astype(np.float32)
    return (a * I + b).astype(np.float32)


def _resize_stack(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an H x W x ... array (cv2 handles at most 512 channels in 2-D)."""
    shape = x.shape
    flat = x.reshape(shape[0], shape[1], -1)
    out = cv2.resize(flat, size, interpolation=cv2.INTER_LINEAR)
    if out.ndim == 2:
        out = out[..., None]
    return out.reshape(size[1], size[0], *shape[2:])
