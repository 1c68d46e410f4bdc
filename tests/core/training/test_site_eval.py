"""Site evaluation: verdicts with tolerance, identical models read as same, a degrading model as worse,
the do-no-harm rules (band-pass correlation, vessel contrast ratio), "inconclusive" below 5 held-out
photos, and the adapted model's own guard threshold."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.training.site_eval import MIN_CONCLUSIVE, SPECS, evaluate_adaptation, perturbed, verdict
from tests.core.training.site_helpers import TINY, make_site, tiny_vessel_segmenter


def test_verdict_tolerance_and_direction():
    up = SPECS["vessel_cnr"]  # higher is better, 2 % relative
    assert verdict(up, 3.0, 3.05)[0] == "same"
    assert verdict(up, 3.0, 3.2)[0] == "better"
    assert verdict(up, 3.0, 2.8)[0] == "worse"
    down = SPECS["colour_shift"]  # lower is better, 0.5 CIELAB units absolute
    assert verdict(down, 4.0, 4.4)[0] == "same"
    assert verdict(down, 4.0, 3.0)[0] == "better"
    assert verdict(down, 4.0, 5.0) == ("worse", 0.5)
    corr = SPECS["bandpass_correlation"]  # worse when lower by more than 0.02 (absolute)
    assert verdict(corr, 0.95, 0.935)[0] == "same" and verdict(corr, 0.95, 0.925)[0] == "worse"
    ratio = SPECS["vessel_contrast_ratio"]  # worse when lower by more than 5 % (relative)
    assert verdict(ratio, 1.2, 1.15)[0] == "same" and verdict(ratio, 1.2, 1.13)[0] == "worse"


class Blur(nn.Module):
    """A deliberately bad 'enhancer': blurs and darkens the photo."""

    def forward(self, x, fov=None):
        y = F.avg_pool2d(F.pad(x, (3, 3, 3, 3), mode="replicate"), 7, stride=1) * 0.8
        return y if fov is None else y * fov


def _tiny():
    from core.models.magenet import MageNet

    torch.manual_seed(0)
    return MageNet.from_config(dict(TINY))


class Identity(nn.Module):
    def forward(self, x, fov=None):
        return x if fov is None else x * fov


class Veil(nn.Module):
    """Lifts a grey veil over the photo: the vessels' Weber contrast drops, the structure stays."""

    def forward(self, x, fov=None):
        y = 0.6 * x + 0.3
        return y if fov is None else y * fov


@pytest.fixture
def holdout(tmp_path):
    return make_site(tmp_path / "held", n=MIN_CONCLUSIVE)


@pytest.fixture
def few(tmp_path):
    return make_site(tmp_path / "few", n=3)


def test_identical_models_are_same(holdout):
    net = _tiny()
    ev = evaluate_adaptation(holdout, net, _tiny(), working_size=64, preview_count=2, guard_shifts=1)
    assert ev.overall == "same" and not ev.worse and not ev.needs_confirmation
    assert all(m.verdict == "same" and m.change == 0 for m in ev.measures)
    assert len(ev.photos) == 5 and len(ev.previews) == 2
    assert any("vessel-map stability was not measured" in n for n in ev.notes)
    d = ev.to_dict()
    assert d["verdict"] == "same" and d["conclusive"] and set(d["measures"]) == {
        "illumination_uniformity", "vessel_cnr", "sharpness", "colour_shift", "bandpass_correlation",
        "vessel_contrast_ratio"}


def test_a_painted_blotch_is_worse_whatever_the_other_numbers(holdout):
    from tests.core.test_guard import Blotch

    ev = evaluate_adaptation(holdout, Identity(), Blotch(), working_size=64, guard_shifts=0)
    m = ev.by_key()
    assert m["bandpass_correlation"].verdict == "worse" and m["bandpass_correlation"].change < -0.02
    assert m["bandpass_correlation"].starting > 0.99  # the identity keeps the photo's structure
    assert ev.overall == "worse" and ev.needs_confirmation and "structure kept" in ev.explanation.lower()
    assert ev.guard is None


def test_a_veil_lowers_the_vessel_contrast_ratio_and_is_worse(holdout):
    ev = evaluate_adaptation(holdout, Identity(), Veil(), working_size=64, guard_shifts=0)
    m = ev.by_key()
    assert m["vessel_contrast_ratio"].verdict == "worse"
    assert m["vessel_contrast_ratio"].adapted < 0.95 * m["vessel_contrast_ratio"].starting
    assert m["bandpass_correlation"].verdict == "same"  # only the contrast measure sees a veil
    assert ev.overall == "worse"


def test_fewer_than_five_held_out_photos_are_inconclusive(few):
    ev = evaluate_adaptation(few, Identity(), Veil(), working_size=64, guard_shifts=0)
    assert ev.overall == "inconclusive" and not ev.worse and not ev.conclusive
    assert ev.by_key()["vessel_contrast_ratio"].verdict == "worse"  # still shown, and still needs a choice
    assert ev.needs_confirmation and "only 3 held-out" in ev.explanation
    assert ev.to_dict()["verdict"] == "inconclusive"
    same = evaluate_adaptation(few, Identity(), Identity(), working_size=64, guard_shifts=0)
    assert same.overall == "inconclusive" and not same.needs_confirmation


def test_the_adapted_model_gets_its_own_guard_threshold(few):
    ev = evaluate_adaptation(few, Identity(), GainLike(), working_size=64, guard_shifts=3)
    g = ev.guard
    assert g["n"] == 9 and g["n_good"] >= 1 and g["threshold"] is not None and "site held-out" in g["source"]
    assert g["n_good_flagged"] == 0 and 0.5 < g["threshold"] <= 1.0  # few good outputs: none may be flagged
    again = evaluate_adaptation(few, Identity(), GainLike(), working_size=64, guard_shifts=3)
    assert again.guard == g  # seeded shifts: the same threshold every time
    from tests.core.test_guard import Blotch

    bad = evaluate_adaptation(few, Identity(), Blotch(), working_size=64, guard_shifts=2,
                              fallback_guard={"threshold": 0.66})
    assert bad.guard["n_good"] == 0 and bad.guard["threshold"] == 0.66
    assert "starting model's threshold is kept" in bad.guard["source"]


class GainLike(nn.Module):
    """A per-channel gain and offset toward a mid level: a structure-keeping 'enhancement'."""

    def forward(self, x, fov=None):
        y = (0.9 * x + 0.05).clamp(0, 1)
        return y if fov is None else y * fov


def test_degrading_model_is_worse_with_vessel_stability(holdout):
    seg = tiny_vessel_segmenter()
    ev = evaluate_adaptation(holdout, Identity(), Blur(), segmenter=seg, working_size=64, guard_shifts=0)
    m = ev.by_key()
    assert m["sharpness"].verdict == "worse" and m["sharpness"].photos_worse == 5
    assert "vessel_stability" in m and 0.0 <= m["vessel_stability"].starting <= 1.0
    assert ev.overall == "worse" and ev.worse
    assert ev.to_dict()["measures"]["sharpness"]["verdict"] == "worse"


def test_perturbation_is_mild_and_reproducible(holdout):
    import cv2
    import numpy as np

    rgb = cv2.cvtColor(cv2.imread(str(holdout[0])), cv2.COLOR_BGR2RGB)
    fov = rgb.sum(axis=2) > 0
    a, b = perturbed(rgb, fov, 1), perturbed(rgb, fov, 1)
    assert np.array_equal(a, b)
    diff = np.abs(a.astype(int) - rgb.astype(int))[fov].mean()
    assert 1 < diff < 40
