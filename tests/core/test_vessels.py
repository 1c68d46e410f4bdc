"""core.vessels: tiled inference geometry and the original-vs-enhanced comparison on drawn vessels."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from core.errors import ModelError, UnsupportedImageError
from core.models.vesselnet import VesselNet, VesselNetConfig
from core.vessels import (
    COLOUR_BOTH,
    COLOUR_HALLUCINATION,
    COLOUR_ONLY_AFTER,
    COLOUR_ONLY_BEFORE,
    VesselMap,
    VesselSegmenter,
    blend_window,
    compare_vessels,
    difference_overlay,
    predict_prob,
)

N = 400


def _fov(n: int = N) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    return (yy - n / 2 + 0.5) ** 2 + (xx - n / 2 + 0.5) ** 2 <= (0.47 * n) ** 2


def _map(lines, n: int = N, prob_elsewhere: float = 0.0, width: int = 2) -> VesselMap:
    img = np.zeros((n, n), np.uint8)
    for p0, p1 in lines:
        cv2.line(img, p0, p1, 255, width)
    prob = np.where(img > 0, 0.9, prob_elsewhere).astype(np.float32)
    fov = _fov(n)
    prob[~fov] = 0
    return VesselMap(prob=prob, binary=(prob >= 0.5) & fov, threshold=0.5, fov=fov)


TREE = [((200, 30), (200, 370)), ((200, 200), (330, 120)), ((200, 250), (80, 330))]


def test_identical_maps_have_dice_one_and_nothing_only_on_one_side():
    m = _map(TREE)
    c = compare_vessels(m, m, _fov())
    assert c.dice == pytest.approx(1.0)
    assert not c.only_after.any() and not c.only_before.any()
    assert c.both.sum() == m.binary.sum()
    assert c.density_before == pytest.approx(m.binary.sum() / _fov().sum())
    assert c.hallucinations == [] and c.warning == ""


def test_counts_dice_and_density_for_a_lost_and_a_gained_branch():
    before = _map(TREE)
    after = _map(TREE[:2] + [((120, 60), (120, 160))])  # loses one branch, gains one
    c = compare_vessels(before, after, _fov())
    a, b = after.binary, before.binary
    assert c.both.sum() == (a & b).sum()
    assert c.only_after.sum() == (a & ~b).sum() > 0
    assert c.only_before.sum() == (b & ~a).sum() > 0
    expected = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert c.dice == pytest.approx(expected)
    assert 0.5 < c.dice < 1.0
    assert c.density_after == pytest.approx(a.sum() / _fov().sum())


def test_new_long_vessel_in_an_empty_region_triggers_the_warning():
    before = _map(TREE)
    after = _map(TREE + [((60, 120), (150, 80))])  # upper-left region is empty in the original
    c = compare_vessels(before, after, _fov())
    assert len(c.hallucinations) == 1
    x0, y0, x1, y1 = c.hallucinations[0].bbox
    assert 55 <= x0 <= 65 and 75 <= y0 <= 85 and 145 <= x1 <= 155 and 115 <= y1 <= 125
    assert "no trace" in c.warning


def test_new_vessel_branching_off_a_real_one_into_an_empty_region_is_caught():
    before = _map(TREE)
    after = _map(TREE + [((200, 120), (80, 110))])  # starts on the trunk, runs into the empty left
    c = compare_vessels(before, after, _fov())
    assert len(c.hallucinations) == 1
    x0, y0, x1, y1 = c.hallucinations[0].bbox
    assert x0 <= 85 and x1 < 200  # the part next to the trunk is not counted


def test_tiny_isolated_fragments_do_not_flood_the_warning():
    before = _map(TREE)
    rng = np.random.default_rng(0)
    frags = []
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(80, 320, 2))
        frags.append(((x, y), (x + 4, y + 3)))
    after = _map(TREE + frags)
    c = compare_vessels(before, after, _fov())
    assert c.only_after.sum() > 0
    assert c.hallucinations == [] and c.warning == ""


def test_widened_or_extended_vessel_next_to_an_original_trace_is_not_a_hallucination():
    before = _map(TREE)
    after = _map(TREE, width=5)  # thicker vessels: only-after pixels hug existing ones
    c = compare_vessels(before, after, _fov())
    assert c.only_after.sum() > 0
    assert c.hallucinations == []


def test_faint_trace_in_the_original_probability_suppresses_the_warning():
    new = [((60, 120), (150, 80))]
    faint = _map(TREE)
    trace = _map(new)
    faint.prob = np.maximum(faint.prob, np.where(trace.binary, 0.2, 0.0)).astype(np.float32)  # below 0.5, above 0.1
    after = _map(TREE + new)
    assert compare_vessels(faint, after, _fov()).hallucinations == []


def test_thresholds_scale_with_the_field_of_view():
    small = compare_vessels(_map(TREE), _map(TREE), _fov())
    big_n = 2 * N
    big = compare_vessels(_map([], n=big_n), _map([], n=big_n), _fov(big_n))
    assert big.settings["min_length_px"] == pytest.approx(2 * small.settings["min_length_px"], rel=0.02)


def test_overlay_colours_and_boxes():
    before = _map(TREE)
    after = _map(TREE[:2] + [((60, 120), (150, 80))])
    c = compare_vessels(before, after, _fov())
    base = np.full((N, N, 3), 40, np.uint8)
    ov = difference_overlay(base, c, opacity=1.0)
    assert ov.dtype == np.uint8 and ov.shape == base.shape
    ys, xs = np.nonzero(c.both)
    assert tuple(ov[ys[0], xs[0]]) == COLOUR_BOTH
    ys, xs = np.nonzero(c.only_before)
    assert tuple(ov[ys[len(ys) // 2], xs[len(xs) // 2]]) == COLOUR_ONLY_BEFORE
    # a pixel of the hallucinated line, away from the box outline
    assert tuple(ov[100, 105]) == COLOUR_ONLY_AFTER or c.only_after[100, 105] is np.False_
    only_after_px = ov[c.only_after]
    assert (np.all(only_after_px == COLOUR_ONLY_AFTER, axis=1) | np.all(only_after_px == COLOUR_HALLUCINATION, axis=1)).all()
    amber = np.all(ov == COLOUR_HALLUCINATION, axis=2)
    assert amber.sum() > 100  # the outlined box
    x0, y0, x1, y1 = c.hallucinations[0].bbox
    assert amber[y0 - 5 : y1 + 5, x0 - 5 : x1 + 5].sum() == amber.sum()
    # untouched background stays the photo
    assert tuple(ov[5, 5]) == (40, 40, 40)
    half = difference_overlay(base, c, opacity=0.5)
    ys, xs = np.nonzero(c.both)
    assert np.allclose(half[ys[0], xs[0]], (np.array(COLOUR_BOTH) + 40) / 2, atol=1)


def test_overlay_rejects_mismatched_sizes():
    c = compare_vessels(_map(TREE), _map(TREE), _fov())
    with pytest.raises(UnsupportedImageError):
        difference_overlay(np.zeros((10, 10, 3), np.uint8), c)


def test_blend_window_is_smooth_and_positive():
    w = blend_window(64, 64, 16)
    assert w.min() == 0 and w.max() == pytest.approx(1.0)
    assert w[32, 32] == 1.0 and w[0, 32] == 0 and 0 < w[6, 32] < 1
    edge = blend_window(64, 64, 16, (False, True, False, True))  # top-left tile of the image
    assert edge[0, 0] == 1.0 and edge[63, 32] == 0


class _Local(torch.nn.Module):
    """A purely local 'network' (3x3 conv), so tiled and whole-image results must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)
        self.cfg = VesselNetConfig()

    def forward(self, x):
        return self.conv(x)


