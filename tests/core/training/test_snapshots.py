"""A run's snapshots: written along the run, loaded back exactly, the chosen one exported with its selection."""

from __future__ import annotations

import pytest
import torch

from core.errors import FundusError
from core.models.registry import ModelCard
from core.training import snapshots
from core.training.trainer import Trainer
from tests.core.training.tiny import restore_threads, tiny_config, tiny_sources  # noqa: F401


def _run(tmp_path, mode="supervised", **over):
    cfg = tiny_config(tmp_path, mode=mode, steps=4, snapshot_minutes=1e-9, **over)
    real = tiny_sources(2, prefix="real") if mode == "teacher_student" else None
    tr = Trainer(cfg, tiny_sources(3), real)
    tr.run()
    cfg.save(tmp_path / "run" / "config.json")
    return cfg, tr


@pytest.mark.parametrize("mode", ["supervised", "teacher_student"])
def test_snapshots_hold_the_shipped_network_along_the_run(tmp_path, mode):
    cfg, tr = _run(tmp_path, mode)
    paths = snapshots.list_snapshots(tmp_path / "run")
    assert [snapshots.snapshot_step(p) for p in paths] == [1, 2, 3, 4]  # every step here, and the last one
    last = snapshots.load_snapshot(snapshots.run_config(tmp_path / "run"), paths[-1])
    shipped = tr.final_module()  # the EMA teacher of a teacher-student run
    assert all(torch.equal(last.state_dict()[k], v) for k, v in shipped.state_dict().items())
    first = snapshots.load_snapshot(cfg, paths[0])
    assert any(not torch.equal(first.state_dict()[k], v) for k, v in shipped.state_dict().items())
    assert not list((tmp_path / "run" / "snapshots").glob("*.tmp"))


def test_no_snapshots_unless_asked(tmp_path):
    cfg = tiny_config(tmp_path, steps=2)
    Trainer(cfg, tiny_sources(3)).run()
    assert snapshots.list_snapshots(tmp_path / "run") == []


def test_a_snapshot_of_another_network_or_a_torn_file_is_refused(tmp_path):
    cfg, _ = _run(tmp_path)
    path = snapshots.list_snapshots(tmp_path / "run")[0]
    other = tiny_config(tmp_path, model_overrides={"stage1_channels": [4, 4, 4]})
    with pytest.raises(FundusError, match="does not fit"):
        snapshots.load_snapshot(other, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(FundusError, match="cannot be read"):
        snapshots.load_snapshot(cfg, path)


def test_the_chosen_snapshot_is_exported_with_its_step_and_selection(tmp_path):
    cfg, _ = _run(tmp_path)
    path = snapshots.list_snapshots(tmp_path / "run")[1]
    installed = snapshots.export_selected(tmp_path / "run", cfg, path, {"chosen": "step 2", "figures": {"x": 1.0}})
    card = ModelCard.load(installed.card_path)
    assert card.training["steps"] == 2 and card.training["selection"]["chosen"] == "step 2"
    assert installed.card_path.parent == tmp_path / "run" / snapshots.SELECTED_DIR
