"""Site evaluation: verdicts with tolerance, identical models read as same, a degrading model as worse."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.training.site_eval import SPECS, evaluate_adaptation, perturbed, verdict
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


class Blur(nn.Module):
    """A deliberately bad 'enhancer': blurs and darkens the photo."""

    def forward(self, x, fov=None):
        y = F.avg_pool2d(F.pad(x, (3, 3, 3, 3), mode="replicate"), 7, stride=1) * 0.8
        return y if fov is None else y * fov


def _tiny():
    from core.models.magenet import MageNet

    torch.manual_seed(0)
    return MageNet.from_config(dict(TINY))


@pytest.fixture
def holdout(tmp_path):
    return make_site(tmp_path / "held", n=3)


def test_identical_models_are_same(holdout):
    net = _tiny()
    ev = evaluate_adaptation(holdout, net, _tiny(), working_size=64, preview_count=2)
    assert ev.overall == "same" and not ev.worse
    assert all(m.verdict == "same" and m.change == 0 for m in ev.measures)
    assert len(ev.photos) == 3 and len(ev.previews) == 2
    assert "vessel-map stability was not measured" in ev.notes[-1]
    d = ev.to_dict()
    assert d["verdict"] == "same" and set(d["measures"]) == {"illumination_uniformity", "vessel_cnr", "sharpness",
                                                            "colour_shift"}


def test_degrading_model_is_worse_with_vessel_stability(holdout):
    class Identity(nn.Module):
        def forward(self, x, fov=None):
            return x if fov is None else x * fov

    seg = tiny_vessel_segmenter()
    ev = evaluate_adaptation(holdout, Identity(), Blur(), segmenter=seg, working_size=64)
    m = ev.by_key()
    assert m["sharpness"].verdict == "worse" and m["sharpness"].photos_worse == 3
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
