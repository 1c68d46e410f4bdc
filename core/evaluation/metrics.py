"""Full-reference image metrics and vessel-segmentation metrics, inside the field of view.

The black surround would inflate PSNR/SSIM and accuracy, so every score is taken
over the FOV pixels only (MAGE-NET.md section 5).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from core.imaging.low_frequency import carry_low_frequencies

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _as_mask(fov: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if fov is None:
        return np.ones(shape, bool)
    m = np.asarray(fov)
    m = m > 0.5 if m.dtype != bool else m
    if m.shape != shape:
        raise ValueError(f"FOV mask {m.shape} does not match the image {shape}")
    if not m.any():
        raise ValueError("the FOV mask is empty")
    return m


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    return a, b


def psnr(x: np.ndarray, y: np.ndarray, fov: np.ndarray | None = None, data_range: float = 1.0) -> float:
    """PSNR in dB over the FOV pixels (all channels). Identical images give +inf."""
    a, b = _pair(x, y)
    m = _as_mask(fov, a.shape[:2])
    mse = float(((a - b) ** 2)[m].mean())
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def colour_corrected(x: np.ndarray, y: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
    """x after the per-channel gain and offset (least squares inside the FOV) that bring it closest to y.

    An oracle: it uses the reference. PSNR after it says how much of x's error is a global
    colour or brightness difference, which no method can remove when the photo itself does
    not reveal its true colour.
    """
    a, b = _pair(x, y)
    m = _as_mask(fov, a.shape[:2])
    out = a.copy()
    for c in range(a.shape[2]):
        xa, ya = a[..., c][m], b[..., c][m]
        design = np.stack([xa, np.ones_like(xa)], axis=1)
        gain, offset = np.linalg.lstsq(design, ya, rcond=None)[0]
        out[..., c] = a[..., c] * gain + offset
    return np.clip(out, 0.0, 1.0).reshape(np.shape(x))


def low_frequencies_replaced(x: np.ndarray, y: np.ndarray, fov: np.ndarray | None, sigma: float) -> np.ndarray:
    """x with its low frequencies (Gaussian sigma, normalised inside the FOV) taken from y: an oracle
    for "everything broader than sigma corrected" (illumination, haze, colour), detail kept."""

    a, b = _pair(x, y)
    m = _as_mask(fov, a.shape[:2])
    out = carry_low_frequencies(a.astype(np.float32), m, b.astype(np.float32), m, sigma)
    return out.reshape(np.shape(x))


def ssim_map(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004), Gaussian window 11 x 11, sigma 1.5, per channel.

    Local statistics with a normalised Gaussian window and reflected borders, no
    sample-covariance correction (as skimage's structural_similarity with
    gaussian_weights=True, use_sample_covariance=False). Returns H x W x C.
    """
    a, b = _pair(x, y)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    out = np.empty(a.shape, np.float64)

    def g(v: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(v, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    for ch in range(a.shape[2]):
        p, q = np.ascontiguousarray(a[..., ch]), np.ascontiguousarray(b[..., ch])
        mp, mq = g(p), g(q)
        vp = g(p * p) - mp * mp
        vq = g(q * q) - mq * mq
        cov = g(p * q) - mp * mq
        out[..., ch] = ((2 * mp * mq + c1) * (2 * cov + c2)) / ((mp * mp + mq * mq + c1) * (vp + vq + c2))
    return out


def ssim(x: np.ndarray, y: np.ndarray, fov: np.ndarray | None = None, data_range: float = 1.0) -> float:
    """Mean SSIM: computed on the full image per channel, averaged over channels and FOV pixels."""
    smap = ssim_map(x, y, data_range)
    m = _as_mask(fov, smap.shape[:2])
    return float(smap.mean(axis=2)[m].mean())


# ----------------------------------------------------------------------------- vessel segmentation


def _scores_labels(scores: np.ndarray, labels: np.ndarray, fov: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, np.float64)
    lab = np.asarray(labels)
    lab = lab > 0.5 if lab.dtype != bool else lab
    if s.shape != lab.shape:
        raise ValueError(f"scores {s.shape} and labels {lab.shape} differ in shape")
    m = _as_mask(fov, s.shape) if s.ndim == 2 else (np.ones(s.shape, bool) if fov is None else np.asarray(fov, bool))
    return s[m].ravel(), lab[m].ravel()


def roc_auc(scores: np.ndarray, labels: np.ndarray, fov: np.ndarray | None = None) -> float:
    """Area under the ROC curve over the FOV pixels (Mann-Whitney U with mid-ranks for ties).

    Equals the probability that a random vessel pixel scores above a random
    background pixel, ties counting one half.
    """
    s, y = _scores_labels(scores, labels, fov)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both vessel and background pixels inside the FOV")
    # U = sum over vessel pixels of (#background below + half #background tied): one sort of the
    # background scores and two binary searches, exact and several times faster than ranking all pixels.
    neg = np.sort(s[~y])
    pos = s[y]
    below = np.searchsorted(neg, pos, side="left")
    tied = np.searchsorted(neg, pos, side="right") - below
    u = float(below.sum(dtype=np.float64)) + 0.5 * float(tied.sum(dtype=np.float64))
    return u / (n_pos * float(n_neg))


def segmentation_metrics(
    scores: np.ndarray, labels: np.ndarray, fov: np.ndarray | None = None, threshold: float = 0.5
) -> dict[str, float]:
    """AUC (threshold-free), and accuracy, IoU, Dice, sensitivity, specificity at `threshold`, in the FOV."""
    s, y = _scores_labels(scores, labels, fov)
    pred = s >= threshold
    tp = float(np.count_nonzero(pred & y))
    tn = float(np.count_nonzero(~pred & ~y))
    fp = float(np.count_nonzero(pred & ~y))
    fn = float(np.count_nonzero(~pred & y))
    n = tp + tn + fp + fn
    union = tp + fp + fn
    return {
        "auc": roc_auc(scores, labels, fov),
        "accuracy": (tp + tn) / n,
        "iou": tp / union if union else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
        "sensitivity": tp / (tp + fn) if tp + fn else 1.0,
        "specificity": tn / (tn + fp) if tn + fp else 1.0,
    }


def recovery_ratio(enhanced: float, low: float, high: float) -> float:
    """(enhanced - low) / (high - low): the share of the degradation gap an enhancer closes."""
    if high == low:
        raise ValueError("the clean and degraded scores are equal, so no gap is left to recover")
    return (enhanced - low) / (high - low)
