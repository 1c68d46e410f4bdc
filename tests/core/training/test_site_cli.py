"""`fundus-studio adapt`: scan, adapt, evaluate, install from the command line; resume by run folder."""

from __future__ import annotations

from core.cli import main
from core.models.registry import ModelRegistry
from tests.core.training.site_helpers import install_tiny, make_site


def test_adapt_command(tmp_path, capsys):
    install_tiny()
    make_site(tmp_path / "site", n=5)
    rc = main(["adapt", str(tmp_path / "site"), "--steps", "2", "--name", "clinic-a", "--holdout", "2",
               "--threads", "1", "--no-vessels", "--run-dir", str(tmp_path / "run"), "--activate"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "5 usable" in out and "overall:" in out and "installed clinic-a@1" in out
    reg = ModelRegistry()
    card = reg.get("clinic-a@1").card
    assert card.parent == "MAGE-Net-tiny@1"
    assert card.metrics["site_evaluation"]["held_out_photos"] == 2
    verdict = card.metrics["site_evaluation"]["verdict"]
    assert (reg.active("enhancer").ref == "clinic-a@1") == (verdict != "worse")
    # the finished run can be evaluated and installed again from its folder
    rc = main(["adapt", "--resume", str(tmp_path / "run"), "--name", "clinic-a", "--no-vessels"])
    assert rc == 0 and "installed clinic-a@2" in capsys.readouterr().out


def test_adapt_needs_a_folder(capsys):
    assert main(["adapt"]) == 2
    assert main(["adapt", "/no/such/folder", "--steps", "1"]) == 1
    assert "does not exist" in capsys.readouterr().err
