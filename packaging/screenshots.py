"""`make screenshots`: the main window in every compare mode, in a real X window under Xvfb.

    .venv/bin/python packaging/screenshots.py [--home DIR] [--out-data DIR] [--only samples|data]

Writes README screenshots of the bundled samples to docs/screenshots/, and screenshots of
a real HRF photo and a real low-quality photo from ../shared/data/fundus to a folder
OUTSIDE the repository (default /work/runs/screenshots, or ../runs/screenshots): those
datasets may not be redistributed, so their screenshots never enter the repository.

The parent process starts Xvfb (installed by ../shared/tools/xshot, or apt install xvfb)
and runs itself again as a child on that display with the xcb platform plugin, so what is
captured is a real window, drawn by the real window system path. By default the child gets
a fresh temporary user home (shipped models only, the user's settings untouched);
--home uses another (e.g. one with a site-adapted model installed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "screenshots"
DEFAULT_DATA_OUT = ROOT.parent / "runs" / "screenshots"
SIZE = (1600, 1000)
HRF_PHOTO = "hrf/images/01_dr.JPG"
LOWQ_PHOTOS = ("real_lowquality/eyepacs_fullres", "real_lowquality/eyeq_usable_512/images")


# ============================================================================ parent
def _free_display() -> int:
    for n in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise SystemExit("no free X display number")


def run_under_xvfb(cmd: list[str], size: tuple[int, int], home: str) -> int:
    """Run cmd on a fresh virtual X screen (xcb, as a person sees the app) with its own user folder."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        print("Xvfb is not installed: run ../shared/tools/xshot once, or `apt-get install xvfb`.", file=sys.stderr)
        return 2
    disp = _free_display()
    proc = subprocess.Popen(
        [xvfb, f":{disp}", "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.5)
        env = dict(os.environ, DISPLAY=f":{disp}", QT_QPA_PLATFORM="xcb", FUNDUS_STUDIO_HOME=str(home))
        env.pop("WAYLAND_DISPLAY", None)
        return subprocess.call(cmd, env=env, cwd=str(ROOT))
    finally:
        proc.terminate()
        proc.wait(10)


def parent(args: argparse.Namespace) -> int:
    home = args.home or tempfile.mkdtemp(prefix="fundus-shots-home-")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--out-data", str(args.out_data),
           "--out-samples", str(args.out_samples)]
    if args.only:
        cmd += ["--only", args.only]
    return run_under_xvfb(cmd, SIZE, home)


# ============================================================================ child
def _wait(app, cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _grab(app, win, path: Path) -> None:
    _settle(app)
    pix = app.primaryScreen().grabWindow(0, 0, 0, SIZE[0], SIZE[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    pix.save(str(path))
    print(f"saved {path}")


def _grab_widget(app, widget, path: Path) -> None:
    _settle(app)
    geo = widget.frameGeometry()
    pix = app.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
    pix.save(str(path))
    print(f"saved {path}")


def _enhance_and_wait(app, win) -> bool:
    if win.enhance_panel.model_ref() is None:
        return False
    _wait(app, lambda: win.session.image is not None, 60)
    win.engine_wiring.enhance_current()
    ok = _wait(app, lambda: win.session.result is not None or bool(win.session.last_error), 600)
    _wait(app, lambda: not win.engine.busy(), 600)  # vessels, when a vessel model is installed
    return ok and win.session.result is not None


def shoot_set(app, win, paths: list[Path] | None, out: Path, prefix: str, samples: bool) -> None:
    win.image_list.clear()
    win.image_list.entries.clear()
    if samples:
        win.opening.open_samples()
        # the most degraded sample shows what enhancement does best
        win.image_list.setCurrentRow(win.image_list.count() - 1)
    else:
        win.opening.open_paths([str(p) for p in paths or []])
    _wait(app, lambda: win.session.image is not None, 60)
    enhanced = _enhance_and_wait(app, win)
    for i, mode in enumerate(("single", "split", "side", "flicker"), start=1):
        win.acts.set_mode(mode)
        win.viewer.state.fit()
        _grab(app, win, out / f"{prefix}_{i}_{mode}.png")
    if enhanced:
        # a close look: split at 1:1 around the optic disc region, and Space held in flicker mode
        win.acts.set_mode("split")
        st = win.viewer.state
        st.actual_pixels()
        st.center_on(st.image_w * 0.38, st.image_h * 0.5)
        _grab(app, win, out / f"{prefix}_5_split_1to1.png")
        win.acts.set_mode("flicker")
        win.viewer.set_space_held(True)
        st.fit()
        _grab(app, win, out / f"{prefix}_6_flicker_space_held.png")
        win.viewer.set_space_held(False)
        if win.session.vessel_payload is not None:
            win.acts.set_mode("side")
            win.vessel_panel.difference.setChecked(True)
            _grab(app, win, out / f"{prefix}_7_vessel_difference.png")
            win.vessel_panel.difference.setChecked(False)
    win.acts.set_mode("split")


def child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from app.main import create_app  # noqa: PLC0415
    from app.main_window import MainWindow  # noqa: PLC0415
    from core.paths import shared_data_dir  # noqa: PLC0415

    app = create_app([])
    win = MainWindow(interactive=False)
    win.setGeometry(0, 0, SIZE[0], SIZE[1])
    win.show()
    _settle(app, 1.0)
    _wait(app, lambda: win.session.models_ready, 120)
    _wait(app, lambda: "loading" not in win.model_label.text(), 120)
    try:
        if args.only in (None, "samples"):
            docs = Path(args.out_samples)
            shoot_set(app, win, None, docs, "samples", samples=True)
            from app.dialogs.about import AboutDialog  # noqa: PLC0415
            from app.dialogs.shortcuts import ShortcutsDialog  # noqa: PLC0415

            for name, dlg in (("about", AboutDialog(None, win.session.model_info.get("device_label", ""), win)),
                              ("shortcuts", ShortcutsDialog(win))):
                if name == "about":
                    dlg = None
                    win_ref = win.enhance_panel.model_ref()
                    card = None
                    if win_ref:
                        nm, _, ver = win_ref.partition("@")
                        card = win.engine_wiring.registry().get(nm, ver).card
                    dlg = AboutDialog(card, win.session.model_info.get("device_label", ""), win)
                dlg.show()
                dlg.move(win.geometry().center() - dlg.rect().center())
                _grab_widget(app, dlg, docs / f"dialog_{name}.png")
                dlg.close()
        data = shared_data_dir()
        if args.only in (None, "data"):
            if data is None:
                print("research data not found (../shared/data/fundus): skipping the real-photo screenshots")
            else:
                out = Path(args.out_data)
                hrf = data / HRF_PHOTO
                shoot_set(app, win, [hrf], out, "hrf_" + hrf.stem, samples=False)
                for folder in LOWQ_PHOTOS:
                    cands = sorted(p for p in (data / folder).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
                    if cands:
                        shoot_set(app, win, [cands[0]], out, "lowquality_" + cands[0].stem, samples=False)
                        break
    finally:
        win.shutdown()
        win.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--home", help="FUNDUS_STUDIO_HOME for the app (default: a fresh temporary one)")
    ap.add_argument("--out-data", default=str(DEFAULT_DATA_OUT), help="where real-photo screenshots go (outside the repo)")
    ap.add_argument("--only", choices=("samples", "data"))
    ap.add_argument("--out-samples", default=str(DOCS), help="where the sample screenshots go (default docs/screenshots)")
    args = ap.parse_args(argv)
    out_data = Path(args.out_data).resolve()
    if out_data == ROOT or ROOT in out_data.parents:
        print("Screenshots of research data must not be written inside the repository.", file=sys.stderr)
        return 2
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
