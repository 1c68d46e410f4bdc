"""core.evaluation.metrics against hand-computed values and brute-force formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluation.metrics import (
    colour_corrected,
    low_frequencies_replaced,
    psnr,
    recovery_ratio,
    roc_auc,
    segmentation_metrics,
    ssim,
    ssim_map,
)


def test_colour_oracle_undoes_a_per_channel_gain_and_offset_exactly():
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.1, 0.8, (40, 50, 3))
    fov = np.zeros((40, 50), bool)
    fov[5:35, 5:45] = True
    cast = clean * np.array([0.7, 1.1, 0.9]) + np.array([0.05, -0.02, 0.0])
    cast[~fov] = 1.0  # outside the FOV does not count
    fixed = colour_corrected(cast, clean, fov)
    assert np.abs(fixed - clean)[fov].max() < 1e-9
    noise = rng.normal(0, 0.05, clean.shape)  # structure it cannot remove
    assert psnr(colour_corrected(clean + noise, clean, fov), clean, fov) < 30


def test_low_frequency_oracle_removes_shading_and_keeps_detail():
    yy, xx = np.mgrid[0:96, 0:96] / 96.0
    detail = 0.1 * (np.indices((96, 96)).sum(0) % 2)[..., None] * np.ones(3)  # a 1 px checkerboard
    clean = 0.4 + detail
    shaded = clean * (0.6 + 0.6 * xx)[..., None]  # broad illumination gradient
    fixed = low_frequencies_replaced(shaded, clean, None, sigma=8.0)
    assert psnr(fixed, clean) > psnr(shaded, clean) + 10
    # a pure detail change is not the oracle's to fix
    assert psnr(low_frequencies_replaced(clean - detail, clean, None, 8.0), clean) < 30


def test_psnr_hand_computed_and_masked():
    x = np.zeros((8, 8, 3), np.float32)
    y = np.full((8, 8, 3), 0.1, np.float32)
    assert psnr(x, y) == pytest.approx(20.0, abs=1e-5)  # mse 0.01
    fov = np.zeros((8, 8), bool)
    fov[2:6, 2:6] = True
    z = y.copy()
    z[~fov] = 0.9  # outside the FOV does not count
    assert psnr(x, z, fov) == pytest.approx(20.0, abs=1e-5)
    assert psnr(x, x) == math.inf
    # half the FOV pixels off by 0.2, the rest exact: mse = 0.02 -> 16.9897 dB
    w = np.zeros_like(x)
    w[2:4, 2:6] = 0.2
    assert psnr(x, w, fov) == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-5)


def _ssim_brute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Wang et al. 2004, written out pixel by pixel with an explicit 11x11 Gaussian window."""
    r = 5
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(t**2) / (2 * 1.5**2))
    w = np.outer(g, g)
    w /= w.sum()
    pa = np.pad(a, r, mode="symmetric")  # = cv2.BORDER_REFLECT
    pb = np.pad(b, r, mode="symmetric")
    c1, c2 = 0.01**2, 0.03**2
    out = np.empty(a.shape)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            wa = pa[i : i + 2 * r + 1, j : j + 2 * r + 1]
            wb = pb[i : i + 2 * r + 1, j : j + 2 * r + 1]
            ma, mb = (w * wa).sum(), (w * wb).sum()
            va = (w * (wa - ma) ** 2).sum()
            vb = (w * (wb - mb) ** 2).sum()
            cov = (w * (wa - ma) * (wb - mb)).sum()
            out[i, j] = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return out


def test_ssim_matches_the_written_out_formula():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (14, 17, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    smap = ssim_map(a, b)
    for ch in range(3):
        np.testing.assert_allclose(smap[..., ch], _ssim_brute(a[..., ch], b[..., ch]), atol=1e-9)
    fov = np.zeros((14, 17), bool)
    fov[3:10, 4:12] = True
    assert ssim(a, b, fov) == pytest.approx(smap.mean(axis=2)[fov].mean(), abs=1e-12)


def test_ssim_hand_computed_cases():
    x = np.random.default_rng(1).uniform(0, 1, (20, 20, 3))
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-9)
    # two flat images: only the luminance term is left
    c1 = 0.01**2
    p, q = np.full((16, 16, 3), 0.6), np.full((16, 16, 3), 0.3)
    expected = (2 * 0.6 * 0.3 + c1) / (0.6**2 + 0.3**2 + c1)
    assert ssim(p, q) == pytest.approx(expected, abs=1e-9)
    # noise lowers SSIM
    y = np.clip(x + np.random.default_rng(2).normal(0, 0.2, x.shape), 0, 1)
    assert ssim(x, y) < 0.9


def _auc_brute(s: np.ndarray, y: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    gt = (pos[:, None] > neg[None, :]).sum()
    eq = (pos[:, None] == neg[None, :]).sum()
    return (gt + 0.5 * eq) / (pos.size * neg.size)


def test_auc_against_pairwise_count_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        s = np.round(rng.uniform(0, 1, n), 1)  # many ties
        y = rng.uniform(0, 1, n) < 0.4
        if y.all() or not y.any():
            continue
        assert roc_auc(s, y, fov=np.ones(n, bool)) == pytest.approx(_auc_brute(s, y), abs=1e-12)


def test_auc_uses_only_fov_pixels_and_extremes():
    labels = np.array([[1, 0], [0, 1]], bool)
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert roc_auc(scores, labels) == 1.0
    assert roc_auc(1 - scores, labels) == 0.0
    assert roc_auc(np.zeros((2, 2)), labels) == 0.5
    fov = np.array([[1, 1], [1, 0]], bool)
    scores2 = scores.copy()
    scores2[1, 1] = -5  # outside the FOV: ignored
    assert roc_auc(scores2, labels, fov) == 1.0
    with pytest.raises(ValueError):
        roc_auc(scores, np.zeros((2, 2), bool))


def test_thresholded_metrics_hand_computed():
    labels = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], bool)
    scores = np.array([[0.9, 0.4, 0.7, 0.1], [0.6, 0.2, 0.3, 0.0]])
    # at 0.5: pred = [[1,0,1,0],[1,0,0,0]] -> tp 2, fp 1, fn 1, tn 4
    m = segmentation_metrics(scores, labels, threshold=0.5)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["iou"] == pytest.approx(2 / 4)
    assert m["dice"] == pytest.approx(4 / 6)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["auc"] == pytest.approx(_auc_brute(scores.ravel(), labels.ravel()))


def test_recovery_ratio():
    assert recovery_ratio(0.910, 0.781, 0.953) == pytest.approx((0.910 - 0.781) / (0.953 - 0.781))
    with pytest.raises(ValueError):
        recovery_ratio(0.5, 0.7, 0.7)
