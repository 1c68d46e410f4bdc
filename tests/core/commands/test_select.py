"""`fundus-studio select` on a tiny run: refuses runs that trained on the validation photos, exports the choice."""

from __future__ import annotations

import json

from core.cli import main
from core.models.registry import ModelCard
from core.training.trainer import Trainer
from tests.core.training.tiny import restore_threads, tiny_config, tiny_sources  # noqa: F401


def _run(tmp_path, hold_out: bool):
    cfg = tiny_config(tmp_path, steps=2, snapshot_minutes=1e-9)
    cfg.data.hold_out_validation = hold_out
    Trainer(cfg, tiny_sources(3)).run()  # the run saves its config.json
    return tmp_path / "run"


def test_select_refuses_a_run_that_trained_on_the_validation_photos(tmp_path, fundus_data, capsys):
    run = _run(tmp_path, hold_out=False)
    assert main(["select", str(run), "--data", str(fundus_data), "--no-vessels", "--limit", "1"]) == 2
    assert "hold_out_validation" in capsys.readouterr().err
    assert not (run / "selected").exists()


def test_select_scores_every_snapshot_and_exports_the_chosen_one(tmp_path, fundus_data, capsys):
    run = _run(tmp_path, hold_out=True)
    rc = main(["select", str(run), "--data", str(fundus_data), "--no-vessels", "--limit", "2"])
    out = capsys.readouterr().out
    report = json.loads((run / "validation.json").read_text())
    assert set(report["figures"]) == {"step 1", "step 2"}
    assert len(report["validation_photos"]["clean"]) == 2 and len(report["validation_photos"]["real"]) == 2
    assert "| step 1 |" in (run / "validation.md").read_text() and "| step 2 |" in out
    chosen = report["choice"]["chosen"]
    assert rc == 0 and chosen in ("step 1", "step 2")  # two steps from the identity init harm nothing
    card = ModelCard.load(next((run / "selected").glob("*.json")))
    assert card.training["selection"]["chosen"] == chosen
    assert card.training["steps"] == int(chosen.split()[1])
