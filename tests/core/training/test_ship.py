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
