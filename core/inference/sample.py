"""A fundus-like stand-in input for choosing the inference path before any photo is open."""

from __future__ import annotations

import numpy as np
import torch


def synthetic_input(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(1,3,S,S) image and (1,1,S,S) FOV: an orange, vignetted disc with dark lines and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    r = np.hypot(yy - c, xx - c) / (0.5 * size)
    disc = (r <= 0.98).astype(np.float32)
    shade = 1.0 - 0.4 * r**2
    img = np.stack([0.75 * shade, 0.38 * shade, 0.18 * shade])
    for k in range(8):  # vessel-like dark lines radiating from near the centre
        angle = 2 * np.pi * k / 8 + rng.uniform(0, 0.3)
        dist = np.abs((xx - c) * np.sin(angle) - (yy - c) * np.cos(angle))
        along = (xx - c) * np.cos(angle) + (yy - c) * np.sin(angle)
        line = np.exp(-((dist / max(1.0, size / 300)) ** 2)) * (along > 0)
        img *= 1.0 - 0.4 * line[None]
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    img = np.clip(img, 0, 1) * disc[None]
    return torch.from_numpy(img[None].astype(np.float32)), torch.from_numpy(disc[None, None])
