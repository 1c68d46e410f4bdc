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
from typing import Any

from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMessageBox, QProgressBar, QPushButton, QTableView, QToolButton,
                               QVBoxLayout, QWidget)

from app.batch.table import JobTableModel, ProgressDelegate
from app.batch.task import (BatchModels, BatchTask, EnhancerFactory, MeasurerFactory, default_enhancer_factory,
                            default_measurer_factory)
from app.batch.texts import (COL_CONTRAST, COL_ILLUM, COL_NAME, COL_PROGRESS, COL_STATUS, COL_THUMB, COL_TIME,
                             THUMB_H, overall_text, rate_text)
from core.batch import BatchQueue, BatchRunner, batch_settings, enqueue, write_reports
from core.batch.report import report_paths
from core.choices import MODE_TITLES, MODES
from core.errors import FundusError
from core.imaging.suffixes import name_patterns


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
        self.comparisons_check = QCheckBox("Write comparisons")
        self.comparisons_check.setToolTip(
            "Also write <photo>_comparison.png beside each enhanced photo: original and enhanced side by side, "
            "marked \u201cNot for diagnostic use\u201d, as File > Export writes it")
        top.addWidget(self.comparisons_check)
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
        self.comparisons_check.setEnabled(not self.running)

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
        self.overall.setRange(0, max(total, 1))
        self.overall.setValue(c.get("done", 0) + c.get("skipped", 0) + c.get("failed", 0))
        if not c:
            return
        runner = self.worker_runner()
        report = self.report_path.name if self.report_path is not None else None
        self.status_label.setText(overall_text(c, self.running, runner is not None and runner.paused, report))
        if not self.running:
            self.rate_label.setText("")
            return
        done_now = c.get("done", 0) + c.get("failed", 0) - self._run_done0
        remaining = c.get("pending", 0) + c.get("running", 0)
        self.rate_label.setText(rate_text(done_now, time.monotonic() - self._run_t0, remaining,
                                          self.models.enhancer is not None))

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
        task = BatchTask(self.models, self.batch_id, self.mode_combo.currentData(), self.vessels_check.isChecked(),
                         self.comparisons_check.isChecked())
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
