"""core.imaging.guided_filter against the per-window least-squares definition."""

from __future__ import annotations

import numpy as np
import pytest

from core.imaging.guided_filter import guided_filter


def _reflect_windows(x: np.ndarray, r: int) -> np.ndarray:
    pad = [(r, r), (r, r)] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, pad, mode="symmetric")  # = cv2.BORDER_REFLECT


def _brute(I: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al. Algorithm 1 written out: fit per window, average the coefficients, apply."""
    color = I.ndim == 3
    H, W = p.shape
    Ip, pp = _reflect_windows(I.astype(np.float64), r), _reflect_windows(p.astype(np.float64), r)
    a = np.zeros((H, W, 3) if color else (H, W))
    b = np.zeros((H, W))
    for y in range(H):
        for x in range(W):
            wi = Ip[y : y + 2 * r + 1, x : x + 2 * r + 1]
            wp = pp[y : y + 2 * r + 1, x : x + 2 * r + 1].ravel()
            if color:
                X = wi.reshape(-1, 3)
                mu = X.mean(axis=0)
                cov = (X - mu).T @ (X - mu) / X.shape[0]
                c = (X - mu).T @ (wp - wp.mean()) / X.shape[0]
                a[y, x] = np.linalg.solve(cov + eps * np.eye(3), c)
                b[y, x] = wp.mean() - a[y, x] @ mu
            else:
                X = wi.ravel()
                a[y, x] = ((X * wp).mean() - X.mean() * wp.mean()) / (X.var() + eps)
                b[y, x] = wp.mean() - a[y, x] * X.mean()
    # mean of coefficients over each window (box with reflected borders)
    ap, bp = _reflect_windows(a, r), _reflect_windows(b, r)
    ma = np.zeros_like(a)
    mb = np.zeros_like(b)
    for y in range(H):
        for x in range(W):
            ma[y, x] = ap[y : y + 2 * r + 1, x : x + 2 * r + 1].mean(axis=(0, 1))
            mb[y, x] = bp[y : y + 2 * r + 1, x : x + 2 * r + 1].mean()
    return (ma * I).sum(axis=2) + mb if color else ma * I + mb


@pytest.mark.parametrize("color", [False, True])
def test_matches_the_definition(color):
    rng = np.random.default_rng(0)
    I = rng.uniform(0, 1, (13, 15, 3) if color else (13, 15)).astype(np.float32)
    p = (0.5 * (I.mean(axis=2) if color else I) + rng.uniform(0, 0.5, (13, 15))).astype(np.float32)
    got = guided_filter(I, p, radius=2, eps=1e-2)
    np.testing.assert_allclose(got, _brute(I, p, 2, 1e-2), atol=2e-4)


def test_multichannel_source_is_filtered_per_channel():
    rng = np.random.default_rng(1)
    I = rng.uniform(0, 1, (20, 20)).astype(np.float32)
    p = rng.uniform(0, 1, (20, 20, 3)).astype(np.float32)
    out = guided_filter(I, p, 3, 1e-2)
    assert out.shape == p.shape
    for c in range(3):
        np.testing.assert_allclose(out[..., c], guided_filter(I, p[..., c], 3, 1e-2), atol=1e-6)
    Ic = rng.uniform(0, 1, (20, 20, 3)).astype(np.float32)
    outc = guided_filter(Ic, p, 3, 1e-2)
    for c in range(3):
        np.testing.assert_allclose(outc[..., c], guided_filter(Ic, p[..., c], 3, 1e-2), atol=1e-5)


def test_keeps_edges_and_smooths_flat_noise():
    rng = np.random.default_rng(2)
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    noisy = step + rng.normal(0, 0.05, step.shape).astype(np.float32)
    out = guided_filter(step, noisy, radius=4, eps=1e-3)
    assert out[:, :28].std() < 0.5 * noisy[:, :28].std()  # flat part smoothed
    assert out[:, 34:].mean() - out[:, :30].mean() > 0.95  # the step survives
    assert abs(out[:, 31].mean() - 0.0) < 0.1 and abs(out[:, 32].mean() - 1.0) < 0.1


def test_constant_source_and_fast_mode():
    rng = np.random.default_rng(3)
    I = cvsmooth(rng.uniform(0, 1, (200, 240)).astype(np.float32))
    np.testing.assert_allclose(guided_filter(I, np.full_like(I, 0.3), 8, 1e-3), 0.3, atol=1e-5)
    p = cvsmooth(rng.uniform(0, 1, I.shape).astype(np.float32))
    full = guided_filter(I, p, 16, 1e-2)
    fast = guided_filter(I, p, 16, 1e-2, subsample=4)
    assert fast.shape == full.shape
    assert np.abs(fast - full).mean() < 0.02


def cvsmooth(x: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x, (0, 0), 3)


def test_bad_arguments():
    with pytest.raises(ValueError):
        guided_filter(np.zeros((5, 5)), np.zeros((6, 5)), 1, 1e-3)
    with pytest.raises(ValueError):
        guided_filter(np.zeros((5, 5)), np.zeros((5, 5)), 0, 1e-3)
