"""The batch table: a Qt model over the queue's jobs, and the slim progress bar in its cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem

from app.batch.texts import (COL_CONTRAST, COL_DETAIL, COL_ILLUM, COL_NAME, COL_PROGRESS, COL_STATUS, COL_THUMB,
                             COL_TIME, COLUMN_TIPS, COLUMNS, STATUS_COLORS, THUMB_H, detail_text, display_name,
                             pair, status_text)
from core.batch import BatchQueue, Job


class JobTableModel(QAbstractTableModel):
    """The jobs of one batch, refreshed row by row as the runner reports."""

    def __init__(self, queue: BatchQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.jobs: list[Job] = []
        self.row_of: dict[int, int] = {}
        self.progress: dict[int, tuple[float, str]] = {}
        self._thumbs: dict[int, QPixmap] = {}
        self.roots: list[Path] = []

    def display_name(self, job: Job) -> str:
        return display_name(job, self.roots)

    def load(self, batch_id: int | None) -> None:
        self.beginResetModel()
        self.jobs = self.queue.jobs(batch_id) if batch_id is not None else []
        batch = self.queue.batch(batch_id) if batch_id is not None else None
        self.roots = [Path(i).resolve() for i in (batch.options.get("inputs", []) if batch else [])
                      if Path(i).is_dir()]
        self.row_of = {j.id: i for i, j in enumerate(self.jobs)}
        self.endResetModel()

    def refresh_job(self, job_id: int) -> None:
        job = self.queue.job(job_id)
        row = self.row_of.get(job_id)
        if job is None or row is None:
            return
        self.jobs[row] = job
        if job.status in ("done", "skipped", "failed", "cancelled"):
            self.progress.pop(job_id, None)
        self._thumbs.pop(job_id, None)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def set_progress(self, job_id: int, fraction: float, message: str) -> None:
        row = self.row_of.get(job_id)
        if row is None:
            return
        self.progress[job_id] = (fraction, message)
        if self.jobs[row].status == "pending":
            self.jobs[row].status = "running"
        self.dataChanged.emit(self.index(row, COL_STATUS), self.index(row, COL_DETAIL))

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.jobs)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS.get(section)
        return None

    def thumb(self, job: Job) -> QPixmap | None:
        if job.id in self._thumbs:
            return self._thumbs[job.id]
        if job.status not in ("done", "skipped"):
            return None
        before, after = self.queue.thumbs(job.id)
        pm = QPixmap()
        if after and pm.loadFromData(after):
            pm = pm.scaledToHeight(THUMB_H, Qt.TransformationMode.SmoothTransformation)
            self._thumbs[job.id] = pm
            return pm
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self.jobs[index.row()]
        col = index.column()
        m = job.measures
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_NAME:
                return self.display_name(job)
            if col == COL_STATUS:
                return status_text(job, self.progress.get(job.id, (0.0, ""))[1])
            if col == COL_TIME:
                return f"{job.total_s:.1f} s" if job.total_s else ""
            if col == COL_ILLUM:
                return pair(m, "illumination_uniformity")
            if col == COL_CONTRAST:
                return pair(m, "vessel_cnr")
            if col == COL_DETAIL:
                return detail_text(job, self.progress[job.id][1] if job.id in self.progress else None)
        elif role == Qt.ItemDataRole.DecorationRole and col == COL_THUMB:
            return self.thumb(job)
        elif role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_STATUS:
                return QColor(STATUS_COLORS.get(job.status, "#6b6b6b"))
            if col == COL_DETAIL and job.error:
                return QColor(STATUS_COLORS["failed"])
            if col == COL_DETAIL and m.get("guard_flagged"):
                return QColor(STATUS_COLORS["running"])  # the amber of the other warnings
        elif role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_NAME:
                return job.input_path
            if col == COL_DETAIL:
                return job.error or job.note or job.output_path
        elif role == Qt.ItemDataRole.UserRole and col == COL_PROGRESS:
            if job.status == "running":  # finished rows say so in Status; a full bar would only add noise
                return self.progress.get(job.id, (0.0, ""))[0]
            return None
        elif role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_TIME, COL_ILLUM, COL_CONTRAST):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ProgressDelegate(QStyledItemDelegate):
    """A slim progress bar in the cell (empty for waiting photos)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        value = index.data(Qt.ItemDataRole.UserRole)
        if value is None:
            return
        bar = QStyleOptionProgressBar()
        r = option.rect
        bar.rect = QRect(r.x() + 6, r.center().y() - 7, r.width() - 12, 14)
        bar.minimum, bar.maximum = 0, 100
        bar.progress = int(round(100 * float(value)))
        bar.text = f"{bar.progress}%"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)

