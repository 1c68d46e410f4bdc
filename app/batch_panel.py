"""The batch panel: queue folders of photos, watch them being enhanced, open the results.

A view on core.batch: jobs live in the persistent queue (so a batch survives closing the
application), each run is an app.tasks ThreadTask (BatchTask) with the model loaded once
per panel (BatchModels), and the clinician keeps viewing other photos meanwhile. The main
window hands the panel its enhancer factory, so a batch uses the model, device and
registry chosen in the window. Double-clicking a finished photo emits
`open_in_viewer(path)`; the main window opens it in the viewer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QRect, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton, QStyle,
                               QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem, QTableView,
                               QToolButton, QVBoxLayout, QWidget)

from app.tasks import ThreadTask
from core.batch import BatchQueue, BatchRunner, Job, Measurer, batch_settings, enqueue, write_reports
from core.batch.report import report_paths
from core.choices import MODE_TITLES, MODES
from core.errors import FundusError
from core.imaging.suffixes import name_patterns

EnhancerFactory = Callable[[str], Any]  # mode -> Enhancer (called once, on the batch task's thread)
MeasurerFactory = Callable[[bool], Any]  # compare vessels? -> Measurer (called on the batch task's thread)

STATUS_COLORS = {
    "done": "#2e7d32", "failed": "#c62828", "skipped": "#1f5f9f", "running": "#b36b00",
    "pending": "#6b6b6b", "cancelled": "#6b6b6b",
}
STATUS_TEXT = {
    "done": "Done", "failed": "Failed", "skipped": "Skipped", "running": "Enhancing",
    "pending": "Waiting", "cancelled": "Cancelled",
}
COLUMNS = ["", "Photo", "Status", "Progress", "Time", "Illumination", "Vessel CNR", "Details"]
COLUMN_TIPS = {
    5: "Illumination uniformity, original \u2192 enhanced (1 = perfectly even lighting)",
    6: "Vessel contrast-to-noise ratio, original \u2192 enhanced (higher = vessels stand out more)",
}
COL_THUMB, COL_NAME, COL_STATUS, COL_PROGRESS, COL_TIME, COL_ILLUM, COL_CONTRAST, COL_DETAIL = range(8)
THUMB_H = 40


def default_enhancer_factory(mode: str) -> Any:
    """The active model on the preferred device (the main window passes its own choice instead)."""
    from core.enhance import Enhancer  # noqa: PLC0415 - torch loads in the worker thread

    return Enhancer(model=None, device="auto")


def default_measurer_factory(vessels: bool) -> Any:
    return Measurer.with_installed_models(vessels=vessels)


def format_eta(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60):02d} min"


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

    def __init__(self, models: BatchModels, batch_id: int, mode: str, vessels: bool = False) -> None:
        super().__init__("batch-worker")
        self.models, self.batch_id, self.mode, self.vessels = models, batch_id, mode, vessels

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
            should_stop=self.should_stop,
        )
        try:
            summary = m.runner.run()
        finally:
            m.runner = None
        _csv_path, html_path = write_reports(m.queue, self.batch_id)
        self.reports_written.emit(str(html_path))
        return summary


# ----------------------------------------------------------------------------- table
class JobTableModel(QAbstractTableModel):
    def __init__(self, queue: BatchQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.jobs: list[Job] = []
        self.row_of: dict[int, int] = {}
        self.progress: dict[int, tuple[float, str]] = {}
        self._thumbs: dict[int, QPixmap] = {}
        self.roots: list[Path] = []

    def display_name(self, job: Job) -> str:
        """The photo's path below the folder the user added (date/patient folders stay visible)."""
        path = Path(job.input_path)
        for root in self.roots:
            if path.is_relative_to(root):
                return str(path.relative_to(root))
        return path.name

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
                if job.status == "running" and self.progress.get(job.id, (0.0, ""))[1] in ("saving", "measuring"):
                    return "Saving"
                return STATUS_TEXT.get(job.status, job.status)
            if col == COL_TIME:
                return f"{job.total_s:.1f} s" if job.total_s else ""
            if col == COL_ILLUM:
                return _pair(m, "illumination_uniformity")
            if col == COL_CONTRAST:
                return _pair(m, "vessel_cnr")
            if col == COL_DETAIL:
                if job.error:
                    return job.error
                if job.note:
                    return job.note
                if job.status == "running" and job.id in self.progress:
                    message = self.progress[job.id][1]
                    return message[:1].upper() + message[1:]
                if job.status in ("done", "skipped"):
                    if m.get("guard_flagged"):  # the do-no-harm guard (core.guard): flagged, not blocked
                        return f"\u26a0 {m.get('guard_warning')}: {Path(job.output_path).name}"
                    return Path(job.output_path).name
                return ""
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


