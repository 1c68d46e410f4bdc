"""Entry point of the desktop application: `fundus-studio` with no arguments lands here."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fundus-studio", add_help=True)
    p.add_argument("paths", nargs="*", help="photos or folders to open")
    from app.settings import COMPARE_MODES  # noqa: PLC0415 - plain data; Qt is not imported yet

    p.add_argument("--mode", choices=COMPARE_MODES, help="compare mode to start in")
    p.add_argument("--startup-time", action="store_true",
                   help="print the time from launch to the window being ready, then quit")
    args, _qt = p.parse_known_args(list(argv))
    return args


def create_app(argv: Sequence[str] = ()) -> "QApplication":  # noqa: F821 - imported lazily
    """The QApplication, styled; pyqtgraph set to row-major images before any view exists."""
    import pyqtgraph as pg  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from app.style import apply_style  # noqa: PLC0415

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "fundus-studio", *argv])
    app.setApplicationName("Fundus Studio")
    app.setOrganizationName("FundusStudio")
    apply_style(app)
    return app


def build_window(paths: Sequence[str] = (), mode: str | None = None) -> "MainWindow":  # noqa: F821
    """Main window with `paths` open, or the bundled samples when nothing else is open."""
    from app.main_window import MainWindow  # noqa: PLC0415

    win = MainWindow()
    if mode:
        win.acts.set_mode(mode)
    if paths:
        win.opening.open_paths(list(paths))
    if win.image_list.count() == 0:
        win.opening.open_samples()
    return win


def run_app(argv: Sequence[str] = ()) -> int:
    from app import startup  # noqa: PLC0415

    args = _parse(argv)
    startup.configure_logging()
    app = create_app([])
    win = build_window(args.paths, args.mode)
    startup.watch(win, quit_when_ready=startup.wanted(args.startup_time))
    win.show()
    code = int(app.exec())
    from app.tasks import wait_for_tasks  # noqa: PLC0415

    win.shutdown()  # closing the window did it already; quitting another way may not have
    wait_for_tasks(15.0)  # threads still finishing a step end before Python does (Qt aborts otherwise)
    return code


if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1:]))
