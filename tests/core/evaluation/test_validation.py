"""Checkpoint choice on the validation split: the gates, the choice, and the measures on tiny photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.evaluation import validation as V
from tests.core.evaluation.test_do_no_harm import _blotcher, _photo, _sharpen

GOOD = {"vessel_recovery": 0.30, "correlation_mean": 0.95, "correlation_worst": 0.75, "ratio_geo_mean": 1.0,
        "ratio_worst": 0.90, "structure_mean_db": 38.0, "structure_worst_db": 30.0, "blob_ratio": 1.0,
        "dark_ratio": 0.95}


def test_the_best_vessel_recovery_among_snapshots_that_harm_nothing_is_chosen():
    figures = {
        "reference": GOOD,
        "step 100": {**GOOD, "vessel_recovery": 0.35},
        "step 200": {**GOOD, "vessel_recovery": 0.60, "dark_ratio": 0.70},  # fades dark dots: out
        "step 300": {**GOOD, "vessel_recovery": 0.40, "correlation_mean": 0.945},  # within tolerance
    }
    choice = V.choose(figures, "reference")
    assert choice["chosen"] == "step 300" and choice["beats_reference"] is True
    assert "reference" not in choice["candidates"]  # the reference is the bar, never a candidate
    assert not choice["candidates"]["step 200"]["eligible"]
    assert any(f.startswith("dark_ratio") for f in choice["candidates"]["step 200"]["failures"])
    table = V.markdown(figures, choice)
    assert "**chosen**" in table and "no: dark_ratio" in table


def test_nothing_is_chosen_when_every_snapshot_harms_and_floors_stand_in_for_a_missing_reference():
    figures = {"reference": GOOD, "step 1": {**GOOD, "ratio_worst": 0.5}, "step 2": {**GOOD, "blob_ratio": 1.4}}
    assert V.choose(figures, "reference")["chosen"] is None
    alone = {"step 1": {**GOOD, "structure_mean_db": 33.0}, "step 2": {**GOOD, "vessel_recovery": 0.1}}
    choice = V.choose(alone, None)
    assert choice["chosen"] == "step 2" and choice["beats_reference"] is None
    assert any(f.startswith("structure_mean_db") for f in choice["candidates"]["step 1"]["failures"])


def test_a_missing_measure_fails_its_gate_rather_than_passing_it():
    figures = {"reference": GOOD, "step 1": {**GOOD, "ratio_worst": None}}
    assert V.choose(figures, "reference")["candidates"]["step 1"]["eligible"] is False


def test_measures_tell_a_harmful_candidate_from_a_gentle_one_on_tiny_photos():
    clean = [_photo(i, "idrid") for i in range(3)]
    real = [_photo(10 + i, "csdi") for i in range(3)]
    photos = V.ValidationPhotos(clean, real, [], Path("."))
    figures = V.measure({"identity": lambda rgb, fov: rgb, "blotcher": _blotcher, "sharpen": _sharpen}, photos, None)
    assert figures["identity"]["correlation_mean"] > 0.99 and figures["identity"]["ratio_worst"] == 1.0
    assert figures["blotcher"]["structure_mean_db"] < figures["identity"]["structure_mean_db"]
    assert figures["sharpen"]["ratio_geo_mean"] > 1.05
    assert "vessel_recovery" not in figures["identity"]  # no segmenter: no vessel figure, nothing made up
    assert all(np.isfinite(v) for v in figures["sharpen"].values() if v is not None)
    choice = V.choose(figures, "identity")
    assert choice["candidates"]["blotcher"]["eligible"] is False


def test_worst_photos_name_the_photo_a_blotch_harms_most():
    clean = [_photo(i, "idrid") for i in range(2)]
    real = [_photo(10 + i, "csdi") for i in range(3)]
    photos = V.ValidationPhotos(clean, real, [], Path("."))
    tables: dict = {}
    target = real[1].id

    def blotch_one(rgb, fov):  # harms one photo only: that photo must come first
        return _blotcher(rgb, fov) if rgb is real[1].rgb else rgb

    V.measure({"identity": lambda rgb, fov: rgb, "one": blotch_one}, photos, None, tables=tables)
    assert set(tables) == {"photometric", "real"}
    worst = V.worst_photos(tables["real"], "one", n=2)
    assert worst["correlation"][0][0] == target and len(worst["correlation"]) == 2
    assert worst["correlation"][0][1] < worst["correlation"][1][1]
    assert all(v == 1.0 for _, v in V.worst_photos(tables["real"], "identity")["ratio"])
    assert all(v == 1.0 for _, v in V.worst_photos(tables["real"], "identity")["blobs"])
    blobs = worst["blobs"]
    assert len(blobs) == 2 and blobs[0][1] >= blobs[1][1]  # highest (most dots added) first
