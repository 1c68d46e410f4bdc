"""The do-no-harm measures on constructed fundus-like photos (no research data)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from core.imaging import measures as M
from tests.synthetic import make_fundus

SIDE = 400


def _fundus(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A make_fundus photo with a dark macula and a few microaneurysm-like dots, as float RGB + FOV."""
    img = make_fundus(SIDE, SIDE, radius=0.47 * SIDE, seed=seed).astype(np.float32) / 255
    yy, xx = np.mgrid[:SIDE, :SIDE]
    fov = np.hypot(yy - SIDE / 2, xx - SIDE / 2) <= 0.47 * SIDE - 1
    macula = 1.0 - 0.4 * np.exp(-(np.hypot(yy - SIDE / 2, xx - 0.35 * SIDE) / (0.07 * SIDE)) ** 2)
    img *= macula[..., None].astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    for _ in range(6):
        y, x = rng.integers(int(0.3 * SIDE), int(0.7 * SIDE), 2)
        cv2.circle(img, (int(x), int(y)), 1, (0.25, 0.1, 0.05), -1, cv2.LINE_AA)
    return np.clip(img, 0, 1) * fov[..., None], fov


def _affine(img: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """A global per-channel gain and offset (exposure and white balance), no structure change."""
    gain = np.array([0.6, 0.8, 1.3], np.float32)
    offset = np.array([0.03, 0.0, -0.01], np.float32)
    return np.clip(img * gain + offset, 0, 1) * fov[..., None]


def _blotch(img: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """A bright painted patch with an edge over a quarter of the FOV."""
    out = img.copy()
    patch = np.zeros(fov.shape, np.float32)
    cv2.circle(patch, (int(0.35 * SIDE), int(0.4 * SIDE)), int(0.12 * SIDE), 1.0, -1)
    patch = cv2.GaussianBlur(patch, (0, 0), 2.0)
    out = out * (1 + 0.6 * patch[..., None])
    return np.clip(out, 0, 1) * fov[..., None]


def _filled_macula(seed: int = 0) -> np.ndarray:
    """The same photo without its dark macula (what an enhancer that 'fixes' dark areas does)."""
    ref, fov = _fundus(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    macula = 1.0 - 0.4 * np.exp(-(np.hypot(yy - SIDE / 2, xx - 0.35 * SIDE) / (0.07 * SIDE)) ** 2)
    return np.clip(ref / macula[..., None].astype(np.float32), 0, 1) * fov[..., None]


def _sharpened(img: np.ndarray, fov: np.ndarray) -> np.ndarray:
    blur = cv2.GaussianBlur(img, (0, 0), 2.0)
    return np.clip(img + 1.5 * (img - blur), 0, 1) * fov[..., None]


def test_fov_diameter_of_a_cut_disc_is_its_width():
    fov = np.zeros((100, 140), bool)
    yy, xx = np.mgrid[:100, :140]
    fov[(np.hypot(yy - 50, xx - 70) <= 60) & (yy >= 10) & (yy < 90)] = True
    assert M.fov_diameter(fov) == 121.0
    with pytest.raises(ValueError):
        M.fov_diameter(np.zeros((4, 4), bool))


def test_affine_colour_change_scores_as_identity_on_every_measure():
    img, fov = _fundus()
    shifted = _affine(img, fov)
    assert M.structure_psnr(shifted, img, fov) >= 45.0  # only 8-bit-free float rounding and clipping left
    assert M.structure_psnr(img, img, fov) == M.PSNR_CAP_DB
    assert M.bandpass_correlation(img, shifted, fov) > 0.99
    ratio = M.vessel_contrast_ratio(shifted, img, fov)
    assert ratio is not None and abs(ratio - 1) < 0.03
    assert 0.9 <= M.blob_ratio(shifted, img, fov) <= 1.1
    # a pure gain is exactly the identity for every measure
    gained = img * np.float32(0.55)
    assert M.bandpass_correlation(img, gained, fov) > 0.9999
    assert M.vessel_contrast_ratio(gained, img, fov) == pytest.approx(1.0, abs=1e-3)
    assert M.blob_counts(gained, fov) == M.blob_counts(img, fov)
    assert M.guard_score(img, shifted, fov) > 0.99


def test_painted_blotch_drops_structure_psnr_and_correlation():
    img, fov = _fundus()
    bad = _blotch(img, fov)
    shifted = _affine(img, fov)
    assert M.structure_psnr(bad, img, fov) < 30.0 < M.structure_psnr(shifted, img, fov)
    assert M.bandpass_correlation(img, bad, fov) < M.bandpass_correlation(img, shifted, fov) - 0.1
    assert M.guard_score(img, bad, fov) < 0.9


def test_filled_in_macula_drops_structure_psnr_and_correlation():
    img, fov = _fundus()
    filled = _filled_macula()
    assert M.structure_psnr(filled, img, fov) < 35.0
    same = M.bandpass_correlation(img, _affine(img, fov), fov)
    assert M.bandpass_correlation(img, filled, fov) < min(0.95, same - 0.05)
    # the band-pass image holds the macula as a dark dip; it is gone from the filled one
    cy, cx = SIDE // 2, int(0.35 * SIDE)
    assert M.bandpass(img, fov)[cy, cx] < -0.1 and M.bandpass(filled, fov)[cy, cx] > -0.05


def test_sharpened_copy_raises_the_vessel_contrast_ratio_and_a_veil_lowers_it():
    img, fov = _fundus()
    assert M.vessel_contrast_ratio(_sharpened(img, fov), img, fov) > 1.2
    veiled = np.clip(img * 0.7 + 0.2, 0, 1) * fov[..., None]
    assert M.vessel_contrast_ratio(veiled, img, fov) < 0.8
    v = M.vessel_pixels(img, fov)
    assert 0.05 < v.sum() / fov.sum() < 0.12  # about the top decile of the eroded FOV
    assert M.weber_vessel_contrast(img, fov, v) > 0.05


def test_vessel_pixels_cover_the_drawn_vessels():
    img, fov = _fundus()
    ref = make_fundus(SIDE, SIDE, radius=0.47 * SIDE, seed=0).astype(np.float32)
    # the drawn vessels are where make_fundus darkened the disc: compare against its smooth shading
    g = ref[..., 1]
    dark = (g < 0.85 * cv2.GaussianBlur(g, (0, 0), 4)) & cv2.erode(fov.astype(np.uint8), np.ones((31, 31))).astype(bool)
    v = M.vessel_pixels(img, fov)
    assert dark.sum() > 500
    assert (v & dark).sum() / dark.sum() > 0.8  # the top decile holds the vessels (they are ~3 % here)
    assert (v & dark).sum() / v.sum() > 3 * dark.sum() / fov.sum()  # far above chance


def test_flat_input_has_no_vessel_ratio():
    fov = np.zeros((128, 128), bool)
    cv2.circle(fov.view(np.uint8), (64, 64), 60, 1, -1)
    flat = np.full((128, 128, 3), 0.4, np.float32) * fov[..., None]
    assert M.vessel_contrast_ratio(flat, flat, fov) is None


def test_added_noise_raises_the_blob_count_and_dots_are_found():
    img, fov = _fundus()
    base = M.blob_counts(img, fov)
    assert base.dark >= 3  # the painted microaneurysm-like dots
    noisy = np.clip(img + np.random.default_rng(5).normal(0, 0.03, img.shape).astype(np.float32), 0, 1)
    noisy *= fov[..., None]
    more = M.blob_counts(noisy, fov)
    assert more.total > 2 * base.total + 10
    assert M.blob_ratio(noisy, img, fov) > 2.0
    assert M.blob_counts(img, fov).total == base.dark + base.bright


def test_erased_dots_lower_the_blob_ratio():
    img, fov = _fundus()
    smooth = cv2.medianBlur((img * 255).astype(np.uint8), 5).astype(np.float32) / 255 * fov[..., None]
    assert M.blob_counts(smooth, fov).dark < M.blob_counts(img, fov).dark


def test_guard_score_matches_the_measure_on_a_big_photo():
    img, fov = _fundus()
    big = cv2.resize(img, (1200, 1200), interpolation=cv2.INTER_LINEAR)
    big_fov = cv2.resize(fov.astype(np.uint8), (1200, 1200), interpolation=cv2.INTER_NEAREST) > 0
    bad = _blotch(img, fov)
    big_bad = cv2.resize(bad, (1200, 1200), interpolation=cv2.INTER_LINEAR)
    g = M.guard_score(big, big_bad, big_fov)
    assert abs(g - M.bandpass_correlation(img, bad, fov)) < 0.05
    u8 = (np.clip(big, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert M.guard_score(u8, u8, big_fov) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.guard_score(big, big[:10], big_fov)


def test_calibrate_guard_threshold_and_catch_rate():
    rng = np.random.default_rng(0)
    good = rng.uniform(0.9, 1.0, 100)
    bad = rng.uniform(0.3, 0.95, 40)
    scores = np.concatenate([good, bad])
    psnrs = np.concatenate([np.full(100, 40.0), np.full(40, 25.0)])
    cal = M.calibrate_guard(scores, psnrs)
    t = cal["threshold"]
    assert cal["n_good"] == 100 and cal["n_bad"] == 40 and cal["n"] == 140
    assert (good < t).sum() <= 5 and (good <= t).sum() > 5  # the highest value that flags <= 5 %
    assert t == pytest.approx(np.sort(good)[5])
    assert cal["catch_rate"] == pytest.approx((bad < t).mean())
    assert cal["n_good_flagged"] == 5
    none = M.calibrate_guard([0.5, 0.6], [20.0, 25.0])
    assert none["threshold"] is None and none["catch_rate"] is None
    assert M.calibrate_guard([0.9], [40.0])["catch_rate"] is None
    with pytest.raises(ValueError):
        M.calibrate_guard([0.9, 0.8], [40.0])


def test_measures_refuse_mismatched_shapes():
    img, fov = _fundus()
    with pytest.raises(ValueError):
        M.structure_psnr(img, img[:-1], fov)
    with pytest.raises(ValueError):
        M.bandpass(img, fov[:-1])
    assert math.isfinite(M.structure_psnr(_blotch(img, fov), img, fov))


def test_blob_points_sit_on_painted_dots():
    img, fov = _fundus()
    yy, xx = np.mgrid[:SIDE, :SIDE]
    dots = [(120, 250), (260, 140), (300, 280)]
    for y, x in dots:
        img[(yy - y) ** 2 + (xx - x) ** 2 <= 2] *= np.float32(0.6)
    dark, bright = M.blob_points(img, fov)
    assert dark.shape[1] == 2 and bright.shape[1] == 2
    for y, x in dots:
        assert np.min(np.hypot(dark[:, 0] - y, dark[:, 1] - x)) <= 2
    assert M.blob_counts(img, fov) == M.BlobCounts(len(dark), len(bright))