def _pair(m: dict[str, Any], key: str) -> str:
    b, a = m.get(f"{key}_before"), m.get(f"{key}_after")
    if b is None or a is None:
        return ""
    return f"{b:.2f} \u2192 {a:.2f}"


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


# ----------------------------------------------------------------------------- panel
class BatchPanel(QWidget):
    """Dockable panel; `open_in_viewer(str)` asks the main window to show an enhanced photo."""

    open_in_viewer = Signal(str)

    def __init__(self, queue: BatchQueue | None = None, enhancer_factory: EnhancerFactory | None = None,
                 measurer_factory: MeasurerFactory | None = default_measurer_factory,
                 parent: QWidget | None = None, mode: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batchPanel")
        self.queue = queue or BatchQueue()
        self.queue.recover_interrupted()
        self.batch_id: int | None = None
        self.running = False
        self.report_path: Path | None = None
        self._run_t0 = 0.0
        self._run_done0 = 0
        self._build()
        if mode is not None:
            self.set_mode(mode)
        self.models = BatchModels(str(self.queue.path), enhancer_factory or default_enhancer_factory, measurer_factory)
        self.task: BatchTask | None = None
        self._closing = False  # after stop(): no new run starts (not even for photos added meanwhile)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._update_overall)
        self._restore_last_batch()

    # -------------------------------------------------------------- layout
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)

        top = QHBoxLayout()
        top.setSpacing(6)
        self.add_files_btn = QPushButton("Add photos\u2026")
        self.add_folder_btn = QPushButton("Add folder\u2026")
        self.add_files_btn.clicked.connect(self._add_files)
        self.add_folder_btn.clicked.connect(self._add_folder)
        top.addWidget(self.add_files_btn)
        top.addWidget(self.add_folder_btn)
        top.addSpacing(12)
        top.addWidget(QLabel("Only:"))
        self.include_edit = QLineEdit()
        self.include_edit.setPlaceholderText("all photos (e.g. *.tif)")
        self.include_edit.setToolTip("Only files whose name matches, e.g. *.tif or *_left.*; separate several with ;")
        self.include_edit.setMaximumWidth(160)
        top.addWidget(self.include_edit)
        top.addSpacing(12)
        top.addWidget(QLabel("Mode:"))
        self.mode_combo = QComboBox()
        for key in MODES:
            self.mode_combo.addItem(MODE_TITLES[key], key)
        top.addWidget(self.mode_combo)
        top.addSpacing(12)
        self.vessels_check = QCheckBox("Compare vessels")
        self.vessels_check.setToolTip(
            "Also compare the vessel maps before and after enhancement for the report (vessel Dice, possible "
            "hallucinations). Needs a vessel model; slow without a GPU (tens of seconds per photo).")
        top.addWidget(self.vessels_check)
        top.addSpacing(12)
        top.addWidget(QLabel("Save to:"))
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("choose an output folder")
        self.output_edit.setMinimumWidth(180)
        top.addWidget(self.output_edit, 1)
        self.output_btn = QToolButton()
        self.output_btn.setText("\u2026")
        self.output_btn.setToolTip("Choose the output folder")
        self.output_btn.clicked.connect(self._choose_output)
        top.addWidget(self.output_btn)
        lay.addLayout(top)

        self.model = JobTableModel(self.queue, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(COL_PROGRESS, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB_H + 6)
        self.table.setIconSize(QSize(int(THUMB_H * 1.5), THUMB_H))
        hh = self.table.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        widths = {COL_THUMB: int(THUMB_H * 1.5) + 12, COL_NAME: 260, COL_STATUS: 90, COL_PROGRESS: 130,
                  COL_TIME: 64, COL_ILLUM: 104, COL_CONTRAST: 112}
        for col, w in widths.items():
            self.table.setColumnWidth(col, w)
        hh.setSectionResizeMode(COL_THUMB, QHeaderView.ResizeMode.Fixed)
        hh.setStretchLastSection(True)
        self.table.doubleClicked.connect(self._double_clicked)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        lay.addWidget(self.table, 1)

        self.overall = QProgressBar()
        self.overall.setTextVisible(False)
        self.overall.setFixedHeight(8)
        self.status_label = QLabel("Add photos or a folder to start a batch.")
        self.rate_label = QLabel("")
        self.rate_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        info = QHBoxLayout()
        info.addWidget(self.status_label, 1)
        info.addWidget(self.rate_label)
        lay.addLayout(info)
        lay.addWidget(self.overall)

        bottom = QHBoxLayout()
        bottom.setSpacing(6)
        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.resume_btn = QPushButton("Resume")
        self.cancel_btn = QPushButton("Cancel")
        self.retry_btn = QPushButton("Retry failed")
        self.remove_btn = QPushButton("Remove")
        self.remove_btn.setToolTip("Remove the selected photos from the queue (files are not touched)")
        self.open_folder_btn = QPushButton("Open output folder")
        self.open_report_btn = QPushButton("Open report")
        for b, slot in ((self.start_btn, self.start), (self.pause_btn, self.pause), (self.resume_btn, self.resume),
                        (self.cancel_btn, self.cancel), (self.retry_btn, self.retry_failed),
                        (self.remove_btn, self.remove_selected), (self.open_folder_btn, self.open_output_folder),
                        (self.open_report_btn, self.open_report)):
            b.clicked.connect(slot)
        self.start_btn.setDefault(True)
        for b in (self.start_btn, self.pause_btn, self.resume_btn, self.cancel_btn):
            bottom.addWidget(b)
        bottom.addSpacing(12)
        bottom.addWidget(self.retry_btn)
        bottom.addWidget(self.remove_btn)
        bottom.addStretch(1)
        bottom.addWidget(self.open_folder_btn)
        bottom.addWidget(self.open_report_btn)
        lay.addLayout(bottom)
        self._update_buttons()

    # -------------------------------------------------------------- state
    def _restore_last_batch(self) -> None:
        batches = self.queue.batches()
        if not batches:
            return
        last = batches[-1]
        self._show_batch(last.id)
        self.output_edit.setText(last.output_dir)
        mode = last.settings.get("enhance", {}).get("mode", "fast")
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(mode)))
        left = self.queue.counts(last.id)["pending"]
        if left:
            self.status_label.setText(f"{left} photos of the last batch are still to do. Press Start to continue.")

    def _show_batch(self, batch_id: int) -> None:
        self.batch_id = batch_id
        self.model.load(batch_id)
        csv_path, html_path = report_paths(self.queue.batch(batch_id).output_dir)
        self.report_path = html_path if html_path.exists() else None
        self._update_overall()
        self._update_buttons()

    def counts(self) -> dict[str, int]:
        return self.queue.counts(self.batch_id) if self.batch_id is not None else {}

    def _update_buttons(self) -> None:
        c = self.counts()
        paused = bool(self.worker_runner() and self.worker_runner().paused)
        self.start_btn.setEnabled(not self.running and c.get("pending", 0) > 0)
        self.pause_btn.setEnabled(self.running and not paused)
        self.resume_btn.setEnabled(self.running and paused)
        self.cancel_btn.setEnabled(self.running or c.get("pending", 0) > 0)
        self.retry_btn.setEnabled(c.get("failed", 0) + c.get("cancelled", 0) > 0)
        self.remove_btn.setEnabled(bool(self.table.selectionModel().selectedRows()))
        self.open_folder_btn.setEnabled(bool(self.output_edit.text().strip()))
        self.open_report_btn.setEnabled(self.batch_id is not None and sum(c.values()) > 0)
        self.mode_combo.setEnabled(not self.running)
        self.vessels_check.setEnabled(not self.running)

    def worker_runner(self) -> BatchRunner | None:
        return self.models.runner if self.running else None

    def set_mode(self, mode: str) -> None:
        """Follow the mode chosen in the window (not while a batch runs: its photos keep theirs)."""
        if not self.running and self.mode_combo.findData(mode) >= 0:
            self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def model_changed(self) -> None:
        """The window's model or device changed: the next run loads it (a running batch finishes with its own)."""
        self.models.stale = True

    def _update_overall(self) -> None:
        c = self.counts()
        total = sum(c.values()) - c.get("cancelled", 0)
        finished = c.get("done", 0) + c.get("skipped", 0) + c.get("failed", 0)
        self.overall.setRange(0, max(total, 1))
        self.overall.setValue(finished)
        if not c:
            return
        parts = [f"{finished} of {total} photos"]
        if c.get("failed"):
            parts.append(f"{c['failed']} failed")
        if c.get("skipped"):
            parts.append(f"{c['skipped']} skipped")
        if c.get("cancelled"):
            parts.append(f"{c['cancelled']} cancelled")
        runner = self.worker_runner()
        if runner is not None and runner.paused:
            parts.append("paused (the photo being enhanced finishes first)")
        elif self.running:
            parts.append("running")
        elif total and finished == total:
            parts.insert(0, "Finished")
            if self.report_path is not None:
                parts.append(f"report: {self.report_path.name}")
        self.status_label.setText(" \u00b7 ".join(parts))
        rate_text = ""
        if self.running:
            done_now = c.get("done", 0) + c.get("failed", 0) - self._run_done0
            elapsed = time.monotonic() - self._run_t0
            remaining = c.get("pending", 0) + c.get("running", 0)
            if done_now > 0 and elapsed > 0:
                per_min = 60.0 * done_now / elapsed
                rate_text = f"{per_min:.1f} photos/min \u00b7 about {format_eta(remaining * elapsed / done_now)} left"
            else:
                rate_text = "loading the model\u2026" if self.models.enhancer is None else "estimating time\u2026"
        self.rate_label.setText(rate_text)

    # -------------------------------------------------------------- adding work
    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the enhanced photos", self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)
            self._update_buttons()

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add photos to the batch", "", f"Fundus photos ({name_patterns()});;All files (*)")
        if files:
            self.add_inputs(files)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos (sub-folders included)")
        if folder:
            self.add_inputs([folder])

    def _output_for(self, inputs: list[str]) -> str | None:
        out = self.output_edit.text().strip()
        if not out:
            self._choose_output()
            out = self.output_edit.text().strip()
        return out or None

    def add_inputs(self, inputs: list[str], start: bool = True) -> int:
        """Queue files/folders (to the current batch when it writes to the same folder). Returns the count added."""
        out = self._output_for(inputs)
        if out is None:
            return 0
        include = [p.strip() for p in self.include_edit.text().split(";") if p.strip()]
        current = self.queue.batch(self.batch_id) if self.batch_id is not None else None
        same = current is not None and Path(current.output_dir).resolve() == Path(out).resolve()
        mode = self.mode_combo.currentData()
        if same and (self.running or current.settings.get("enhance", {}).get("mode") == mode):
            settings, batch_id = current.settings, current.id
        else:
            settings, batch_id = batch_settings(mode), None
        try:
            batch_id, added = enqueue(self.queue, inputs, out, settings, include=include, batch_id=batch_id)
        except FundusError as err:
            QMessageBox.warning(self, "Cannot add to the batch", str(err))
            return 0
        self._show_batch(batch_id)
        if start and not self.running:
            self.start()
        return len(added)

    # -------------------------------------------------------------- controls
    def start(self) -> None:
        if self.running or self.batch_id is None or self._closing:
            return
        self.running = True
        self._run_t0 = time.monotonic()
        c = self.counts()
        self._run_done0 = c.get("done", 0) + c.get("failed", 0)
        self._tick.start()
        task = BatchTask(self.models, self.batch_id, self.mode_combo.currentData(), self.vessels_check.isChecked())
        task.item_progress.connect(self.model.set_progress)
        task.job_finished.connect(self._job_finished)
        task.reports_written.connect(self._reports_written)
        task.returned.connect(self._run_finished)
        task.errored.connect(self._run_failed)
        task.cancelled.connect(self._run_failed)
        self.task = task
        task.start()
        self._update_overall()
        self._update_buttons()

    def pause(self) -> None:
        runner = self.worker_runner()
        if runner is not None:
            runner.pause()
        self._update_overall()
        self._update_buttons()

    def resume(self) -> None:
        runner = self.worker_runner()
        if runner is not None:
            runner.resume()
        self._update_overall()
        self._update_buttons()

    def cancel(self) -> None:
        runner = self.worker_runner()
        if runner is not None:
            runner.cancel()
        elif self.batch_id is not None:
            self.queue.cancel(self.batch_id)
        self.model.load(self.batch_id)
        self._update_overall()
        self._update_buttons()

    def retry_failed(self) -> None:
        if self.batch_id is None:
            return
        self.queue.retry_failed(self.batch_id)
        self.model.load(self.batch_id)
        self._update_overall()
        if not self.running:
            self.start()
        self._update_buttons()

    def remove_selected(self) -> None:
        ids = [self.model.jobs[i.row()].id for i in self.table.selectionModel().selectedRows()]
        self.queue.remove(ids)
        self.model.load(self.batch_id)
        self._update_overall()
        self._update_buttons()

    def open_output_folder(self) -> None:
        out = self.output_edit.text().strip()
        if out:
            QDesktopServices.openUrl(QUrl.fromLocalFile(out))

    def open_report(self) -> None:
        if self.batch_id is None:
            return
        if self.report_path is None or self.running:  # on demand: a fresh report of where things stand
            _, html_path = write_reports(self.queue, self.batch_id)
            self.report_path = html_path
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report_path)))

    # -------------------------------------------------------------- worker events
    def _job_finished(self, job_id: int) -> None:
        self.model.refresh_job(job_id)
        self._update_overall()
        self._update_buttons()

    def _run_failed(self, message: str) -> None:
        self._run_finished(message)  # a str: shown in the status line

    def _run_finished(self, summary: Any) -> None:
        self.running = False
        self._tick.stop()
        if self.batch_id is not None:
            self.model.load(self.batch_id)
        self._update_overall()
        self._update_buttons()
        if isinstance(summary, str):
            self.status_label.setText(summary)
        elif self.counts().get("pending", 0) and not summary.stopped:
            self.start()  # photos were added after the runner looked for the last time

    def _reports_written(self, path: str) -> None:
        self.report_path = Path(path)
        self._update_overall()
        self._update_buttons()

    def _double_clicked(self, index: QModelIndex) -> None:
        job = self.model.jobs[index.row()]
        if job.status in ("done", "skipped") and Path(job.output_path).exists():
            self.open_in_viewer.emit(job.output_path)

    # -------------------------------------------------------------- shutdown
    def stop(self) -> None:
        """Ask a running batch to stop (no waiting); the photo being enhanced goes back to the queue."""
        self._closing = True
        runner = self.worker_runner()
        if runner is not None:
            runner.stop()
        if self.task is not None:
            self.task.stop()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop, and wait up to `timeout_ms` for the run to end; True when it has (else it ends in the background)."""
        self.stop()
        return self.task is None or self.task.wait(timeout_ms)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)
