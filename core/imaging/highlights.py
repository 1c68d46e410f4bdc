"""Clipped highlights stay as photographed: no enhancement may invent structure where the
camera recorded none.

A saturated optic disc (red and green at the top of the range) holds no detail. A network
trained to remove bright spots and halos will "repair" it into a dark-red blob that looks
like a deep cup, which a reader could take for glaucomatous cupping. Where the input is
clipped, the enhanced picture is pulled back to the input with a soft edge, so the rest of
the photo is enhanced as before.
"""

from __future__ import annotations

import cv2
import numpy as np

CLIP_LEVEL = 0.96
"""Red and green both at or above this (of full scale) count as clipped."""


def clipped_weight(rgb: np.ndarray, fov: np.ndarray | None = None, level: float = CLIP_LEVEL) -> np.ndarray:
    """Per-pixel weight in [0, 1]: 1 on clipped pixels, fading to 0 a little way around them.

    rgb: float H x W x 3 in [0, 1]. The fade is ~1.5 % of the image side, enough to cover the
    bright rim the network would otherwise darken around a clipped disc.
    """
    clipped = (rgb[..., 0] >= level) & (rgb[..., 1] >= level)
    if fov is not None:
        clipped &= np.asarray(fov, dtype=bool)
    if not clipped.any():
        return np.zeros(rgb.shape[:2], np.float32)
    side = max(rgb.shape[:2])
    r = max(1, int(round(0.01 * side)))
    grown = cv2.dilate(clipped.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    w = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), max(0.5, 0.5 * r))
    return np.maximum(w, clipped.astype(np.float32)).clip(0.0, 1.0)


def keep_clipped_highlights(inp: np.ndarray, out: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
    """`out` with clipped regions of `inp` restored (soft-edged); both float H x W x 3 in [0, 1]."""
    w = clipped_weight(inp, fov)
    if not w.any():
        return out
    return (out + w[..., None] * (inp - out)).astype(out.dtype, copy=False)
