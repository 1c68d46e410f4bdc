"""Where the camera recorded nothing, the enhanced photo shows what was photographed.

Two kinds of pixel inside the field of view hold no retinal detail:

* clipped highlights: a saturated optic disc (red and green at the top of the range). A
  network trained to remove bright spots and halos "repairs" it into a dark-red blob that
  looks like a deep cup, which a reader could take for glaucomatous cupping;
* black: padding or a vignetted band above a straight-cut aperture (all channels at the
  bottom of the range). The network lifts it like a dark patch into flat orange with no
  detail in it.

In both, the enhanced picture is pulled back to the input with a soft edge, so the rest of
the photo is enhanced as before. Dark but recorded retina (an underexposed photo) is well
above the black level and is enhanced normally.
"""

from __future__ import annotations

import cv2
import numpy as np

CLIP_LEVEL = 0.96
"""Red and green both at or above this (of full scale) count as clipped."""
BLACK_LEVEL = 3.5 / 255
"""Every channel at or below this (of full scale) counts as black (no signal)."""


def unrecorded_mask(rgb: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
    """Clipped or black pixels (inside `fov` when given); rgb float H x W x 3 in [0, 1]."""
    clipped = (rgb[..., 0] >= CLIP_LEVEL) & (rgb[..., 1] >= CLIP_LEVEL)
    black = rgb.max(axis=2) <= BLACK_LEVEL
    if fov is None:
        return clipped | black
    fov = np.asarray(fov, dtype=bool)
    # black is judged a few pixels inside the FOV edge, where resizing blends in the surround
    r = max(1, int(round(0.004 * max(rgb.shape[:2]))))
    inner = cv2.erode(fov.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    return (clipped & fov) | (black & inner)


def unrecorded_weight(rgb: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel weight in [0, 1]: 1 on unrecorded pixels, fading to 0 a little way around them.

    The fade is ~1.5 % of the image side, enough to cover the bright rim the network would
    otherwise darken around a clipped disc.
    """
    mask = unrecorded_mask(rgb, fov)
    if not mask.any():
        return np.zeros(rgb.shape[:2], np.float32)
    side = max(rgb.shape[:2])
    r = max(1, int(round(0.01 * side)))
    grown = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    w = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), max(0.5, 0.5 * r))
    return np.maximum(w, mask.astype(np.float32)).clip(0.0, 1.0)


def keep_unrecorded(inp: np.ndarray, out: np.ndarray, fov: np.ndarray | None = None) -> np.ndarray:
    """`out` with the unrecorded regions of `inp` restored (soft-edged); both float H x W x 3 in [0, 1]."""
    w = unrecorded_weight(inp, fov)
    if not w.any():
        return out
    return (out + w[..., None] * (inp - out)).astype(out.dtype, copy=False)
