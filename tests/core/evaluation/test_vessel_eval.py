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


def test_counting_auc_matches_the_exact_mid_rank_auc():
    from core.evaluation.metrics import roc_auc as exact

    rng = np.random.default_rng(1)
    y = rng.random(200_000) < 0.12
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).astype(np.float32)
    assert abs(roc_auc(s, y) - exact(s, y)) < 1e-5


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


def _write_vessel_sets(root, side: int = 96) -> None:
    """A miniature DRIVE test / HRF folder layout with drawn fundus photos and their vessel labels."""
    from PIL import Image

    from tests.synthetic import make_fundus

    def photo_and_label(seed: int):
        rgb = make_fundus(side, side, seed=seed)
        g = rgb[..., 1].astype(np.float32)
        fov = rgb.max(axis=2) > 10
        label = (g < np.percentile(g[fov], 12)) & fov
        return rgb, label, fov

    def gif(mask, path):  # DRIVE's GIFs hold palette indices 0 and 255
        im = Image.fromarray((mask * 255).astype(np.uint8), "P")
        im.putpalette([v for i in range(256) for v in (i, i, i)])
        im.save(path, optimize=False)

    drive = root / "drive" / "test"
    for sub in ("images", "1st_manual", "mask"):
        (drive / sub).mkdir(parents=True, exist_ok=True)
    for i, sid in enumerate(("01", "02")):
        rgb, label, fov = photo_and_label(i)
        Image.fromarray(rgb).save(drive / "images" / f"{sid}_test.tif")
        gif(label, drive / "1st_manual" / f"{sid}_manual1.gif")
        gif(fov, drive / "mask" / f"{sid}_test_mask.gif")
    hrf = root / "hrf"
    for sub in ("images", "manual1", "mask"):
        (hrf / sub).mkdir(parents=True, exist_ok=True)
    rgb, label, fov = photo_and_label(7)
    Image.fromarray(rgb).save(hrf / "images" / "09_h.jpg", quality=98)
    Image.fromarray((label * 255).astype(np.uint8)).save(hrf / "manual1" / "09_h.tif")
    Image.fromarray((fov * 255).astype(np.uint8)).save(hrf / "mask" / "09_h_mask.tif")


def test_vessel_recovery_rows_ratios_and_markdown_on_both_sets(tmp_path):
    from core.evaluation.protocol import markdown, vessel_recovery

    _write_vessel_sets(tmp_path)
    calls: list[tuple[str, float]] = []

    def identity(rgb, fov):
        calls.append(("identity", float(rgb.sum())))
        return rgb

    def flatten(rgb, fov):  # throws the picture away: worse than the degraded photo
        return np.full_like(rgb, 0.5)

    seg = _GreenDarkness()
    ids = {"drive_test": ["01", "02"], "hrf_test": ["09_h"]}
    rep = vessel_recovery(seg, {"identity": identity, "flatten": flatten}, data_root=tmp_path,
                          combinations=["i", "isb"], ids=ids)
    assert set(rep["sets"]) == {"drive_test", "hrf_test"}
    drive = rep["sets"]["drive_test"]["rows"]
    assert list(drive) == ["clean", "degraded input", "identity", "flatten"]
    assert rep["sets"]["drive_test"]["images"] == 2 and rep["sets"]["hrf_test"]["images"] == 1
    for block in rep["sets"].values():
        rows = block["rows"]
        assert rows["identity"]["auc"] == pytest.approx(rows["degraded input"]["auc"])  # same degraded photos
        assert rows["identity"]["auc_recovery"] == pytest.approx(0.0, abs=1e-9)
        assert rows["flatten"]["auc"] == pytest.approx(0.5)
        if rows["clean"]["auc"] > rows["degraded input"]["auc"] > 0.5:
            assert rows["flatten"]["auc_recovery"] < 0
    by = rep["sets"]["drive_test"]["rows"]["identity"]["auc_by_combination"]
    assert set(by) == {"i", "isb"}  # photo 01 got "i", photo 02 got "isb"
    assert by == pytest.approx(rep["sets"]["drive_test"]["rows"]["degraded input"]["auc_by_combination"])
    assert rep["sets"]["hrf_test"]["rows"]["flatten"]["auc_by_combination"] == pytest.approx({"i": 0.5})
    assert "auc_by_combination" not in rep["sets"]["drive_test"]["rows"]["clean"]
    # each method saw the same degraded photos, in the same order
    assert len(calls) == 3 and calls[0][1] != calls[1][1]
    md = markdown({"protocol_version": 1, "seed": 0, "working_size": 64, "vessel_recovery": rep,
                   "synthetic_512": {"cases": 0, "images": [], "combinations": [], "rows": {}}})
    assert "Vessel recovery (DRIVE test 01-20" in md and "Vessel recovery (HRF 09-10" in md
    assert md.count("| flatten |") == 4  # recovery table and by-combination table, both sets
    assert "| input | i | isb |" in md


