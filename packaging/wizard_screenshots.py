"""`make screenshots` (second half): every page of the site-adaptation wizard, in a real X window.

    .venv/bin/python packaging/wizard_screenshots.py [--out DIR] [--steps N]

The "site" is 10 photos made from the bundled CC0 sample with core.degrade (one per
degradation combination and seed), plus a duplicate and a thumbnail that the scan leaves out,
written to a temporary folder: nothing from the research datasets is shown or copied. The adaptation is a short one (a few steps on small patches, the
shipped mage-s as the start), so the whole run takes a couple of minutes on a busy 2-core CPU.
Like packaging/screenshots.py, the parent starts Xvfb and runs itself again as a child on that
display with the xcb platform plugin and a fresh FUNDUS_STUDIO_HOME; the child grabs the
wizard's window from the screen after each step.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "packaging")]  # the app, and the main-window screenshot helpers

from screenshots import _settle, _wait, run_under_xvfb  # noqa: E402 - after the path is set

OUT = ROOT / "docs" / "screenshots"
SIZE = (1280, 860)
"""Wizard window size: the steps list, the page and its buttons, with room for the photo strip."""
SCREEN = (1400, 960)
SITE_PHOTOS = 10
SITE_SIDE = 768
"""Side of the generated site photos (the bundled sample is 1411 px): smaller keeps the scan quick."""
FAST = dict(patch=64, batch=1, real_batch=1, pool_size=4, threads=2, preview_every_s=5.0, warmup_steps=4,
            checkpoint_minutes=60.0)
"""A short adaptation: small patches, one pair per step (the loss is plotted every 5 steps)."""
MAX_PNG_BYTES = 300_000


# ============================================================================ parent
def parent(args: argparse.Namespace) -> int:
    home = tempfile.mkdtemp(prefix="fundus-wizard-home-")
    try:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--out", str(args.out), "--steps", str(args.steps)]
        return run_under_xvfb(cmd, SCREEN, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# ============================================================================ child
def make_site(folder: Path, n: int = SITE_PHOTOS) -> list[Path]:
    """n degraded versions of the bundled CC0 sample (core.degrade, combination k mod 7, seed k)."""
    import cv2  # noqa: PLC0415 - the parent process needs neither OpenCV nor the engine

    from core.degrade import COMBINATIONS, degrade  # noqa: PLC0415
    from core.imaging import read, write  # noqa: PLC0415
    from core.imaging.fov import detect_fov  # noqa: PLC0415
    from core.selftest import default_sample  # noqa: PLC0415

    rgb = read(default_sample()).pixels
    rgb = cv2.resize(rgb, (SITE_SIDE, SITE_SIDE), interpolation=cv2.INTER_AREA)
    fov = detect_fov(rgb).mask
    clean = rgb.astype(np.float32) / 255.0
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        combination = COMBINATIONS[k % len(COMBINATIONS)]
        degraded, _ = degrade(clean, fov, combination, seed=k)
        pixels = (np.clip(degraded, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        path = folder / f"site_{k + 1:02d}_{combination}.jpg"
        write(path, pixels)
        out.append(path)
    # two files a real folder has too, so the page shows why a file is left out
    shutil.copyfile(out[0], folder / "copy_of_site_01.jpg")
    write(folder / "thumbnail.jpg", cv2.resize(rgb, (160, 160), interpolation=cv2.INTER_AREA))
    return out


def _shrink_png(path: Path) -> None:
    """Keep a screenshot under MAX_PNG_BYTES: an adaptive 256-colour palette if plain PNG is larger."""
    from PIL import Image  # noqa: PLC0415

    if path.stat().st_size <= MAX_PNG_BYTES:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _grab(app, wizard, path: Path) -> None:
    _settle(app, 0.6)
    geo = wizard.frameGeometry()
    pix = app.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pix.save(str(path)):
        raise SystemExit(f"could not save {path}")
    _shrink_png(path)
    print(f"saved {path} ({path.stat().st_size // 1024} KB)", flush=True)


def child(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QWizard  # noqa: PLC0415

    from app.main import create_app  # noqa: PLC0415
    from app.wizard import AdaptWizard  # noqa: PLC0415

    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="fundus-wizard-site-"))
    t0 = time.monotonic()
    try:
        make_site(work / "site")
        app = create_app([])
        w = AdaptWizard(runs_dir=work / "runs", overrides=dict(FAST))
        w.setGeometry(40, 30, *SIZE)
        w.show()
        _settle(app, 1.0)
        _grab(app, w, out / "wizard_1_welcome.png")

        w.next()
        w.site.set_folder(str(work / "site"))
        if not _wait(app, w.site.isComplete, 300):
            raise SystemExit("the site scan did not finish")
        _grab(app, w, out / "wizard_2_site_photos.png")

        w.next()
        w.settings_page.steps.setValue(args.steps)
        _grab(app, w, out / "wizard_3_settings.png")

        w.button(QWizard.WizardButton.CommitButton).click()  # "Start training"
        _wait(app, lambda: w.train_page.plot.points("loss") >= 2, 300)
        if not _wait(app, w.train_page.isComplete, 900):
            raise SystemExit("the adaptation did not finish")
        _wait(app, lambda: all(t.has_image() for t in w.train_page.preview.tiles), 60)
        _grab(app, w, out / "wizard_4_training.png")

        w.next()
        if not _wait(app, w.results.isComplete, 900):
            raise SystemExit("the evaluation of the adapted model did not finish")
        _grab(app, w, out / "wizard_5_results.png")

        w.next()
        _grab(app, w, out / "wizard_6_save.png")
        w.shutdown()
        w.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wizard screenshots in {time.monotonic() - t0:.0f} s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(OUT), help="where the PNGs go (default docs/screenshots)")
    ap.add_argument("--steps", type=int, default=60, help="adaptation steps (a short run: only the pictures matter)")
    args = ap.parse_args(argv)
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
