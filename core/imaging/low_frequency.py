"""Carry one image's low frequencies onto another (tiled mode with a whole-image colour head).

In tiled mode each tile goes through the network alone, so a head that judges
illumination and colour from the whole photo (core.models.global_colour) sees
only a tile. One extra pass of the whole photo at the working size gives the
right illumination; this keeps the tiles' fine detail and takes the broad
shading from that pass. Vessels are in both images, so they cancel in the
difference: only the broad correction moves.
"""

from __future__ import annotations

import cv2
import numpy as np


def masked_blur(img: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur inside the mask (normalised, so the black outside does not bleed in).

    Wide blurs are taken at 1/f resolution (sigma >= 4 px there) and upsampled: the same
    shading, many times faster than a full-size Gaussian (the evaluation runs one per case
    and method).
    """
    h, w = img.shape[:2]
    m = mask.astype(np.float32)
    f = max(1, int(sigma // 4))

    def low(a: np.ndarray) -> np.ndarray:
        if f > 1:
            a = cv2.resize(a, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        a = cv2.GaussianBlur(a, (0, 0), sigma / f)
        return cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR) if f > 1 else a

    num = low(img.astype(np.float32) * m[..., None]).reshape(h, w, -1)
    den = low(m).reshape(h, w, 1)
    return num / np.maximum(den, 1e-3)


def carry_low_frequencies(
    detail: np.ndarray, detail_mask: np.ndarray, reference: np.ndarray, reference_mask: np.ndarray, sigma: float
) -> np.ndarray:
    """`detail` (N x N x 3) with the low frequencies of `reference` (n x n x 3, n <= N).

    sigma is in reference pixels. Returns float32 in [0, 1], zero outside detail_mask.
    """
    n = reference.shape[0]
    big = detail.shape[0]
    small = cv2.resize(detail, (n, n), interpolation=cv2.INTER_AREA) if big != n else detail
    delta = masked_blur(reference, reference_mask, sigma) - masked_blur(small, reference_mask, sigma)
    if big != n:
        delta = cv2.resize(delta, (big, big), interpolation=cv2.INTER_LINEAR)
    return np.clip(detail + delta, 0.0, 1.0) * detail_mask[..., None].astype(np.float32)
