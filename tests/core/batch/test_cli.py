"""`fundus-studio batch`: a tiny MAGE-Net installed in the per-test registry, real command line."""

from __future__ import annotations

import csv

import pytest

from core.batch import BatchQueue
from core.cli import main
from core.models.magenet import MageNet, MageNetConfig
from core.models.registry import ModelCard, ModelRegistry
from tests.core.batch.helpers import photo_tree

TINY = MageNetConfig(stage1_channels=(8, 8, 8), stage2_channels=(8, 8, 8), stage1_cabs=1, stage2_cabs=1,
                     rsp_channels=4, rsp_groups=1, rsp_cabs=1, reduction=2, structure_hidden=4)


@pytest.fixture
def tiny_model():
    registry = ModelRegistry()
    card = ModelCard(name="tiny", version="0.1", kind="enhancer", architecture="magenet",
                     config={**TINY.to_dict(), "inference": {"working_size": 64}})
    registry.install(MageNet(TINY), card)
    registry.set_active("enhancer", "tiny", "0.1")
    return registry


@pytest.mark.slow  # ~15 s: the shipped vessel model measures every photo
def test_batch_command_enhances_reports_and_resumes(tmp_path, tiny_model, capsys):
    src = tmp_path / "in"
    photo_tree(src, 3)
    (src / "junk.png").write_text("no")
    out = tmp_path / "out"
    rc = main(["batch", str(src), "-o", str(out), "--report", "--device", "cpu", "--include", "p*.png",
               "--vessels", "on"])
    text = capsys.readouterr()
    assert rc == 0, text.err
    assert "3 enhanced, 0 skipped, 0 failed" in text.out and "Model tiny 0.1" in text.out
    assert sorted(p.name for p in out.rglob("*_enhanced.png")) == ["p0_enhanced.png", "p1_enhanced.png",
                                                                  "p2_enhanced.png"]
    rows = list(csv.DictReader((out / "batch_report.csv").open()))
    assert {r["status"] for r in rows} == {"done"} and (out / "batch_report.html").exists()
    if ModelRegistry().active("vessel") is not None:  # a vessel model ships with the application
        assert all(0.0 <= float(r["vessel_dice"]) <= 1.0 for r in rows)
    else:
        assert all(r["vessel_dice"] == "" and "No vessel model" in r["vessel_note"] for r in rows)

    # --resume on a finished batch picks up a newly added photo and fails the junk one alone
    photo_tree(src / "late", 1)
    rc = main(["batch", "-o", str(out), "--resume", "--device", "cpu", "--no-measures"])
    text = capsys.readouterr()
    assert rc == 0, text.err
    batch = BatchQueue().latest_batch(out)
    assert BatchQueue().counts(batch.id)["done"] == 4


def test_batch_command_refuses_the_input_folder_as_output(tmp_path, tiny_model, capsys):
    src = tmp_path / "in"
    photo_tree(src, 1)
    assert main(["batch", str(src), "-o", str(src / "enhanced"), "--device", "cpu"]) == 2
    assert "inside the folder of the original photos" in capsys.readouterr().err
    assert main(["batch", str(src), "-o", str(src / "enhanced"), "--device", "cpu", "--allow-inside-input",
                 "--no-measures"]) == 0
    assert (src / "enhanced" / "a" / "p0_enhanced.png").exists()
