"""The new-blob loss agrees with the blob measure it stands in for, and only punishes dots the reference lacks."""

import numpy as np
import torch

from core.imaging import measures as M
from core.training.blob_loss import blob_response, eroded, new_blob_loss

SIDE = 256


def _photo(dots: list[tuple[int, int]], depth: float, vessel: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A flat orange fundus (FOV diameter ~SIDE) with dark Gaussian dots (sigma 1.5 px: about 0.9 % of
    a 512 px diameter once the loss's own scale is used) and optionally one straight vessel."""
    yy, xx = np.mgrid[:SIDE, :SIDE].astype(np.float32)
    c = (SIDE - 1) / 2
    fov = ((yy - c) ** 2 + (xx - c) ** 2 < (0.48 * SIDE) ** 2).astype(np.float32)
    img = np.empty((SIDE, SIDE, 3), np.float32)
    img[...] = (0.6, 0.4, 0.2)
    for y, x in dots:
        img[..., 1] *= 1 - depth * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5**2))
    if vessel:
        img[..., 1] *= 1 - vessel * np.exp(-((xx - c - 0.3 * (yy - c)) ** 2) / (2 * 2.0**2))
    return img, fov


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None] if a.ndim == 3 else torch.from_numpy(a)[None, None]


DOTS = [(90, 90), (160, 110), (110, 170)]


def test_response_crosses_the_threshold_where_the_measure_starts_counting():
    """The response is in the measure's units: a shallow dot stays under BLOB_CONTRAST, a deep one
    is over it (the scales are fixed at a 512 px FOV, the size training patches are cut at)."""
    for depth, counted in ((0.2, False), (0.5, True)):
        img, fov = _photo(DOTS, depth)
        r = blob_response(_t(img), _t(fov))
        at_dots = [float(r[0, 0, y, x]) for y, x in DOTS]
        assert all((v >= M.BLOB_CONTRAST) == counted for v in at_dots), (depth, at_dots)


def test_vessels_are_not_blobs():
    """A vessel's cross-section fails the roundness test; only where it ends at the rim does it look
    like a dot, and the rim band is left out of the loss as it is out of the measure."""
    img, fov = _photo([], 0.0, vessel=0.3)
    r = blob_response(_t(img), _t(fov)) * eroded(_t(fov))
    assert float(r.max()) < 0.01 and M.blob_counts(img, fov).total == 0


def test_a_dot_the_reference_lacks_costs_and_one_it_holds_does_not():
    ref, fov = _photo(DOTS[:1], 0.5)  # one real dot
    made, _ = _photo(DOTS, 0.5)  # the same dot plus two new ones
    f = _t(fov)
    assert float(new_blob_loss(_t(ref), _t(ref), f)) == 0.0
    assert float(new_blob_loss(_t(made), _t(ref), f)) > 0.0
    sharper, _ = _photo(DOTS[:1], 0.6)  # the real dot made a little deeper: allowed up to the reference
    assert float(new_blob_loss(_t(sharper), _t(ref), f)) < 0.2 * float(new_blob_loss(_t(made), _t(ref), f))


def test_the_gradient_flattens_a_new_dot():
    ref, fov = _photo([], 0.0)
    made, _ = _photo(DOTS, 0.5)
    x = _t(made).clone().requires_grad_(True)
    new_blob_loss(x, _t(ref), _t(fov)).backward()
    y, xx = DOTS[0]
    assert float(x.grad[0, 1, y, xx]) < 0.0  # raising green at the dark dot's centre lowers the loss
    assert float(x.grad[0, 0].abs().max()) == 0.0  # red is not measured


def test_the_rim_band_is_left_out():
    _, fov = _photo([], 0.0)
    e = eroded(_t(fov))
    assert 0 < float(e.sum()) < float(_t(fov).sum())
    assert float(e[0, 0, SIDE // 2, 2]) == 0.0 and float(e[0, 0, SIDE // 2, SIDE // 2]) == 1.0
