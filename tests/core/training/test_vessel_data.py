"""Vessel training data: evaluation images refused, scaling convention, patch sampler, degradations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import FundusError
from core.models.vesselnet import fov_diameter
from core.data.vessel_samples import DRIVE_TRAIN_IDS, HRF_TRAIN_IDS, Sample, assert_training_ids, load_sample
from core.training.vessel_data import PatchSampler, private_degrade, scale_sample


def synthetic_sample(name: str = "syn_1", h: int = 180, w: int = 240, seed: int = 0) -> Sample:
    """A reddish disc with dark drawn 'vessels' and their label."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    r = 0.45 * min(h, w)
    fov = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= r * r
    label = np.zeros((h, w), np.uint8)
    for _ in range(6):
        p0 = tuple(int(v) for v in (w / 2 + rng.uniform(-r, r) * 0.7, h / 2 + rng.uniform(-r, r) * 0.7))
        p1 = tuple(int(v) for v in (w / 2 + rng.uniform(-r, r) * 0.7, h / 2 + rng.uniform(-r, r) * 0.7))
        cv2.line(label, p0, p1, 1, int(rng.integers(1, 4)))
    lab = label.astype(bool) & fov
    rgb = np.stack([np.full((h, w), 0.75), np.full((h, w), 0.4), np.full((h, w), 0.2)], -1).astype(np.float32)
    rgb[lab] *= 0.6
    rgb += rng.normal(0, 0.01, rgb.shape).astype(np.float32)
    rgb = np.clip(rgb, 0, 1) * fov[..., None]
    return Sample(name, rgb.astype(np.float32), lab, fov)


def test_evaluation_images_are_refused():
    assert_training_ids(DRIVE_TRAIN_IDS, HRF_TRAIN_IDS)
    assert len(DRIVE_TRAIN_IDS) == 20 and len(HRF_TRAIN_IDS) == 24
    with pytest.raises(FundusError, match="reserved for evaluation"):
        assert_training_ids(["21", "05"], [])
    with pytest.raises(FundusError, match="reserved for evaluation"):
        assert_training_ids([], ["09_h"])


def test_scale_sample_sets_the_fov_diameter_and_keeps_soft_labels():
    s = synthetic_sample()
    im = scale_sample(s, 120.0, pad=8)
    inner = im.fov[8:-8, 8:-8]
    assert abs(fov_diameter(inner) - 120) <= 2
    assert im.x.shape == (3,) + im.fov.shape and im.label.shape == im.fov.shape
    assert 0 < im.label.max() <= 1 and ((im.label > 0) & (im.label < 1)).any()  # soft after area resize
    assert (im.label[~im.fov] == 0).all()
    ys, xs = im.centres.T
    assert im.fov[ys, xs].all()


def test_patch_sampler_shapes_alignment_and_degradations():
    s = synthetic_sample()
    rng = np.random.default_rng(0)
    ps = PatchSampler([s], [150, 200], 32, rng, degrade_fraction=1.0)
    ps.refresh_degraded(4)
    assert ps.degraded
    x, y, m = ps.batch(16)
    assert x.shape == (16, 3, 32, 32) and y.shape == (16, 1, 32, 32) and m.shape == y.shape
    assert np.isfinite(x).all() and (y >= 0).all() and (y <= 1).all()
    assert (x * (1 - m) == 0).all()  # nothing outside the FOV
    assert y.sum() > 0


def test_patch_labels_follow_the_flips_and_rotations():
    # with no degradation and no vessels outside the drawn ones, dark input pixels carry the label
    s = synthetic_sample(seed=3)
    ps = PatchSampler([s], [180], 48, np.random.default_rng(1), degrade_fraction=0.0)
    x, y, m = ps.batch(32)
    green = x[:, 1]
    vessel = y[:, 0] > 0.9
    background = (y[:, 0] == 0) & (m[:, 0] > 0)
    # the colour jitter changes gain/offset per patch, so compare within each patch
    diffs = [green[k][background[k]].mean() - green[k][vessel[k]].mean() for k in range(32) if vessel[k].sum() > 5]
    assert len(diffs) > 5 and np.median(diffs) > 0.5


def test_private_degrade_changes_the_photo_inside_the_fov_only():
    s = synthetic_sample()
    out = private_degrade(s.rgb, s.fov, 200.0, np.random.default_rng(2))
    assert out.shape == s.rgb.shape and out.dtype == np.float32
    assert (out[~s.fov] == 0).all()
    assert np.abs(out - s.rgb)[s.fov].mean() > 0.01


def test_real_training_photos_load(fundus_data):
    d = load_sample(fundus_data, "drive_train", "21")
    assert d.rgb.shape == (584, 565, 3) and d.label.dtype == bool and 0.05 < d.label[d.fov].mean() < 0.2
    h = load_sample(fundus_data, "hrf", "01_dr")
    assert h.rgb.shape == (2336, 3504, 3) and h.fov.shape == (2336, 3504)
