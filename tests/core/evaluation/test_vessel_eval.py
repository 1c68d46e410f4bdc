"""Vessel evaluation: AUC and binary scores against brute force, threshold curve, real-data run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import FundusError
from core.evaluation.vessel_eval import binary_scores, dice_by_threshold, evaluate_vessels, roc_auc


def test_roc_auc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(0)
    s = np.round(rng.random(300), 1)  # many ties
    y = rng.random(300) < 0.3
    pos, neg = s[y], s[~y]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (pos.size * neg.size)
    assert roc_auc(s, y) == pytest.approx(brute)
    assert math.isnan(roc_auc(s, np.zeros(300, bool)))


def test_binary_scores_by_hand():
    p = np.array([1, 1, 0, 0, 1], bool)
    y = np.array([1, 0, 0, 1, 1], bool)
    r = binary_scores(p, y)  # tp 2, fp 1, fn 1, tn 1
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["dice"] == pytest.approx(4 / 6)
    assert r["iou"] == pytest.approx(2 / 4)
    assert r["sensitivity"] == pytest.approx(2 / 3) and r["specificity"] == pytest.approx(1 / 2)


def test_dice_by_threshold_peaks_at_the_separating_threshold():
    y = np.r_[np.ones(100, bool), np.zeros(900, bool)]
    p = np.r_[np.full(100, 0.7), np.full(900, 0.2)]
    edges, dice = dice_by_threshold([p], [y], bins=100)
    best = edges[int(np.argmax(dice))]
    assert 0.2 < best <= 0.7 and dice.max() == pytest.approx(1.0)


def test_unknown_dataset_is_refused():
    with pytest.raises(FundusError):
        evaluate_vessels(object(), "drive_train")


class _GreenDarkness:
    """A crude segmenter: darker green = more vessel-like. Records what it was given."""

    threshold = 0.5

    def __init__(self) -> None:
        self.means: list[float] = []

    def probability(self, rgb, fov):
        self.means.append(float(rgb[fov].mean()))
        g = rgb[..., 1]
        return np.clip(1.0 - g / max(float(g[fov].max()), 1e-6), 0, 1) * fov


def test_drive_test_evaluation_on_the_real_images(fundus_data):
    seg = _GreenDarkness()
    res = evaluate_vessels(seg, "drive_test", data_root=fundus_data)
    assert res["images"] == 20 and len(res["per_image"]) == 20
    assert 0.6 < res["auc"] < 0.95  # far from a real segmenter, better than chance
    dark = _GreenDarkness()
    evaluate_vessels(dark, "drive_test", transform=lambda rgb, fov: rgb * 0.5, data_root=fundus_data)
    assert np.allclose(np.array(dark.means), np.array(seg.means) * 0.5, rtol=1e-3)