def test_tiled_prediction_matches_whole_image_for_a_local_model():
    torch.manual_seed(0)
    m = _Local().eval()
    x = np.random.default_rng(0).normal(size=(3, 150, 170)).astype(np.float32)
    whole = torch.sigmoid(m(torch.from_numpy(x)[None]))[0, 0].detach().numpy()
    tiled = predict_prob(m, x, tile=64, overlap=16)
    assert tiled.shape == (150, 170)
    assert np.abs(tiled - whole).max() < 1e-5


def test_segmenter_geometry_fov_and_threshold():
    torch.manual_seed(0)
    net = VesselNet(VesselNetConfig(channels=[4, 8, 8, 8])).eval()
    card = {"name": "tiny", "version": "0", "config": {"inference": {"working_fov_diameter": 96, "threshold": 0.3,
                                                                       "tile": 64, "overlap": 16}}}
    seg = VesselSegmenter(model=net, card=card)
    rng = np.random.default_rng(1)
    rgb = (rng.random((150, 210, 3)) * 255).astype(np.uint8)
    fov = np.zeros((150, 210), bool)
    fov[10:140, 40:170] = _fov(130)
    vm = seg.segment(rgb, fov)
    assert vm.prob.shape == (150, 210) and vm.prob.dtype == np.float32
    assert vm.threshold == 0.3 and seg.working_diameter == 96
    assert (vm.prob[~fov] == 0).all() and (vm.prob[fov] > 0).all()
    assert np.array_equal(vm.binary, (vm.prob >= 0.3) & fov)


