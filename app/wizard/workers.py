"""The wizard's long work as app.tasks ThreadTasks: scanning the site folder, training, evaluating.

Each task runs one core call on its own thread and turns its callbacks into queued
signals, so the window never freezes. Stop and pause are threading.Events the core code
polls between steps (a busy thread cannot receive signals). `stop_and_wait()` is what the
wizard calls on close: no thread outlives it. Errors reach the page as `errored(message)`
and the log with their traceback (app.tasks.failure_text).
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import Signal

from app.tasks import ThreadTask
from core.errors import FundusError


class ScanTask(ThreadTask):
    """scan_site, then thumbnails of the best photos (best first)."""

    scanned = Signal(object)  # SiteScan
    thumbnail = Signal(int, str, object)  # rank, path, RGB uint8

    def __init__(self, folder: str, thumbs: int = 40) -> None:
        super().__init__("site-scan")
        self.folder = folder
        self.thumbs = thumbs

    def work(self) -> None:
        from core.training.site_scan import scan_site, thumbnail  # noqa: PLC0415

        scan = scan_site(self.folder, progress=self.report, should_stop=self.should_stop)
        self.scanned.emit(scan)
        for rank, im in enumerate(scan.usable[: self.thumbs]):
            if self.should_stop():
                return
            try:
                self.thumbnail.emit(rank, im.path, thumbnail(im.path, 96))
            except FundusError:
                continue


class TrainTask(ThreadTask):
    """SiteAdaptation.prepare + train; losses, ETA and previews as signals; pause and stop.

    returned(TrainResult) when training ends (finished or stopped with its checkpoint saved).
    """

    update = Signal(object)  # AdaptUpdate
    preview = Signal(object)  # PreviewFrame

    def __init__(self, adaptation: Any) -> None:
        super().__init__("site-train")
        self.adaptation = adaptation
        self.pause_event = threading.Event()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.pause_event.set()
        else:
            self.pause_event.clear()

    def work(self) -> Any:
        self.adaptation.prepare(progress=self.report)
        return self.adaptation.train(
            should_stop=self.should_stop,
            on_update=self.update.emit,
            on_preview=self.preview.emit,
            pause=self.pause_event,
        )


class EvalTask(ThreadTask):
    """evaluate_run on the held-out photos; returned(SiteEvaluation)."""

    def __init__(self, adaptation: Any, segmenter: Any = "default") -> None:
        super().__init__("site-eval")
        self.adaptation = adaptation
        self.segmenter = segmenter

    def work(self) -> Any:
        from core.training.site_eval import evaluate_run  # noqa: PLC0415

        return evaluate_run(self.adaptation, segmenter=self.segmenter, progress=self.report,
                            should_stop=self.should_stop)
