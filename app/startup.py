"""Launch-to-window-ready time: measured on every start, logged, and printed on request.

Why: the installer promises a usable window within seconds of a double click; this is
how we know. The clock starts when the OS created the process (Linux: /proc/self/stat,
so the bundle's bootloader and Python start-up count too), or at the earliest
timestamp the entry point took where the OS does not say. The window counts as ready
once it has been shown and painted for the first time and the event loop is idle
again (a zero-delay single-shot timer after the first paint event).

`--startup-time` (or FUNDUS_STUDIO_STARTUP_TIME=1) prints the figure and quits, so it
can be measured headlessly (QT_QPA_PLATFORM=offscreen) or on a real X display.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from typing import Callable

log = logging.getLogger("fundus_studio.startup")

_ENTRY_TIME: float | None = None
LOG_FILE_NAME = "fundus-studio.log"
ENV_FLAG = "FUNDUS_STUDIO_STARTUP_TIME"


def mark_entry(t: float | None = None) -> None:
    """Record the earliest wall-clock time the entry point saw (first call wins)."""
    global _ENTRY_TIME
    if _ENTRY_TIME is None:
        _ENTRY_TIME = time.time() if t is None else t


def _linux_process_start() -> float | None:
    """Wall-clock time the kernel created this process, from /proc (10 ms resolution)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            after_name = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(after_name[19])  # field 22 of stat(5); fields after the name start at 3
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def launch_time() -> tuple[float, str]:
    """(wall-clock start, what it is): the process creation time where known, else the entry mark."""
    start = _linux_process_start() if sys.platform.startswith("linux") else None
    if start is not None:
        return start, "process start"
    mark_entry()
    return float(_ENTRY_TIME), "entry point"  # type: ignore[arg-type]


def configure_logging() -> str | None:
    """Log INFO and above to <user log dir>/fundus-studio.log (rotated); returns the path, or None."""
    from core.paths import user_log_dir  # noqa: PLC0415

    root = logging.getLogger()
    for h in root.handlers:
        if getattr(h, "_fundus_studio", False):
            return getattr(h, "baseFilename", None)
    try:
        path = user_log_dir() / LOG_FILE_NAME
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1 << 20, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._fundus_studio = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return str(path)


def wanted(flag: bool = False) -> bool:
    """Whether to print the startup time and quit: the --startup-time flag or the environment variable."""
    return flag or os.environ.get(ENV_FLAG, "") not in ("", "0")


def watch(window, *, quit_when_ready: bool = False, on_ready: Callable[[float], None] | None = None,
          fallback_ms: int = 30000) -> None:
    """Measure launch -> first shown-and-painted `window`; log it; print and quit when asked."""
    from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer  # noqa: PLC0415

    start, origin = launch_time()
    state = {"done": False}

    def ready(painted: bool = True) -> None:
        if state["done"]:
            return
        state["done"] = True
        window.removeEventFilter(watcher)
        seconds = time.time() - start
        in_process = sys.modules.get("torch") is not None
        what = "window ready" if painted else "window shown but never painted"
        log.info("startup: %s %.2f s after %s (torch loaded: %s, frozen: %s)",
                 what, seconds, origin, in_process, bool(getattr(sys, "frozen", False)))
        if on_ready is not None:
            on_ready(seconds)
        if quit_when_ready:
            print(f"startup-time: {seconds:.2f} s from {origin} to the main window "
                  f"{'shown and painted' if painted else 'shown (no paint seen)'}", flush=True)
            QCoreApplication.instance().quit()

    class _FirstPaint(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint and not state["done"]:
                QTimer.singleShot(0, ready)  # after this paint has been flushed
            return False

    watcher = _FirstPaint(window)
    window.installEventFilter(watcher)
    QTimer.singleShot(fallback_ms, lambda: ready(painted=False))  # a platform that never paints still ends
