"""core.degrade: reproducible, scaled to the FOV, every combination does something."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from core.degrade import (
    COMBINATIONS,
    DEFAULT_RANGES,
    DegradeParams,
    FovGeometry,
    degrade,
    fov_geometry,
    ranges_with,
    sample_params,
)
from core.errors import UnsupportedImageError


def synthetic_fundus(size: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Orange disc with dark 'vessels', a bright 'optic disc' and fine texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    c = (size - 1) / 2.0
    r = np.hypot(xx - c, yy - c)
    mask = r <= size * 0.47
    img = np.zeros((size, size, 3), np.float32)
    img[..., 0], img[..., 1], img[..., 2] = 0.75, 0.38, 0.18
    for k in range(6):
        ang = k * np.pi / 3
        d = np.abs((xx - c) * np.sin(ang) - (yy - c) * np.cos(ang))
        img *= (1.0 - 0.35 * np.exp(-(d / (size / 150)) ** 2))[..., None]
    img += 0.25 * np.exp(-(((xx - 0.7 * size) ** 2 + (yy - c) ** 2) / (2 * (size / 20) ** 2)))[..., None]
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    img = np.clip(img, 0, 1) * mask[..., None]
    return img.astype(np.float32), mask


@pytest.fixture(scope="module")
def fundus():
    return synthetic_fundus(256)


def test_same_seed_same_output_different_seed_differs(fundus):
    img, mask = fundus
    a, pa = degrade(img, mask, "isb", seed=3)
    b, pb = degrade(img, mask, "isb", seed=3)
    c, _ = degrade(img, mask, "isb", seed=4)
    assert np.array_equal(a, b)
    assert pa.to_dict() == pb.to_dict()
    assert not np.array_equal(a, c)


def test_generator_seed_is_accepted(fundus):
    img, mask = fundus
    a, _ = degrade(img, mask, "is", seed=np.random.default_rng(11))
    b, _ = degrade(img, mask, "is", seed=np.random.default_rng(11))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_params_round_trip_through_json_is_bit_identical(fundus, combination):
    img, mask = fundus
    out, params = degrade(img, mask, combination, seed=21)
    text = json.dumps(params.to_dict())
    again, params2 = degrade(img, mask, params=json.loads(text))
    assert np.array_equal(out, again)
    assert params2.to_dict() == params.to_dict()
    again2, _ = degrade(img, mask, params=DegradeParams.from_dict(json.loads(text)))
    assert np.array_equal(out, again2)


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_every_combination_changes_the_image_and_keeps_outside_black(fundus, combination):
    img, mask = fundus
    for seed in range(3):
        out, params = degrade(img, mask, combination, seed=seed)
        assert out.dtype == np.float32 and out.shape == img.shape
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert np.all(out[~mask] == 0.0)
        changed = (np.abs(out - img).max(axis=2) > 0.02)[mask].mean()
        assert changed > 0.005, (combination, seed, changed)
        assert params.combination == combination
        assert ("i" in combination) == (params.color is not None)
        assert ("s" in combination) == bool(params.spots)
        assert ("b" in combination) == (params.defocus_sigma is not None)


def test_input_is_not_modified(fundus):
    img, mask = fundus
    before = img.copy()
    for comb in COMBINATIONS:
        degrade(img, mask, comb, seed=1)
    assert np.array_equal(img, before)


def test_random_combination_covers_all():
    rng = np.random.default_rng(0)
    seen = {sample_params(rng).combination for _ in range(200)}
    assert seen == set(COMBINATIONS)


def test_bad_combination_and_bad_inputs(fundus):
    img, mask = fundus
    for bad in ("", "x", "bi", "iss"):
        with pytest.raises(ValueError):
            sample_params(0, bad)
    with pytest.raises(UnsupportedImageError):
        degrade(img[..., 0], mask, "i", seed=0)
    with pytest.raises(UnsupportedImageError):
        degrade(img, mask[:10], "i", seed=0)
    with pytest.raises(UnsupportedImageError):
        degrade(img, np.zeros_like(mask), "i", seed=0)


def test_dark_patch_needs_a_bright_enough_photo(fundus):
    img, mask = fundus
    p = sample_params(5, "i")
    p.color.brightness, p.color.contrast, p.color.saturation = 1.0, 1.0, 1.0
    _, bright = degrade(img, mask, params=p)
    _, dark = degrade(img * 0.3, mask, params=p)
    assert bright.dark_patch.strength < -0.15
    assert dark.dark_patch.strength == 0.0


def test_blur_family_lowers_high_frequencies(fundus):
    img, mask = fundus
    p = sample_params(2, "b")
    p.haze, p.jpeg_quality, p.defocus_sigma = None, None, 3.0
    out, _ = degrade(img, mask, params=p)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    lap = lambda x: cv2.Laplacian(x[..., 1], cv2.CV_32F)[inner].var()  # noqa: E731
    assert lap(out) < 0.3 * lap(img)
    # no dark rim: masked blur keeps the FOV edge as bright as before
    rim = mask & ~inner
    assert out[rim].mean() > 0.9 * img[rim].mean()


def test_geometry_of_a_cut_fov():
    mask = np.zeros((300, 400), bool)
    yy, xx = np.mgrid[:300, :400]
    mask[(xx - 200) ** 2 + (yy - 150) ** 2 <= 170**2] = True
    mask[:20] = False  # cut top
    mask[280:] = False  # and bottom
    g = fov_geometry(mask)
    assert abs(g.cx - 200) < 1 and abs(g.cy - 150) < 1.5 and abs(g.diameter - 341) < 2


def test_scale_invariance_1024_vs_upscaled_512():
    """The same parameters on a 2x image give (about) the 2x version of the 1x result."""
    img, mask = synthetic_fundus(256, seed=1)
    # smooth the texture so resampling itself does not dominate the comparison
    img = cv2.GaussianBlur(img, (0, 0), 1.0) * mask[..., None]
    big = cv2.resize(img, (512, 512), interpolation=cv2.INTER_LINEAR)
    big_mask = cv2.resize(mask.astype(np.uint8), (512, 512), interpolation=cv2.INTER_NEAREST) > 0
    big *= big_mask[..., None]
    inner = cv2.erode(big_mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    for comb in ("i", "s", "b", "isb"):
        p = sample_params(9, comb)
        p.jpeg_quality = None
        small_out, _ = degrade(img, mask, params=p)
        big_out, _ = degrade(big, big_mask, params=p)
        up = cv2.resize(small_out, (512, 512), interpolation=cv2.INTER_LINEAR)
        err = np.abs(up - big_out)[inner].mean()
        change = np.abs(big_out - big)[inner].mean()
        assert err < 0.05 * change + 0.002, (comb, err, change)


def test_geometry_override_for_crops():
    """A crop degraded with the parent's geometry matches the same crop of the degraded parent."""
    img, mask = synthetic_fundus(256, seed=2)
    p = sample_params(4, "is")
    p.jpeg_quality = None
    whole, resolved = degrade(img, mask, params=p)
    geo = fov_geometry(mask)
    y0, x0 = 60, 70
    crop_geo = FovGeometry(geo.cx - x0, geo.cy - y0, geo.diameter)
    crop, _ = degrade(img[y0 : y0 + 128, x0 : x0 + 128], mask[y0 : y0 + 128, x0 : x0 + 128],
                      params=resolved, geometry=crop_geo)
    # fields are drawn on a coarse grid, so allow a small interpolation difference
    assert np.abs(crop - whole[y0 : y0 + 128, x0 : x0 + 128]).max() < 0.03


