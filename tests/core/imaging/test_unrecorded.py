"""Pixels the camera did not record (a clipped optic disc, black padding) come out as they went in."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from core.enhance import Enhancer
from core.imaging.types import FundusImage
from core.imaging.unrecorded import keep_unrecorded, unrecorded_mask, unrecorded_weight
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
    w = unrecorded_weight(rgb, fov)
    assert w[128, 180] == 1.0 and w[128, 180 + 16] == 1.0
    assert 0.0 < w[128, 180 + 19] < 1.0  # soft edge just outside the disc
    assert w[128, 60] == 0.0 and w[45, 125] == 0.0
    assert not unrecorded_weight(np.full((20, 20, 3), 0.5, np.float32)).any()


def test_black_band_inside_the_fov_counts_but_dark_retina_and_the_fov_rim_do_not():
    rgb, fov = _disc_photo()
    band = rgb.copy()
    band[200:230] = 0.0  # padding above a straight cut, inside the fitted FOV circle
    band[100:110, 60:80] = 0.03  # underexposed but recorded retina (about 8/255)
    rim = fov & ~(cv2.erode(fov.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)  # 1 px
    band[rim] = 0.005  # the FOV edge blended with the black surround by resizing
    m = unrecorded_mask(band, fov)
    assert m[210, 128] and m[220, 100]
    assert not m[105, 70]
    assert not (m & rim & (np.arange(256)[:, None] < 190)).any()


def test_keep_unrecorded_restores_only_those_regions():
    rgb, fov = _disc_photo()
    darker = rgb * 0.5
    out = keep_unrecorded(rgb, darker, fov)
    np.testing.assert_allclose(out[128, 180], rgb[128, 180])
    np.testing.assert_allclose(out[128, 60], darker[128, 60])


class _Darken(torch.nn.Module):
    def forward(self, x, fov=None):
        y = x * 0.5
        return y * fov if fov is not None else y


class _Lift(torch.nn.Module):
    """Lifts everything towards orange, as the network does with a dark patch."""

    def forward(self, x, fov=None):
        y = 0.5 * x + torch.tensor([0.4, 0.2, 0.1]).view(1, 3, 1, 1)
        return y * fov if fov is not None else y


def _enhance(module, photo):
    return Enhancer.from_module(module).enhance(FundusImage(photo, 8, "0" * 64), mode="fast").pixels


def test_enhancer_leaves_a_clipped_disc_white_and_darkens_the_rest():
    rgb, _ = _disc_photo(320)
    photo = np.round(rgb * 255).astype(np.uint8)
    out = _enhance(_Darken(), photo)
    disc = (slice(128 - 6, 128 + 6), slice(180 - 6, 180 + 6))
    assert np.abs(out[disc].astype(int) - photo[disc].astype(int)).max() <= 3  # no invented dark cup
    assert np.abs(out[200:220, 100:120].astype(int) - photo[200:220, 100:120].astype(int) // 2).max() <= 4


def test_enhancer_does_not_paint_a_black_band_inside_the_fov():
    photo = make_fundus(320, 320, seed=5)
    photo[250:] = 0  # a straight cut: the retina stops, the fitted FOV circle goes on
    out = _enhance(_Lift(), photo)
    assert out[262:275, 120:200].max() <= 6  # still black, not lifted to orange
    assert out[150:170, 150:170, 0].mean() > photo[150:170, 150:170, 0].mean() * 0.5 + 80  # the retina is lifted
