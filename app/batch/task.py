"""The batch's work on a thread: one run of core.batch's runner per BatchTask, models loaded once.

BatchModels is what every run of one panel shares (the queue file, the Enhancer and the
Measurers); BatchTask is an app.tasks ThreadTask, so a run never blocks the window and
stops cleanly when the window closes.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Signal

from app.tasks import ThreadTask
from core.batch import BatchQueue, BatchRunner, Measurer, write_reports

EnhancerFactory = Callable[[str], Any]  # mode -> Enhancer (called once, on the batch task's thread)
MeasurerFactory = Callable[[bool], Any]  # compare vessels? -> Measurer (called on the batch task's thread)


def default_enhancer_factory(mode: str) -> Any:
    """The active model on the preferred device (the main window passes its own choice instead)."""
    from core.enhance import Enhancer  # noqa: PLC0415 - torch loads in the worker thread

    return Enhancer(model=None, device="auto")


def default_measurer_factory(vessels: bool) -> Any:
    return Measurer.with_installed_models(vessels=vessels)



# ----------------------------------------------------------------------------- work
class BatchModels:
    """What every run of one panel shares: the queue file and the models, loaded once (on a task thread)."""

    def __init__(self, queue_path: str, enhancer_factory: EnhancerFactory,
                 measurer_factory: MeasurerFactory | None) -> None:
        self.queue_path = queue_path
        self.enhancer_factory = enhancer_factory
        self.measurer_factory = measurer_factory
        self.enhancer: Any = None
        self.stale = False  # the window's model or device changed: load again at the next run
        self.measurers: dict[bool, Any] = {}
        self.runner: BatchRunner | None = None
        self.queue: BatchQueue | None = None


class BatchTask(ThreadTask):
    """One run of the batch: the runner over the pending jobs, then the reports; returned(RunSummary)."""

    item_progress = Signal(int, float, str)
    job_finished = Signal(int)
    reports_written = Signal(str)
    consequence = "The batch stopped; the photos not done yet stay in the queue."

    def __init__(self, models: BatchModels, batch_id: int, mode: str, vessels: bool = False,
                 comparisons: bool = False) -> None:
        super().__init__("batch-worker")
        self.models, self.batch_id, self.mode, self.vessels = models, batch_id, mode, vessels
        self.comparisons = comparisons  # also write comparison pictures (core.export) beside the outputs

    def work(self) -> Any:
        m = self.models
        if m.queue is None:
            m.queue = BatchQueue(m.queue_path)
        if m.enhancer is None or m.stale:
            m.enhancer, m.stale = None, False
            m.enhancer = m.enhancer_factory(self.mode)
        measurer = None
        if m.measurer_factory is not None:
            if self.vessels not in m.measurers:  # the vessel model is loaded once, when first asked for
                m.measurers[self.vessels] = m.measurer_factory(self.vessels)
            measurer = m.measurers[self.vessels]
        m.runner = BatchRunner(
            m.queue, self.batch_id, m.enhancer, measurer=measurer,
            item_progress=lambda j, f, msg: self.item_progress.emit(j, f, msg),
            job_finished=lambda job: self.job_finished.emit(job.id),
            should_stop=self.should_stop, comparisons=self.comparisons,
        )
        try:
            summary = m.runner.run()
        finally:
            m.runner = None
        _csv_path, html_path = write_reports(m.queue, self.batch_id)
        self.reports_written.emit(str(html_path))
        return summary

