"""`fundus-studio adapt`: scan, adapt, evaluate, install from the command line; resume by run folder."""

from __future__ import annotations

from core.cli import main
from core.models.registry import ModelRegistry
from tests.core.training.site_helpers import install_tiny, make_site


def test_adapt_command(tmp_path, capsys):
    install_tiny()
    make_site(tmp_path / "site", n=6)
    rc = main(["adapt", str(tmp_path / "site"), "--steps", "2", "--name", "clinic-a", "--holdout", "2",
               "--threads", "1", "--no-vessels", "--run-dir", str(tmp_path / "run"), "--activate"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "6 usable" in out and "overall: inconclusive" in out and "installed clinic-a@1" in out
    reg = ModelRegistry()
    card = reg.get("clinic-a@1").card
    assert card.parent == "MAGE-Net-tiny@1"
    assert card.metrics["site_evaluation"]["held_out_photos"] == 2
    assert card.metrics["site_evaluation"]["verdict"] == "inconclusive"
    assert (reg.active("enhancer").ref == "clinic-a@1") == (not card.training["flagged_worse"])
    # the finished run can be evaluated and installed again from its folder
    rc = main(["adapt", "--resume", str(tmp_path / "run"), "--name", "clinic-a", "--no-vessels"])
    assert rc == 0 and "installed clinic-a@2" in capsys.readouterr().out


def test_adapt_needs_a_folder(capsys):
    assert main(["adapt"]) == 2
    assert main(["adapt", "/no/such/folder", "--steps", "1"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_adapt_runs_on_ten_photos_made_from_the_bundled_sample(tmp_path, capsys):
    """A realistic first try: 10 usable photos (the bundled sample, degraded by core.degrade with 10 seeds)."""
    import cv2
    import numpy as np

    from core.degrade import degrade
    from core.imaging import read
    from core.imaging.fov import detect_fov
    from core.paths import resources_dir

    sample = read(resources_dir() / "samples" / "fundus_normal_left_eye_cc0.jpg").pixels
    small = cv2.resize(sample, (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    fov = detect_fov((small * 255).astype(np.uint8)).mask
    site = tmp_path / "site"
    site.mkdir()
    for seed in range(10):
        out, _ = degrade(small, fov, combination="isb"[seed % 3:seed % 3 + 1 + seed % 2], seed=seed)
        cv2.imwrite(str(site / f"scan_{seed:02d}.png"), cv2.cvtColor((out * 255 + 0.5).astype(np.uint8),
                                                                     cv2.COLOR_RGB2BGR))
    install_tiny()
    rc = main(["adapt", str(site), "--steps", "2", "--name", "clinic-b", "--threads", "1", "--no-vessels",
               "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "10 usable" in out and "training on 7 photos" in out and "3 held out" in out
    assert "overall: inconclusive" in out and "guard threshold of the adapted model" in out
    card = ModelRegistry().get("clinic-b@1").card
    assert card.training["data"]["holdout_photos"] == 3 and card.training["data"]["train_photos"] == 7
    assert card.extra["guard"]["n"] == 3 * 8 and card.extra["guard"]["threshold"] is not None


def test_adapt_refuses_five_photos_with_the_number(tmp_path, capsys):
    install_tiny()
    make_site(tmp_path / "site", n=5)
    assert main(["adapt", str(tmp_path / "site"), "--steps", "1", "--no-vessels"]) == 1
    err = capsys.readouterr().err
    assert "Only 5 usable photos" in err and "at least 6" in err
