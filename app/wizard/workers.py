"""The wizard's long work on QThreads: scanning the site folder, training, evaluating.

Each thread runs one core call and turns its callbacks into queued signals, so the
window never freezes. Stop and pause are threading.Events the core code polls
between steps (a busy thread cannot receive signals). `stop_and_wait()` is what the
wizard calls on close: no thread outlives it.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from PySide6.QtCore import QThread, Signal

from core.errors import Cancelled, FundusError


def _message(exc: BaseException) -> str:
    if isinstance(exc, FundusError):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}: {exc})."


class _Task(QThread):
    progress = Signal(int, int, str)
    failed = Signal(str)
    cancelled = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop_and_wait(self, ms: int = 60000) -> None:
        self._stop.set()
        self.wait(ms)

    def _emit_progress(self, done: int, total: int, message: str) -> None:
        self.progress.emit(int(done), int(total), str(message))

    def run(self) -> None:  # noqa: D401 - QThread entry point
        try:
            self.work()
        except Cancelled as exc:
            self.cancelled.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the user, detail to the log
            traceback.print_exc()
            self.failed.emit(_message(exc))

    def work(self) -> None:
        raise NotImplementedError


class ScanThread(_Task):
    """scan_site, then thumbnails of the best photos (best first)."""

    scanned = Signal(object)  # SiteScan
    thumbnail = Signal(int, str, object)  # rank, path, RGB uint8

    def __init__(self, folder: str, thumbs: int = 40, parent=None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.thumbs = thumbs
        self.setObjectName("site-scan")

    def work(self) -> None:
        from core.training.site_scan import scan_site, thumbnail  # noqa: PLC0415

        scan = scan_site(self.folder, progress=self._emit_progress, should_stop=self.stopping)
        self.scanned.emit(scan)
        for rank, im in enumerate(scan.usable[: self.thumbs]):
            if self.stopping():
                return
            try:
                self.thumbnail.emit(rank, im.path, thumbnail(im.path, 96))
            except FundusError:
                continue


class TrainThread(_Task):
    """SiteAdaptation.prepare + train; losses, ETA and previews as signals; pause and stop."""

    update = Signal(object)  # AdaptUpdate
    preview = Signal(object)  # PreviewFrame
    trained = Signal(object)  # TrainResult

    def __init__(self, adaptation: Any, parent=None) -> None:
        super().__init__(parent)
        self.adaptation = adaptation
        self.pause_event = threading.Event()
        self.setObjectName("site-train")

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.pause_event.set()
        else:
            self.pause_event.clear()

    def work(self) -> None:
        self.adaptation.prepare(progress=self._emit_progress)
        result = self.adaptation.train(
            should_stop=self.stopping,
            on_update=self.update.emit,
            on_preview=self.preview.emit,
            pause=self.pause_event,
        )
        self.trained.emit(result)


class EvalThread(_Task):
    """evaluate_run on the held-out photos."""

    evaluated = Signal(object)  # SiteEvaluation

    def __init__(self, adaptation: Any, segmenter: Any = "default", parent=None) -> None:
        super().__init__(parent)
        self.adaptation = adaptation
        self.segmenter = segmenter
        self.setObjectName("site-eval")

    def work(self) -> None:
        from core.training.site_eval import evaluate_run  # noqa: PLC0415

        ev = evaluate_run(self.adaptation, segmenter=self.segmenter, progress=self._emit_progress,
                          should_stop=self.stopping)
        self.evaluated.emit(ev)
