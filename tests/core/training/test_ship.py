import json

import pytest

from core.training.export import export_model
from core.training.ship import choose_variant, ship_model
from tests.core.training.tiny import TINY_MODEL, restore_threads, tiny_config  # noqa: F401


def _report(ps, pt, ts_better):
    sup = {"illumination_uniformity": 0.8, "vessel_cnr": 3.0, "sharpness": 0.02, "colour_shift": 5.0}
    d = 0.01 if ts_better else -0.01
    ts = {"illumination_uniformity": 0.8 + d, "vessel_cnr": 3.0 + d, "sharpness": 0.02 + d, "colour_shift": 5.0 - d}
    return {
        "synthetic_512": {"rows": {"sup": {"psnr": {"mean": ps}}, "ts": {"psnr": {"mean": pt}}}},
        "real_noref": {"rows": {k: {m: {"mean": v} for m, v in vals.items()} for k, vals in (("sup", sup), ("ts", ts))}},
    }


def test_choose_variant_follows_the_issue_criterion():
    assert choose_variant(_report(25.0, 24.8, True), "sup", "ts")[0] == "ts"  # better on real, -0.2 dB
    assert choose_variant(_report(25.0, 24.5, True), "sup", "ts")[0] == "sup"  # loses 0.5 dB
    assert choose_variant(_report(25.0, 25.1, False), "sup", "ts")[0] == "ts"  # higher PSNR
    label, why = choose_variant(_report(25.0, 24.9, False), "sup", "ts")
    assert label == "sup" and "0 of 4" in why


def test_ship_model_writes_metrics_and_checks_hash(tmp_path):
    from core.models.magenet import MageNet, MageNetConfig

    module = MageNet(MageNetConfig.from_dict(TINY_MODEL))
    cfg = tiny_config(tmp_path)
    inst = export_model(module, cfg, tmp_path / "run", training={"steps": 1})
    shipped = ship_model(inst.card_path, tmp_path / "ship", {"psnr": 30.5}, {"variant": "x"}, notes="n")
    card = json.loads(shipped.card_path.read_text())
    assert card["metrics"] == {"psnr": 30.5} and card["training"]["variant"] == "x" and card["sha256"] == inst.card.sha256
    inst.weights_path.write_bytes(inst.weights_path.read_bytes()[:-4] + b"\0\0\0\0")  # damaged weights
    from core.errors import ModelError

    with pytest.raises(ModelError):
        ship_model(inst.card_path, tmp_path / "ship2", {})


def _dnh_report(label: str, psnr_mean: float, psnr_worst: float, corr_mean: float, corr_worst: float) -> dict:
    """An evaluate report with the do-no-harm tables (core.evaluation.do_no_harm's shape) for one model."""
    return {"do_no_harm": {
        "photometric": {"rows": {label: {"structure_psnr": {"mean": psnr_mean, "worst": psnr_worst,
                                                            "worst_image": "drive/01", "n": 40},
                                         "psnr": {"mean": 20.0, "worst": 15.0, "worst_image": "drive/01", "n": 40}}}},
        "real": {"rows": {label: {"bandpass_correlation": {"mean": corr_mean, "worst": corr_worst,
                                                           "worst_image": "eyeq/1", "n": 30},
                                  "vessel_contrast_ratio": {"geo_mean": 1.3, "worst": 0.95, "n": 28}}}},
        "lesions": {"rows": {label: {"photometric": {"geo_mean": 1.02}}}},
        "guard": {label: {"threshold": 0.71, "catch_rate": 0.9, "n": 40, "n_good": 30, "n_bad": 5}},
    }}


@pytest.fixture
def trained(tmp_path):
    from core.models.magenet import MageNet, MageNetConfig

    module = MageNet(MageNetConfig.from_dict(TINY_MODEL))
    return export_model(module, tiny_config(tmp_path), tmp_path / "run", training={"steps": 1})


def test_ship_stores_do_no_harm_figures_and_guard_and_refuses_a_worse_model(trained, tmp_path):
    from core.errors import ModelError
    from core.guard import guard_threshold

    dest = tmp_path / "shipped"
    first = ship_model(trained.card_path, dest, {"psnr": 30.0}, report=_dnh_report("a", 36.0, 30.0, 0.92, 0.75),
                       label="a")  # nothing shipped yet: nothing to compare with
    card = json.loads(first.card_path.read_text())
    assert card["metrics"]["do_no_harm"]["photometric"]["structure_psnr"]["mean"] == 36.0
    assert card["metrics"]["do_no_harm"]["real"]["bandpass_correlation"]["worst"] == 0.75
    assert card["guard"]["threshold"] == 0.71 and card["guard"]["catch_rate"] == 0.9
    assert guard_threshold(first.card) == (0.71, "model card")  # what the Enhancer will use

    # within the tolerances (0.3 dB / 1 dB, 0.01 / 0.03): ships
    ship_model(trained.card_path, tmp_path / "copy", {}, report=_dnh_report("b", 35.75, 29.1, 0.915, 0.73),
               label="b", shipped_card=first.card_path)
    for worse, what in (((35.6, 30.0, 0.92, 0.75), "photometric structure psnr mean"),
                        ((36.0, 28.9, 0.92, 0.75), "photometric structure psnr worst"),
                        ((36.0, 30.0, 0.905, 0.75), "real bandpass correlation mean"),
                        ((36.0, 30.0, 0.92, 0.71), "real bandpass correlation worst")):
        with pytest.raises(ModelError, match=what) as err:
            ship_model(trained.card_path, dest, {}, report=_dnh_report("c", *worse), label="c")
        assert "allow_worse" in str(err.value) and "--allow-worse" in str(err.value)
    assert json.loads(first.card_path.read_text())["metrics"]["do_no_harm"]["photometric"]["structure_psnr"]["mean"] == 36.0
    with pytest.raises(ModelError, match="not measured"):  # no figures at all against a card that has them
        ship_model(trained.card_path, dest, {"psnr": 1.0})
    forced = ship_model(trained.card_path, dest, {}, report=_dnh_report("c", 35.0, 30.0, 0.92, 0.75), label="c",
                        allow_worse=True)
    despite = json.loads(forced.card_path.read_text())["training"]["shipped_despite_do_no_harm"]
    assert len(despite) == 1 and "35.000 dB is 1.000 dB below" in despite[0]


def test_ship_command_refuses_then_ships_with_allow_worse(trained, tmp_path, capsys):
    from core.cli import main

    dest = tmp_path / "shipped"
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_dnh_report("m", 36.0, 30.0, 0.92, 0.75)))
    bad.write_text(json.dumps(_dnh_report("m", 36.0, 30.0, 0.85, 0.60)))
    assert main(["ship", str(trained.card_path), "--report", str(good), "--label", "m", "--dest", str(dest)]) == 0
    assert "guard threshold 0.710" in capsys.readouterr().out
    assert main(["ship", str(trained.card_path), "--report", str(bad), "--label", "m", "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "Not shipping" in err and "real bandpass correlation mean 0.850" in err and "worst 0.600" in err
    assert main(["ship", str(trained.card_path), "--report", str(bad), "--label", "m", "--dest", str(dest),
                 "--allow-worse"]) == 0
    assert "WARNING: shipped although it is worse" in capsys.readouterr().out