def test_jpeg_option(fundus):
    img, mask = fundus
    p = sample_params(1, "s")
    p.jpeg_quality = None
    clean, _ = degrade(img, mask, params=p)
    p.jpeg_quality = 70
    jpg, _ = degrade(img, mask, params=p)
    assert not np.array_equal(clean, jpg)
    assert np.all(jpg[~mask] == 0)
    assert np.abs(clean - jpg)[mask].mean() < 0.03


def test_wide_blur_shortcut_matches_the_exact_blur():
    """Big photos blur on a shrunk copy; the result must match the full-size blur closely."""
    from core.degrade import _masked_blur

    img, mask = synthetic_fundus(400, seed=3)
    m = mask.astype(np.float32)
    sigma = 12.0
    fast = _masked_blur(img, m, sigma)
    num = cv2.GaussianBlur(img * m[..., None], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    exact = num / np.maximum(den, 1e-3)[..., None]
    inner = cv2.erode(mask.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    err = np.abs(fast - exact)[inner].mean()
    change = np.abs(exact - img)[inner].mean()
    assert err < 0.05 * change, (err, change)


def test_geometry_from_detected_fov():
    from core.imaging.fov import detect_fov

    img, mask = synthetic_fundus(256, seed=0)
    fov = detect_fov(img)
    g = FovGeometry.from_fov(fov)
    ref = fov_geometry(mask)
    assert abs(g.cx - ref.cx) < 2 and abs(g.cy - ref.cy) < 2 and abs(g.diameter - ref.diameter) < 4
    a, p = degrade(img, mask, "isb", seed=1, geometry=g)
    b, _ = degrade(img, mask, params=p, geometry=g)
    assert np.array_equal(a, b)


def test_ranges_with_widens_the_veil_tint_and_refuses_bad_names(fundus):
    """A training config can sample greener cataract veils than the test's defaults (real CSDI photos
    reach a median G/R of 0.9-1.1, the default haze at most ~0.8); the rest of the draw is unchanged."""
    img, mask = fundus
    m = mask.astype(np.float32)

    def green_red(ranges) -> float:
        out, params = degrade(img, m, "b", seed=7, ranges=ranges)
        assert params.haze is not None
        med = np.median(out[mask], axis=0)
        return float(med[1] / med[0])

    yellow = ranges_with({"haze_probability": 1.0, "haze_green": (0.8, 0.8), "haze_strength": (0.6, 0.6)})
    green = ranges_with({"haze_probability": 1.0, "haze_green": [1.3, 1.3], "haze_strength": [0.6, 0.6]})
    assert green.haze_green == (1.3, 1.3) and isinstance(green.haze_green, tuple)
    assert green.defocus_sigma == DEFAULT_RANGES.defocus_sigma  # only what was named changes
    assert green_red(green) > green_red(yellow) + 0.1
    assert ranges_with(None) is DEFAULT_RANGES and ranges_with({}) is DEFAULT_RANGES
    for bad in ({"haze_grean": [1, 2]}, {"haze_green": [1.0]}, {"haze_green": [1.2, 0.9]}, {"haze_probability": [0.1, 0.2]}):
        with pytest.raises(ValueError):
            ranges_with(bad)