def test_clean_trained_segmenter_is_optional_and_loads_from_resources_evaluation(tmp_path, monkeypatch):
    """The paper's setting needs a segmenter trained on clean photos; it lives outside resources/models
    (never bundled, never the active vessel model) and the protocol runs without it."""
    from safetensors.torch import save_file

    from core.evaluation import protocol
    from core.models.registry import ModelCard
    from core.provenance import sha256_file
    from tests.core.training.site_helpers import tiny_vessel_segmenter

    monkeypatch.setattr("core.paths.resources_dir", lambda: tmp_path)
    assert protocol.clean_trained_segmenter() is None
    seg = tiny_vessel_segmenter()
    folder = tmp_path / protocol.CLEAN_SEGMENTER_DIR
    folder.mkdir()
    weights = folder / "vesselnet-clean-1.0.0.safetensors"
    save_file({k: v.contiguous() for k, v in seg.model.state_dict().items()}, str(weights))
    card = ModelCard(name="vesselnet-clean", version="1.0.0", kind="vessel", architecture="vesselnet",
                     config={**seg.model.cfg.to_dict(), "inference": {"working_fov_diameter": 64, "threshold": 0.4}},
                     weights_file=weights.name, sha256=sha256_file(weights), created="2026-11-27T00:00:00+00:00")
    card.save(folder / "vesselnet-clean-1.0.0.json")
    loaded = protocol.clean_trained_segmenter()
    assert loaded.name == "vesselnet-clean-1.0.0" and loaded.threshold == 0.4
    from core.vessels import VesselSegmenter
    from tests.synthetic import make_fundus

    rgb = make_fundus(96, 96, seed=3)
    fov = rgb.max(axis=2) > 10
    same = VesselSegmenter(model=seg.model, card=card.to_dict())
    assert np.allclose(loaded.probability(rgb, fov), same.probability(rgb, fov), atol=1e-5)


def test_clean_segmenter_recovery_gets_its_own_tables_and_targets(tmp_path):
    from core.evaluation.protocol import check_targets, markdown, vessel_recovery

    _write_vessel_sets(tmp_path)
    rep = vessel_recovery(_GreenDarkness(), {"supervised": lambda rgb, fov: rgb}, data_root=tmp_path,
                          combinations=["i"], ids={"drive_test": ["01"]}, datasets=("drive_test",))
    full = {"protocol_version": 1, "seed": 0, "working_size": 64, "vessel_recovery_clean_segmenter": rep,
            "synthetic_512": {"cases": 0, "images": [], "combinations": [],
                              "rows": {"degraded input": {"psnr": {"mean": 20.0, "std": 1.0}, "ssim": {"mean": 0.8}},
                                       "supervised": {"psnr": {"mean": 21.0, "std": 1.0}, "ssim": {"mean": 0.9}}}}}
    md = markdown(full)
    assert "segmenter trained on clean photos only" in md
    assert md.count("| supervised |") == 1 + 2  # synthetic table; recovery and by-combination tables
    targets = check_targets(full, "supervised", None)["supervised"]
    assert "vessel_auc_recovery_drive_test_clean_segmenter" in targets
    assert "meets_vessel_recovery_0_80_drive_test_clean_segmenter" in targets
