"""Clipped highlights (a saturated optic disc) come out as they went in."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from core.enhance import Enhancer
from core.imaging.highlights import clipped_weight, keep_clipped_highlights
from core.imaging.types import FundusImage
from tests.synthetic import make_fundus


def _disc_photo(side: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Float photo with a clipped white disc at (180, 128), radius 16, and its FOV."""
    rgb = make_fundus(side, side, seed=3).astype(np.float32) / 255
    fov = rgb.max(axis=2) > 0.04
    cv2.circle(rgb, (180, 128), 16, (1.0, 1.0, 0.9), -1)
    return rgb, fov


def test_weight_is_one_on_clipped_pixels_fades_out_and_ignores_bright_but_unclipped_ones():
    rgb, fov = _disc_photo()
    rgb[40:50, 120:130] = (0.9, 0.85, 0.8)  # bright, not clipped
    w = clipped_weight(rgb, fov)
    assert w[128, 180] == 1.0 and w[128, 180 + 16] == 1.0
    assert 0.0 < w[128, 180 + 19] < 1.0  # soft edge just outside the disc
    assert w[128, 60] == 0.0 and w[45, 125] == 0.0
    assert not clipped_weight(np.full((20, 20, 3), 0.5, np.float32)).any()


def test_keep_clipped_highlights_restores_only_the_clipped_region():
    rgb, fov = _disc_photo()
    darker = rgb * 0.5
    out = keep_clipped_highlights(rgb, darker, fov)
    np.testing.assert_allclose(out[128, 180], rgb[128, 180])
    np.testing.assert_allclose(out[128, 60], darker[128, 60])


class _Darken(torch.nn.Module):
    def forward(self, x, fov=None):
        y = x * 0.5
        return y * fov if fov is not None else y


def test_enhancer_leaves_a_clipped_disc_white_and_darkens_the_rest():
    rgb, _ = _disc_photo(320)
    photo = np.round(rgb * 255).astype(np.uint8)
    result = Enhancer.from_module(_Darken()).enhance(FundusImage(photo, 8, "0" * 64), mode="fast")
    disc = (slice(128 - 6, 128 + 6), slice(180 - 6, 180 + 6))
    assert np.abs(result.pixels[disc].astype(int) - photo[disc].astype(int)).max() <= 3  # no invented dark cup
    retina = photo[200:220, 100:120].astype(int)
    assert np.abs(result.pixels[200:220, 100:120].astype(int) - retina // 2).max() <= 4