def test_segmenter_without_an_installed_model_says_so(tmp_path, monkeypatch):
    import core.models.registry as reg

    monkeypatch.setattr(reg.paths, "resources_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match="vessel model"):
        VesselSegmenter()


def _fundus_png(path, lines, n: int = 240) -> None:
    """A synthetic fundus photo: an orange disc on black with dark drawn vessels."""
    img = np.zeros((n, n, 3), np.uint8)
    cv2.circle(img, (n // 2, n // 2), int(0.45 * n), (40, 90, 200), -1)  # BGR for cv2.imwrite
    for p0, p1 in lines:
        cv2.line(img, p0, p1, (20, 40, 110), 2)
    cv2.imwrite(str(path), img)


def test_vessels_command_writes_maps_overlay_and_sidecars(tmp_path, capsys):
    from core.cli import main
    from core.models.registry import ModelCard, ModelRegistry

    torch.manual_seed(0)
    net = VesselNet(VesselNetConfig(channels=[4, 8, 8, 8])).eval()
    reg = ModelRegistry()
    card = ModelCard(name="tinyvessel", version="0.1", kind="vessel", architecture="vesselnet",
                     config={**net.cfg.to_dict(), "inference": {"working_fov_diameter": 120, "threshold": 0.5}})
    reg.install(net, card)
    reg.set_active("vessel", "tinyvessel")
    orig, enh = tmp_path / "orig.png", tmp_path / "enh.png"
    _fundus_png(orig, [((120, 30), (120, 210))])
    _fundus_png(enh, [((120, 30), (120, 210)), ((60, 100), (100, 60))])
    out = tmp_path / "out"
    assert main(["vessels", str(orig), "-o", str(out), "--compare", str(enh)]) == 0
    text = capsys.readouterr().out
    assert "vessel density" in text and "Dice between the maps" in text
    names = sorted(p.name for p in out.iterdir())
    for stem in ("orig_vessel_prob.png", "orig_vessels.png", "enh_vessel_prob.png", "enh_vessels.png",
                 "orig_vs_enh_vessel_overlay.png"):
        assert stem in names and stem + ".json" in names
    side = json.loads((out / "orig_vs_enh_vessel_overlay.png.json").read_text())
    assert side["model"]["name"] == "tinyvessel" and "dice" in side["extra"]["measures"]
    overlay = cv2.imread(str(out / "orig_vs_enh_vessel_overlay.png"))
    assert overlay.shape == (240, 240, 3)


def test_vessels_command_refuses_photos_of_different_sizes(tmp_path, capsys):
    from core.cli import main
    from core.models.registry import ModelCard, ModelRegistry

    net = VesselNet(VesselNetConfig(channels=[4, 8, 8, 8])).eval()
    reg = ModelRegistry()
    reg.install(net, ModelCard(name="tinyvessel", version="0.1", kind="vessel", architecture="vesselnet",
                               config={**net.cfg.to_dict(), "inference": {"working_fov_diameter": 120}}))
    reg.set_active("vessel", "tinyvessel")
    orig, enh = tmp_path / "orig.png", tmp_path / "enh.png"
    _fundus_png(orig, [], n=240)
    _fundus_png(enh, [], n=200)
    assert main(["vessels", str(orig), "-o", str(tmp_path / "o"), "--compare", str(enh)]) == 1
    assert "same size" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the shipped model

def _shipped():
    from core.models.registry import ModelRegistry

    installed = ModelRegistry().active("vessel")
    if installed is None:
        pytest.skip("no vessel model shipped in resources/models")
    return installed


def test_shipped_vessel_model_matches_its_card():
    installed = _shipped()
    card = installed.card
    assert card.kind == "vessel" and card.architecture == "vesselnet" and installed.origin == "shipped"
    assert installed.weights_path.stat().st_size < 5e6
    inf = card.config["inference"]
    assert 0.05 < inf["threshold"] < 0.95 and inf["working_fov_diameter"] >= 400
    seg = VesselSegmenter(installed)  # sha256 checked on load
    assert seg.threshold == inf["threshold"] and seg.working_diameter == inf["working_fov_diameter"]
    for key in ("drive_test", "hrf_test_native"):
        assert card.metrics[key]["auc"] > 0.9


def test_shipped_model_finds_vessels_in_a_drive_test_photo(fundus_data):
    from core.evaluation.vessel_eval import roc_auc
    from core.data.vessel_samples import load_sample

    s = load_sample(fundus_data, "drive_test", "03")
    seg = VesselSegmenter()
    vm = seg.segment((s.rgb * 255).astype(np.uint8), s.fov)
    assert vm.prob.shape == s.fov.shape and (vm.prob[~s.fov] == 0).all()
    assert roc_auc(vm.prob[s.fov], s.label[s.fov]) > 0.95
    density = vm.binary[s.fov].mean()
    assert 0.5 * s.label[s.fov].mean() < density < 1.6 * s.label[s.fov].mean()


@pytest.mark.slow
def test_shipped_model_meets_the_drive_targets_on_a_subset(fundus_data):
    # the full DRIVE test run (20 photos) is `python -m core.training.vessel_ship` / the model card
    from core.evaluation.vessel_eval import evaluate_vessels

    res = evaluate_vessels(VesselSegmenter(), "drive_test", data_root=fundus_data, ids=["01", "02", "04", "06"])
    assert res["images"] == 4
    assert res["auc"] >= 0.97 and res["accuracy"] >= 0.945


def test_a_cloud_of_specks_is_not_one_vessel():
    before = _map(TREE)
    specks = [((x, y), (x + 3, y + 2)) for x in range(60, 150, 9) for y in range(90, 140, 9)]
    c = compare_vessels(before, _map(TREE + specks), _fov())
    assert c.only_after.sum() > 300  # plenty of new pixels, but none of them vessel-like
    assert c.hallucinations == []


def _cut_fov(n: int = N, cut: int = 70) -> np.ndarray:
    """A round FOV with its top and bottom cut straight, as on HRF and many EyePACS cameras."""
    fov = _fov(n)
    fov[:cut] = False
    fov[n - cut:] = False
    return fov


def test_rim_along_a_straight_fov_cut_is_not_a_hallucination():
    fov = _cut_fov()
    before = _map(TREE)
    after = _map(TREE + [((110, 71), (290, 71)), ((110, N - 72), (290, N - 72))])  # bright-to-black steps
    c = compare_vessels(before, after, fov)
    assert c.only_after.sum() > 0  # the rim is still shown as "only after" in the map
    assert c.hallucinations == [] and c.warning == ""
    assert c.settings["border_px"] > 0


def test_a_made_up_vessel_just_inside_the_border_band_is_still_caught():
    fov = _cut_fov()
    before = _map(TREE)
    after = _map(TREE + [((110, 90), (180, 140))])  # starts ~20 px inside the cut, runs inwards
    c = compare_vessels(before, after, fov)
    assert len(c.hallucinations) == 1
    assert compare_vessels(before, _map(TREE + [((110, 71), (290, 71))]), fov, border_frac=0.0).hallucinations
