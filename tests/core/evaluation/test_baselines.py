"""Classical baselines: run, keep shape/range, keep the outside black, do what they claim."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.degrade import sample_params, degrade
from core.evaluation.baselines import BASELINES, clahe_green, clahe_lab, dark_channel, dcp
from tests.core.test_degrade import synthetic_fundus


@pytest.fixture(scope="module")
def fundus():
    return synthetic_fundus(192, seed=4)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_runs_keeps_shape_range_and_black_outside(fundus, name):
    img, mask = fundus
    out = BASELINES[name](img, mask)
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.all(out[~mask] == 0)
    assert np.abs(out - img)[mask].mean() > 1e-3  # it did something
    # a non-square, cut FOV works too
    out2 = BASELINES[name](img[20:-20], mask[20:-20])
    assert out2.shape == img[20:-20].shape


def _green_contrast(x: np.ndarray, mask: np.ndarray) -> float:
    inner = cv2.erode(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    g = x[..., 1]
    return float((g - cv2.GaussianBlur(g, (0, 0), 5))[inner].std())


def test_clahe_variants_raise_local_contrast_of_a_washed_out_photo(fundus):
    img, mask = fundus
    flat = (0.3 + 0.4 * img) * mask[..., None]  # low contrast
    for fn in (clahe_lab, clahe_green):
        assert _green_contrast(fn(flat, mask), mask) > 1.2 * _green_contrast(flat, mask)


def test_clahe_green_touches_only_green_and_clahe_lab_keeps_chroma(fundus):
    img, mask = fundus
    out = clahe_green(img, mask)
    np.testing.assert_array_equal(out[..., 0], img[..., 0])
    np.testing.assert_array_equal(out[..., 2], img[..., 2])
    lab_in = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)
    lab_out = cv2.cvtColor(clahe_lab(img, mask), cv2.COLOR_RGB2Lab)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.abs(lab_out[..., 1:] - lab_in[..., 1:])[inner].mean() < 1.5


def test_dark_channel_ignores_the_outside(fundus):
    img, mask = fundus
    dc = dark_channel(img + 0.2 * mask[..., None], mask, 7)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert dc[inner].min() >= 0.2 - 1e-6  # the black surround does not leak in


def test_dcp_removes_synthetic_haze(fundus):
    img, mask = fundus
    A = np.array([0.9, 0.85, 0.8], np.float32)
    t = 0.6
    hazy = (img * t + A * (1 - t)) * mask[..., None]
    out = dcp(hazy, mask)
    err_hazy = np.abs(hazy - img)[mask].mean()
    err_out = np.abs(out - img)[mask].mean()
    assert err_out < 0.9 * err_hazy
    # the haze cut local contrast by t = 0.6; dehazing gives most of it back
    assert _green_contrast(hazy, mask) < 0.7 * _green_contrast(img, mask)
    assert _green_contrast(out, mask) > 0.9 * _green_contrast(img, mask)


def test_baselines_on_a_degraded_photo_do_not_crash_for_every_family(fundus):
    img, mask = fundus
    for comb in ("i", "s", "b", "isb"):
        deg, _ = degrade(img, mask, params=sample_params(3, comb))
        for fn in BASELINES.values():
            out = fn(deg, mask)
            assert np.isfinite(out).all()


def test_structured_evens_out_a_dark_patch_and_sharpens(fundus):
    from core.evaluation.baselines import structured  # noqa: PLC0415
    from core.imaging.measures import bandpass_correlation, fov_diameter  # noqa: PLC0415

    img, mask = fundus
    h, w = mask.shape
    yy, xx = np.mgrid[:h, :w]
    shade = (0.45 + 0.55 * (xx / w)).astype(np.float32)  # broad left-to-right vignetting
    dark = img * shade[..., None] * mask[..., None]
    out = structured(dark, mask)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    left, right = inner & (xx < w * 0.35), inner & (xx > w * 0.65)

    def lum(x):
        return x @ np.array([0.299, 0.587, 0.114], np.float32)

    ratio_in = lum(dark)[left].mean() / lum(dark)[right].mean()
    ratio_out = lum(out)[left].mean() / lum(out)[right].mean()
    assert abs(1 - ratio_out) < 0.5 * abs(1 - ratio_in)  # the gain field pulled both sides toward the median
    assert _green_contrast(out, mask) > _green_contrast(dark, mask)  # unsharp masking
    assert bandpass_correlation(dark, out, mask) > 0.7  # no painted structure
    # the gain is relative to the photo's own median: a global exposure is kept, not "corrected"
    full = structured(img, mask)
    unclipped = full < 0.999
    np.testing.assert_allclose(structured(img * 0.5, mask)[unclipped], 0.5 * full[unclipped], atol=0.01)
    assert fov_diameter(mask) > 100
