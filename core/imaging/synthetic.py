"""Stand-in photos of a given size for the speed benches, when the research data is absent.

The bundled CC0 sample scaled into a centred disc (a drawn disc when no sample is
installed); a seed adds a little noise, so stand-ins of one size are distinct files
and a batch's duplicate check does not skip them.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

import core.paths
from core.imaging import read, write

SAMPLE_NAME = "fundus_normal_left_eye_cc0.jpg"


def sample_disc(size: tuple[int, int]) -> np.ndarray:
    """(height, width) RGB uint8: the bundled sample as a centred disc on black."""

    h, w = size
    sample = core.paths.resources_dir() / "samples" / SAMPLE_NAME
    if not sample.is_file():
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.hypot(yy - h / 2, xx - w / 2) / (0.48 * min(h, w))
        disc = np.dstack([0.75, 0.38, 0.18]) * (1 - 0.35 * r[..., None] ** 2) * (r[..., None] <= 1) * 255
        return disc.astype(np.uint8)
    rgb = read(sample).pixels
    side = min(h, w)
    shrink = side < rgb.shape[0]
    disc = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    canvas = np.zeros((h, w, 3), np.uint8)
    y0, x0 = (h - side) // 2, (w - side) // 2
    canvas[y0:y0 + side, x0:x0 + side] = disc
    return canvas


def synthetic_photo(path: str | os.PathLike[str], size: tuple[int, int], seed: int | None = None) -> None:
    """Write a stand-in photo of (height, width); with `seed`, +-3 levels of noise inside the disc."""

    canvas = sample_disc(size)
    if seed is not None:
        rng = np.random.default_rng(seed)
        noisy = np.clip(canvas.astype(np.int16) + rng.integers(-3, 4, canvas.shape), 0, 255).astype(np.uint8)
        canvas = noisy * (canvas > 0)
    write(path, canvas, quality=95)
