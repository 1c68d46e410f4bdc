"""No-reference measures move the right way on controlled changes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.degrade import sample_params, degrade
from core.evaluation.noref import colour_shift, illumination_uniformity, measure_all, sharpness, vessel_cnr
from tests.core.test_degrade import synthetic_fundus


@pytest.fixture(scope="module")
def fundus():
    """Synthetic fundus, lightly smoothed as camera optics do (real photos have no
    per-pixel white noise, which any blur would remove and so raise any CNR)."""
    img, mask = synthetic_fundus(256, seed=5)
    return cv2.GaussianBlur(img, (0, 0), 0.7) * mask[..., None], mask


def _blur(img, mask, sigma):
    p = sample_params(0, "b")
    p.haze, p.jpeg_quality, p.defocus_sigma = None, None, sigma
    return degrade(img, mask, params=p)[0]


def test_blur_lowers_sharpness_and_vessel_cnr(fundus):
    img, mask = fundus
    s0, c0 = sharpness(img, mask), vessel_cnr(img, mask)
    prev_s, prev_c = s0, c0
    for sigma in (1.5, 3.0, 5.0):
        b = _blur(img, mask, sigma)
        s, c = sharpness(b, mask), vessel_cnr(b, mask)
        assert s < prev_s and c < prev_c, (sigma, s, c)
        prev_s, prev_c = s, c
    assert prev_s < 0.5 * s0


def test_noise_lowers_vessel_cnr(fundus):
    img, mask = fundus
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.05, img.shape), 0, 1).astype(np.float32)
    noisy *= mask[..., None]
    assert vessel_cnr(noisy, mask) < 0.8 * vessel_cnr(img, mask)


def test_halo_and_dark_patch_lower_uniformity(fundus):
    img, mask = fundus
    p = sample_params(1, "i")
    p.color.brightness = p.color.contrast = p.color.saturation = 1.0
    p.color.white_balance = (1.0, 1.0, 1.0)
    p.jpeg_quality = None
    u0 = illumination_uniformity(img, mask)
    halo_only = sample_params(1, "i")
    halo_only.color, halo_only.dark_patch, halo_only.jpeg_quality = None, None, None
    halo_only.halo.inner_diameter, halo_only.halo.gain = 0.8, 1.0
    assert illumination_uniformity(degrade(img, mask, params=halo_only)[0], mask) < u0 - 0.02
    dark_only = sample_params(1, "i")
    dark_only.color, dark_only.halo, dark_only.jpeg_quality = None, None, None
    dark_only.dark_patch.strength = -0.2
    assert illumination_uniformity(degrade(img, mask, params=dark_only)[0], mask) < u0 - 0.05


def test_uniformity_of_an_evenly_lit_disc_is_near_one():
    mask = np.zeros((200, 200), bool)
    cv2.circle(mask.view(np.uint8), (100, 100), 95, 1, -1)
    flat = np.zeros((200, 200, 3), np.float32)
    flat[mask] = (0.7, 0.35, 0.15)
    assert illumination_uniformity(flat, mask) > 0.99
    ramp = flat * np.linspace(0.4, 1.0, 200, dtype=np.float32)[None, :, None]
    assert illumination_uniformity(ramp, mask) < 0.9


def test_measures_are_resolution_and_gain_robust(fundus):
    img, mask = fundus
    big = cv2.resize(img, (512, 512), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    big_mask = cv2.resize(mask.astype(np.uint8), (512, 512), interpolation=cv2.INTER_NEAREST) > 0
    big *= big_mask[..., None]
    assert illumination_uniformity(big, big_mask) == pytest.approx(illumination_uniformity(img, mask), abs=0.01)
    assert sharpness(img * 0.8, mask) == pytest.approx(sharpness(img, mask), rel=0.1)


def test_colour_shift(fundus):
    img, mask = fundus
    assert colour_shift(img, img, mask) == 0.0
    brighter = np.clip(img * 1.1, 0, 1)  # nearly the same chroma direction
    greener = img.copy()
    greener[..., 1] = np.clip(greener[..., 1] + 0.1, 0, 1)
    assert colour_shift(img, greener, mask) > colour_shift(img, brighter, mask)
    assert colour_shift(img, greener, mask) > 5.0


def test_measure_all_keys(fundus):
    img, mask = fundus
    m = measure_all(img, mask)
    assert set(m) == {"illumination_uniformity", "vessel_cnr", "sharpness"}
    m2 = measure_all(img, mask, reference=img)
    assert m2["colour_shift"] == 0.0
    assert all(np.isfinite(v) for v in m2.values())
    with pytest.raises(ValueError):
        measure_all(img, np.zeros_like(mask))


@pytest.mark.data
def test_on_a_real_drive_photo(fundus_data):
    from PIL import Image

    rgb = cv2.cvtColor(cv2.imread(str(fundus_data / "drive/test/images/01_test.tif")), cv2.COLOR_BGR2RGB)
    rgb = rgb.astype(np.float32) / 255.0
    mask = np.asarray(Image.open(fundus_data / "drive/test/mask/01_test_mask.gif").convert("L")) > 127
    base = measure_all(rgb, mask)
    blurred = measure_all(_blur(rgb, mask, 2.0), mask)
    assert blurred["sharpness"] < 0.6 * base["sharpness"]
    assert blurred["vessel_cnr"] < 0.9 * base["vessel_cnr"]
    halo = sample_params(2, "i")
    halo.color, halo.dark_patch, halo.jpeg_quality = None, None, None
    halo.halo.inner_diameter, halo.halo.gain = 0.75, 1.0
    assert illumination_uniformity(degrade(rgb, mask, params=halo)[0], mask) < base["illumination_uniformity"] - 0.02
