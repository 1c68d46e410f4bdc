"""Batch processing: a persistent SQLite queue, a runner that keeps the model loaded
and overlaps reading/writing with inference, input planning, and reports.

    queue = BatchQueue()                       # user data folder, WAL mode
    batch_id, _ = enqueue(queue, ["photos/"], "out/", batch_settings("fast"))
    BatchRunner(queue, batch_id, enhancer, measurer=Measurer.with_installed_models()).run()
    write_reports(queue, batch_id)             # out/batch_report.csv + .html
"""

from core.batch.measures import Measurer
from core.batch.plan import NothingToDo, enqueue
from core.batch.queue import STATUSES, Batch, BatchQueue, Job
from core.batch.report import write_reports
from core.batch.runner import BatchRunner, RunSummary, batch_settings

__all__ = [
    "STATUSES", "Batch", "BatchQueue", "BatchRunner", "Job", "Measurer", "NothingToDo", "RunSummary",
    "batch_settings", "enqueue", "write_reports",
]
