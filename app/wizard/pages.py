"""The six pages of the adaptation wizard (UI.md, issue 7).

Each page says when it is ready (`isComplete`), so QWizard keeps Next disabled until
then: the site page until a scan found enough usable photos, the training page until
training finished, the results page until the evaluation is in.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.style import VERDICT_COLOURS
from app.wizard.widgets import LossPlot, Triptych, to_pixmap
from app.wizard.workers import EvalTask, ScanTask, TrainTask

BUDGET_MINUTES = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 360, 420, 480)
"""Time-budget slider stops: 5 minutes to 8 hours."""
VERDICT_SIGNS = {"better": "\u25b2 better", "same": "= same", "worse": "\u25bc worse"}


def fmt_minutes(m: float) -> str:
    if m < 60:
        return f"{m:.0f} min"
    h, r = divmod(int(round(m)), 60)
    return f"{h} h {r:02d} min" if r else f"{h} h"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "estimating\u2026"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _note(text: str, kind: str = "info") -> QLabel:
    colours = {"info": ("#eef4fa", "#2f6f9f"), "warn": ("#fff4e5", "#b35c00"), "ok": ("#edf7ef", "#1b7f3b")}
    bg, fg = colours[kind]
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.TextFormat.RichText)
    lab.setStyleSheet(f"QLabel {{ background: {bg}; border-left: 4px solid {fg}; padding: 8px 10px; color: #222; }}")
    return lab


class _Page(QWizardPage):
    @property
    def state(self) -> Any:
        return self.wizard().state  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- 1 welcome
class WelcomePage(_Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Adapt MAGE-Net to this site's camera")
        self.setSubTitle("Fine-tune the enhancement model on your own photographs. No labels are needed.")
        lay = QVBoxLayout(self)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.body)
        self.privacy = _note(
            "<b>Your photographs never leave this computer.</b> They are read from the folder you choose; "
            "nothing is uploaded. The adapted model is saved in your Fundus Studio data folder.", "ok")
        lay.addWidget(self.privacy)
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        lay.addWidget(self.device_note)
        self.resume_box = QCheckBox()
        self.resume_box.setVisible(False)
        lay.addWidget(self.resume_box)
        self.problem = _note("", "warn")
        self.problem.setVisible(False)
        lay.addWidget(self.problem)
        lay.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        st = self.state
        start = st.start_model
        start_text = html.escape(start.ref) if start is not None else "<i>none installed</i>"
        self.body.setText(
            "<p>Every fundus camera and every clinic's way of taking photographs is a little different. "
            "Adaptation teaches the enhancement model the look of <b>your</b> photographs:</p>"
            "<ol>"
            "<li>You choose a folder of your site's photographs. Fundus Studio checks each one and ranks "
            "them by image quality.</li>"
            "<li>Your best photographs are degraded artificially, and the model learns to restore them. "
            "On all your photographs the model learns to give stable results.</li>"
            "<li>A few photographs are kept aside and used only to check the result: the new model is "
            "compared with the current one, measure by measure.</li>"
            "<li>You decide whether to keep it. The current model stays installed; you can switch back "
            "at any time in the model manager.</li>"
            "</ol>"
            f"<p>Starting model: <b>{start_text}</b></p>"
        )
        dc = st.device_choice
        if dc.device == "cpu":
            self.device_note.setText(
                f"<b>Time needed:</b> you set it on the Settings page (5 minutes to 8 hours). This computer has "
                f"no usable GPU ({html.escape(dc.reason)}), so training runs on the CPU ({os.cpu_count()} cores): "
                "20 minutes gives a first result, one to two hours a better one. Checking the result adds a few "
                "minutes. You can pause, or stop and continue later.")
        else:
            self.device_note.setText(
                f"<b>Time needed:</b> you set it on the Settings page. Training runs on the GPU "
                f"({html.escape(dc.reason)}); 20 to 30 minutes is usually enough. Checking the result adds a minute or two.")
        runs = st.unfinished
        if runs:
            r = runs[0]
            done = r.progress_summary()
            budget = r.settings.minutes
            total = f" of {fmt_minutes(budget)}" if budget else ""
            self.resume_box.setText(
                f"Continue the unfinished adaptation on \u201c{Path(r.scan.folder).name}\u201d "
                f"({fmt_minutes(done['elapsed_s'] / 60)}{total} done, started {r.manifest.get('created', '')[:16]})")
            self.resume_box.setVisible(True)
        if start is None:
            self.problem.setText("No enhancement model is installed, so there is nothing to adapt. "
                                 "Install a model with the model manager first.")
            self.problem.setVisible(True)

    def isComplete(self) -> bool:  # noqa: N802
        return self.state.start_model is not None

    def nextId(self) -> int:  # noqa: N802
        if self.resume_box.isVisible() and self.resume_box.isChecked():
            return self.wizard().TRAIN  # type: ignore[union-attr]
        return super().nextId()

    def validatePage(self) -> bool:  # noqa: N802
        if self.resume_box.isVisible() and self.resume_box.isChecked():
            self.state.adaptation = self.state.unfinished[0]
            self.state.resumed = True
        return True


# ----------------------------------------------------------------------------- 2 site photos
class SitePage(_Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Your site's photographs")
        self.setSubTitle("Choose the folder with your photographs (sub-folders are included). "
                         "Each photo is checked and ranked by quality.")
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("Folder of fundus photographs")
        self.folder.returnPressed.connect(lambda: self.set_folder(self.folder.text()))
        browse = QPushButton("Choose folder\u2026")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        lay.addLayout(row)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.bar.setTextVisible(True)
        lay.addWidget(self.bar)
        counts = QHBoxLayout()
        self.count_labels = {}
        for key, title in (("found", "Found"), ("readable", "Readable"), ("usable", "Usable"), ("excluded", "Excluded")):
            box = QFrame()
            box.setFrameShape(QFrame.Shape.StyledPanel)
            v = QVBoxLayout(box)
            v.setContentsMargins(10, 6, 10, 6)
            num = QLabel("\u2013")
            num.setStyleSheet("font-size: 20px; font-weight: 600;")
            v.addWidget(num)
            v.addWidget(QLabel(title))
            counts.addWidget(box)
            self.count_labels[key] = num
        lay.addLayout(counts)
        lay.addWidget(QLabel("<b>Usable photographs, best quality first</b> (the best ones become training pairs)"))
        self.strip = QListWidget()
        self.strip.setViewMode(QListView.ViewMode.IconMode)
        self.strip.setFlow(QListView.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(96, 96))
        self.strip.setFixedHeight(138)
        self.strip.setMovement(QListView.Movement.Static)
        self.strip.setSpacing(4)
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        lay.addWidget(self.strip)
        self.excluded_title = QLabel("<b>Excluded files</b>")
        lay.addWidget(self.excluded_title)
        self.excluded = QTableWidget(0, 2)
        self.excluded.setHorizontalHeaderLabels(["File", "Why it was left out"])
        self.excluded.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.excluded.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.excluded.verticalHeader().setVisible(False)
        self.excluded.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.excluded.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.excluded.setWordWrap(False)
        lay.addWidget(self.excluded, 1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        self.thread: ScanTask | None = None
        self._scanning = False

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of your site's photographs", self.folder.text())
        if d:
            self.set_folder(d)

    def set_folder(self, folder: str) -> None:
        """Scan `folder` on a worker thread (a scan already running is stopped first)."""
        folder = str(folder).strip()
        if not folder:
            return
        self.folder.setText(folder)
        self.stop()
        self.state.scan = None
        self.strip.clear()
        self.excluded.setRowCount(0)
        for lab in self.count_labels.values():
            lab.setText("\u2013")
        self.message.setText("")
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        self.bar.setFormat("Checking photographs\u2026")
        self.completeChanged.emit()
        t = ScanTask(folder)
        t.progress.connect(self._progress)
        t.scanned.connect(self._scanned)
        t.thumbnail.connect(self._thumbnail)
        t.errored.connect(self._failed)
        t.finished.connect(self._thread_done)
        self.thread = t
        self._scanning = True
        t.start()

    def stop(self, ms: int = 60000) -> None:
        if self.thread is not None:
            if self.thread.stop_and_wait(ms):
                self.thread.deleteLater()  # its pending signals go with it
            self.thread = None  # one still running is kept alive by app.tasks until it ends
        self._scanning = False

    def busy(self) -> bool:
        """True from the start of a scan until its task's `finished` arrived (so Next follows isComplete)."""
        return self._scanning

    def _thread_done(self) -> None:
        if self.sender() is not self.thread:
            return  # a scan that was replaced by a newer one
        self._scanning = False
        self.bar.setVisible(False)
        self.completeChanged.emit()

    def _progress(self, done: int, total: int, message: str) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.bar.setFormat(f"Checking photographs: {done} of {total}")

    def _scanned(self, scan) -> None:
        from core.training.site_adapt import too_few_photos  # noqa: PLC0415

        if self.sender() is not self.thread:
            return  # from a scan that was replaced by a newer one
        self.state.scan = scan
        for key, value in scan.counts().items():
            self.count_labels[key].setText(str(value))
        self.excluded.setRowCount(len(scan.excluded))
        for i, e in enumerate(scan.excluded):
            name = QTableWidgetItem(e.name)
            name.setToolTip(e.path)
            why = QTableWidgetItem(f"{e.category}: {e.reason}" if e.category not in e.reason else e.reason)
            why.setToolTip(e.reason)
            self.excluded.setItem(i, 0, name)
            self.excluded.setItem(i, 1, why)
        self.excluded_title.setText(f"<b>Excluded files</b> ({len(scan.excluded)})" if scan.excluded
                                    else "<b>Excluded files</b>: none")
        refusal = too_few_photos(len(scan.usable))
        if refusal:
            self.message.setText(f"<span style='color:#b35c00'>{html.escape(refusal)} "
                                 "Choose a folder with more photographs.</span>")
        else:
            self.message.setText(f"{len(scan.usable)} photographs can be used. Continue with Next.")
        self.completeChanged.emit()

    def _thumbnail(self, rank: int, path: str, rgb) -> None:
        if self.sender() is not self.thread:
            return
        scan = self.state.scan
        item = QListWidgetItem(QIcon(to_pixmap(rgb)), f"#{rank + 1}")
        if scan is not None and rank < len(scan.usable):
            im = scan.usable[rank]
            m = im.measures
            item.setToolTip(f"{im.name}\nquality score {im.quality:.2f} (rank {rank + 1} of {len(scan.usable)})\n"
                            f"illumination uniformity {m.get('illumination_uniformity', 0):.3f}\n"
                            f"vessel contrast-to-noise {m.get('vessel_cnr', 0):.2f}\nsharpness {m.get('sharpness', 0):.4f}")
        self.strip.addItem(item)

    def _failed(self, message: str) -> None:
        self.message.setText(f"<span style='color:#b35c00'>{html.escape(message)}</span>")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        from core.training.site_adapt import too_few_photos  # noqa: PLC0415

        scan = self.state.scan
        return scan is not None and too_few_photos(len(scan.usable)) is None and not self.busy()


# ----------------------------------------------------------------------------- 3 settings
class SettingsPage(_Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Settings")
        self.setSubTitle("How long to train, on which device, and the name of the new model.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        brow = QHBoxLayout()
        self.budget = QSlider(Qt.Orientation.Horizontal)
        self.budget.setRange(0, len(BUDGET_MINUTES) - 1)
        self.budget.setValue(BUDGET_MINUTES.index(20))
        self.budget.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.budget_label = QLabel()
        self.budget_label.setMinimumWidth(90)
        self.budget.valueChanged.connect(self._budget_changed)
        lo, hi = QLabel(fmt_minutes(BUDGET_MINUTES[0])), QLabel(fmt_minutes(BUDGET_MINUTES[-1]))
        lo.setStyleSheet("color: #666;")
        hi.setStyleSheet("color: #666;")
        brow.addWidget(lo)
        brow.addWidget(self.budget, 1)
        brow.addWidget(hi)
        brow.addSpacing(12)
        self.budget_label.setStyleSheet("font-weight: 600;")
        brow.addWidget(self.budget_label)
        form.addRow("Training time:", brow)
        self.device = QComboBox()
        self.device.addItem("Automatic", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.addItem("CUDA GPU", "cuda")
        self.device.currentIndexChanged.connect(self._device_changed)
        form.addRow("Device:", self.device)
        self.name = QLineEdit()
        self.name.textChanged.connect(self.completeChanged)
        form.addRow("Name of the new model:", self.name)
        lay.addLayout(form)
        self.device_note = _note("", "warn")
        lay.addWidget(self.device_note)
        self.toggle = QToolButton()
        self.toggle.setText("Advanced options")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: 600; background: transparent; }"
                                  "QToolButton:checked { background: transparent; color: palette(text); }")
        self.toggle.toggled.connect(self._toggle_advanced)
        lay.addWidget(self.toggle)
        self.advanced = QGroupBox()
        adv = QFormLayout(self.advanced)
        adv.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.holdout = QSpinBox()
        self.holdout.setRange(1, 500)
        self.holdout.setToolTip("Photographs kept out of training and used only to check the result.")
        adv.addRow("Photographs held out for checking:", self.holdout)
        self.best = QSpinBox()
        self.best.setRange(10, 100)
        self.best.setSuffix(" %")
        self.best.setValue(50)
        self.best.setToolTip("Share of the training photographs, best first, that are degraded into training pairs.")
        adv.addRow("Best photographs used as pairs:", self.best)
        self.anchor = QDoubleSpinBox()
        self.anchor.setRange(0.0, 5.0)
        self.anchor.setSingleStep(0.1)
        self.anchor.setValue(0.5)
        self.anchor.setToolTip("How strongly the new model is held close to the starting model (0 = not at all).")
        adv.addRow("Anchor to the starting model:", self.anchor)
        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setSpecialValueText("no limit (time only)")
        self.steps.setToolTip("Stop after this many training steps even if time is left.")
        adv.addRow("Step limit:", self.steps)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 0.01)
        self.lr.setSingleStep(0.0001)
        self.lr.setValue(0.0002)
        adv.addRow("Learning rate:", self.lr)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        adv.addRow("Random seed:", self.seed)
        for wdg in (self.holdout, self.best, self.anchor, self.steps, self.lr, self.seed):
            wdg.setMinimumWidth(170)
        self.advanced.setVisible(False)
        lay.addWidget(self.advanced)
        lay.addStretch(1)
        self._budget_changed(self.budget.value())

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _budget_changed(self, i: int) -> None:
        self.budget_label.setText(fmt_minutes(BUDGET_MINUTES[i]))

    def minutes(self) -> int:
        return BUDGET_MINUTES[self.budget.value()]

    def set_minutes(self, minutes: int) -> None:
        self.budget.setValue(min(range(len(BUDGET_MINUTES)), key=lambda k: abs(BUDGET_MINUTES[k] - minutes)))

    def _device_changed(self) -> None:
        from core.device import choose_device  # noqa: PLC0415

        dc = choose_device(self.device.currentData())
        if dc.device == "cpu":
            self.device_note.setText(
                f"<b>No GPU will be used</b> ({html.escape(dc.reason)}): training runs on the CPU "
                f"({os.cpu_count()} cores). It works, but slowly; give it more time for a better result, "
                "and keep the computer switched on.")
            self.device_note.setVisible(True)
        else:
            self.device_note.setVisible(False)

    def initializePage(self) -> None:  # noqa: N802
        st = self.state
        n = len(st.scan.usable) if st.scan else 0
        from core.training.site_adapt import MIN_TRAIN_IMAGES, holdout_count  # noqa: PLC0415

        self.holdout.setMaximum(max(1, n - MIN_TRAIN_IMAGES))
        self.holdout.setValue(min(holdout_count(n), max(1, n - MIN_TRAIN_IMAGES)))  # the CLI's rule
        if not self.name.text() and st.start_model is not None:
            folder = Path(st.scan.folder).name if st.scan else "site"
            self.name.setText(_model_name(f"{st.start_model.card.name}-{folder}"))
        self._device_changed()

    def isComplete(self) -> bool:  # noqa: N802
        from core.models.registry import _NAME_RE  # noqa: PLC0415

        return bool(_NAME_RE.match(self.name.text().strip()))

    def settings(self):
        from core.training.site_adapt import AdaptSettings  # noqa: PLC0415

        values = dict(
            minutes=float(self.minutes()),
            steps=self.steps.value() or None,
            holdout=self.holdout.value(),
            best_fraction=self.best.value() / 100.0,
            anchor_weight=self.anchor.value(),
            device=self.device.currentData(),
            lr=self.lr.value(),
            min_lr=self.lr.value() / 10.0,
            seed=self.seed.value(),
        )
        values.update(self.state.overrides)
        return AdaptSettings(**values)

    def validatePage(self) -> bool:  # noqa: N802
        from core.errors import FundusError  # noqa: PLC0415
        from core.training.site_adapt import SiteAdaptation  # noqa: PLC0415

        st = self.state
        try:
            st.adaptation = SiteAdaptation.create(st.scan, self.settings(), run_dir=st.new_run_dir(),
                                                  start=st.start_model, registry=st.registry)
        except (FundusError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot start", str(exc))
            return False
        st.model_name = self.name.text().strip()
        return True


def _model_name(text: str) -> str:
    from core.training.site_adapt import safe_run_name  # noqa: PLC0415

    return safe_run_name(text)


# ----------------------------------------------------------------------------- 4 training
class TrainPage(_Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Training")
        self.setSubTitle("The model is learning from your photographs. You can pause, or stop and continue later.")
        lay = QVBoxLayout(self)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        lay.addWidget(self.bar)
        row = QHBoxLayout()
        self.status = QLabel("Preparing the photographs\u2026")
        self.eta = QLabel()
        self.eta.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.status, 1)
        row.addWidget(self.eta)
        lay.addLayout(row)
        self.plot = LossPlot()
        lay.addWidget(self.plot, 1)
        self.preview_title = QLabel("<b>Preview</b> on a held-out photograph")
        lay.addWidget(self.preview_title)
        self.preview = Triptych(("Photo", "Starting model", "Adapted model (so far)"), side=170)
        lay.addWidget(self.preview, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setCheckable(True)
        self.pause_btn.toggled.connect(self._pause)
        self.stop_btn = QPushButton("Stop training")
        self.stop_btn.setToolTip("Stop now; the run is kept and can be continued later from the first page.")
        self.stop_btn.clicked.connect(self.stop_training)
        buttons.addWidget(self.pause_btn)
        buttons.addWidget(self.stop_btn)
        lay.addLayout(buttons)
        self.thread: TrainTask | None = None
        self.done = False
        self.last_update = None

    def initializePage(self) -> None:  # noqa: N802
        if self.thread is None and not self.done:
            self.start()

    def start(self) -> None:
        st = self.state
        a = st.adaptation
        if a.status in ("trained", "installed"):
            self._trained(None)
            return
        name = a.plan.preview.name
        self.preview_title.setText(f"<b>Preview</b> on the held-out photograph {html.escape(name)} "
                                   f"(refreshed about every {fmt_duration(a.settings.preview_every_s)} of training)")
        t = TrainTask(a)
        t.progress.connect(self._prep_progress)
        t.update.connect(self._update)
        t.preview.connect(self._preview)
        t.returned.connect(self._trained)
        t.errored.connect(self._failed)
        t.cancelled.connect(self._cancelled)
        self.thread = t
        self.pause_btn.setEnabled(True)
        self.stop_btn.setEnabled(True)
        t.start()

    def _prep_progress(self, done: int, total: int, message: str) -> None:
        self.status.setText(f"Preparing the photographs: {done} of {total}")

    def _update(self, u) -> None:
        self.last_update = u
        self.bar.setValue(int(1000 * u.fraction))
        budget = f" of {fmt_minutes(u.budget_s / 60)}" if u.budget_s else ""
        steps = f"Step {u.step}" + (f" of about {u.total_steps}" if u.total_steps else "")
        loss = u.losses.get("loss")
        loss_text = f" \u00b7 loss {loss:.4f}" if loss is not None else ""
        if u.paused:
            self.status.setText(f"Paused at step {u.step}. Press Resume to continue.")
            self.eta.setText("")
            return
        self.status.setText(f"{steps} \u00b7 {fmt_duration(u.elapsed_s)}{budget} of training{loss_text}")
        self.eta.setText(f"About {fmt_duration(u.eta_s)} left" if u.eta_s is not None else "Estimating time left\u2026")
        self.plot.add(u.step, u.losses)

    def _preview(self, p) -> None:
        self.preview.set_images(p.original, p.starting, p.adapted)
        self.preview.tiles[2].caption.setText(f"Adapted model (step {p.step})")

    def _pause(self, on: bool) -> None:
        if self.thread is not None:
            self.thread.set_paused(on)
        self.pause_btn.setText("Resume" if on else "Pause")
        if on:
            self.status.setText("Pausing after the current step\u2026")

    def stop_training(self) -> None:
        if self.thread is not None and self.thread.is_running():
            self.status.setText("Stopping after the current step and saving\u2026")
            self.stop_btn.setEnabled(False)
            self.pause_btn.setEnabled(False)
            self.thread.stop()

    def _trained(self, result) -> None:
        self.done = True
        self.bar.setValue(1000)
        a = self.state.adaptation
        steps = a.manifest.get("last_step", "?")
        self.status.setText(f"Training finished: {steps} steps in "
                            f"{fmt_duration(float(a.manifest.get('training_time_s', 0)))}. Continue with Next.")
        self.eta.setText("")
        self.pause_btn.setEnabled(False)
        self.stop_btn.setEnabled(False)
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#b35c00'>Training failed: {html.escape(message)}</span>")
        self.pause_btn.setEnabled(False)
        self.stop_btn.setEnabled(False)

    def _cancelled(self, message: str) -> None:
        self.status.setText("Stopped. The run is saved: open this wizard again to continue it.")
        self.eta.setText("")
        self.pause_btn.setEnabled(False)

    def stop_and_wait(self, ms: int = 60000) -> None:
        if self.thread is not None:
            self.thread.set_paused(False)
            self.thread.stop_and_wait(ms)

    def isComplete(self) -> bool:  # noqa: N802
        return self.done


# ----------------------------------------------------------------------------- 5 results
class ResultsPage(_Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Results")
        self.setSubTitle("The new model and the starting model on the photographs held out from training.")
        lay = QVBoxLayout(self)
        self.bar = QProgressBar()
        lay.addWidget(self.bar)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.verdict)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Measure", "Photo as taken", "Starting model", "Adapted model", "Verdict"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 5):
            self.table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        lay.addWidget(self.table)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #555;")
        lay.addWidget(self.notes)
        self.previews_box = QScrollArea()
        self.previews_box.setWidgetResizable(True)
        self.previews_box.setFrameShape(QFrame.Shape.NoFrame)
        self.previews_inner = QWidget()
        self.previews_layout = QGridLayout(self.previews_inner)
        self.previews_box.setWidget(self.previews_inner)
        lay.addWidget(self.previews_box, 1)
        self.retry = QPushButton("Evaluate again")
        self.retry.setVisible(False)
        self.retry.clicked.connect(self.start)
        lay.addWidget(self.retry, 0, Qt.AlignmentFlag.AlignRight)
        self.thread: EvalTask | None = None

    def initializePage(self) -> None:  # noqa: N802
        if self.state.evaluation is None and (self.thread is None or not self.thread.is_running()):
            self.start()

    def start(self) -> None:
        self.retry.setVisible(False)
        self.verdict.setText("Checking both models on the held-out photographs\u2026")
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        t = EvalTask(self.state.adaptation, segmenter=self.state.segmenter)
        t.progress.connect(self._progress)
        t.returned.connect(self._evaluated)
        t.errored.connect(self._failed)
        self.thread = t
        t.start()

    def _progress(self, done: int, total: int, message: str) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.bar.setFormat(f"{message} ({done} of {total})")

    def _evaluated(self, ev) -> None:
        self.state.evaluation = ev
        self.bar.setVisible(False)
        overall = ev.overall
        if overall == "inconclusive":
            text = (f"<b>Inconclusive:</b> only {len(ev.photos)} photographs were held out, too few to tell whether "
                    "the adapted model is better or worse (at least 5 are needed). Add photographs to the folder "
                    "for a reliable check." + (" A measure got worse: the model is not made active unless you "
                                               "choose so explicitly." if ev.needs_confirmation else ""))
            kind = "#b35c00"
        elif overall == "worse":
            text = ("<b>The adapted model is worse on at least one measure.</b> It will be saved flagged, and it is "
                    "not made active unless you choose so explicitly.")
            kind = "#b35c00"
        elif overall == "better":
            text = "<b>The adapted model is better on at least one measure and worse on none.</b>"
            kind = "#1b7f3b"
        else:
            text = "<b>The adapted model performs the same as the starting model</b> (differences within tolerance)."
            kind = "#555555"
        self.verdict.setText(f"<span style='color:{kind}'>{text}</span> Checked on {len(ev.photos)} held-out "
                             f"photographs against {html.escape(ev.starting_model)}.")
        self.table.setRowCount(len(ev.measures))
        for r, m in enumerate(ev.measures):
            arrow = "higher is better" if m.higher_is_better else "lower is better"
            name = QTableWidgetItem(m.label)
            name.setToolTip(f"{arrow}; tolerance \u00b1{m.tolerance:.4g}; {m.photos_better} photos better, "
                            f"{m.photos_worse} worse")
            self.table.setItem(r, 0, name)
            for c, v in enumerate((m.input, m.starting, m.adapted), start=1):
                it = QTableWidgetItem("\u2013" if v is None else f"{v:.4g}")
                it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, it)
            vi = QTableWidgetItem(VERDICT_SIGNS[m.verdict])
            vi.setForeground(QColor(VERDICT_COLOURS[m.verdict]))
            f = vi.font()
            f.setBold(m.verdict != "same")
            vi.setFont(f)
            self.table.setItem(r, 4, vi)
        self.table.resizeRowsToContents()
        h = self.table.horizontalHeader().height() + sum(self.table.rowHeight(i) for i in range(len(ev.measures))) + 4
        self.table.setFixedHeight(h)
        self.notes.setText(" ".join(html.escape(n) for n in ev.notes))
        while self.previews_layout.count():
            w = self.previews_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for i, p in enumerate(ev.previews):
            tri = Triptych((f"{p.name}: photo", "Starting model", "Adapted model"), side=150)
            tri.set_images(p.original, p.starting, p.adapted)
            self.previews_layout.addWidget(tri, i, 0)
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self.bar.setVisible(False)
        self.verdict.setText(f"<span style='color:#b35c00'>The evaluation failed: {html.escape(message)}</span>")
        self.retry.setVisible(True)

    def stop_and_wait(self, ms: int = 60000) -> None:
        if self.thread is not None:
            self.thread.stop_and_wait(ms)

    def isComplete(self) -> bool:  # noqa: N802
        return self.state.evaluation is not None


# ----------------------------------------------------------------------------- 6 save
class SavePage(_Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Save the new model")
        self.setSubTitle("The model is saved as a new version; the starting model stays installed.")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit()
        self.version = QLineEdit()
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("For example: camera model, clinic, who ran the adaptation, why.")
        self.notes.setFixedHeight(90)
        form.addRow("Model name:", self.name)
        form.addRow("Version:", self.version)
        form.addRow("Notes:", self.notes)
        lay.addLayout(form)
        self.activate = QCheckBox("Make it the active model (used for enhancing from now on)")
        lay.addWidget(self.activate)
        self.warning = _note("", "warn")
        self.warning.setVisible(False)
        lay.addWidget(self.warning)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        lay.addStretch(1)
        self.name.textChanged.connect(self.completeChanged)
        self.version.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:  # noqa: N802
        from core.training.site_adapt import next_free_version  # noqa: PLC0415

        st = self.state
        name = st.model_name or f"{st.adaptation.start_model.card.name}-site"
        self.name.setText(name)
        self.version.setText(next_free_version(st.registry, name))
        ev = st.evaluation
        worse = ev is not None and ev.needs_confirmation
        self.activate.setChecked(not worse)
        if worse:
            bad = ", ".join(m.label.lower() for m in ev.measures if m.verdict == "worse")
            self.warning.setText(f"<b>Got worse:</b> {html.escape(bad)}. The model will be saved with this flag "
                                 "in its model card. \u201cMake it active\u201d is off; if you switch it on you "
                                 "will be asked to confirm.")
            self.warning.setVisible(True)
        plan = st.adaptation.plan
        self.summary.setText(
            f"Adapted from {html.escape(st.adaptation.start_model.ref)} on {len(plan.train)} photographs of "
            f"\u201c{html.escape(Path(st.adaptation.scan.folder).name)}\u201d ({len(plan.holdout)} held out). "
            "The model card records the data summary, the date, the measures and the parent model.")

    def isComplete(self) -> bool:  # noqa: N802
        from core.models.registry import _NAME_RE  # noqa: PLC0415

        return bool(_NAME_RE.match(self.name.text().strip())) and bool(_NAME_RE.match(self.version.text().strip()))

    def confirm_worse(self) -> bool:
        """Explicit confirmation before a model that got worse becomes active (replaced in tests)."""
        answer = QMessageBox.warning(
            self, "Activate a model that got worse?",
            "On the held-out photographs this model was worse than the starting model on at least one measure.\n\n"
            "Make it the active model anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def validatePage(self) -> bool:  # noqa: N802
        from core.errors import FundusError  # noqa: PLC0415

        st = self.state
        ev = st.evaluation
        activate = self.activate.isChecked()
        allow_worse = False
        if activate and ev is not None and ev.needs_confirmation:
            allow_worse = self.confirm_worse()
            activate = allow_worse
        try:
            st.installed, st.activated = st.adaptation.install(
                self.name.text().strip(), self.version.text().strip(), notes=self.notes.toPlainText().strip(),
                evaluation=ev, activate=activate, allow_worse=allow_worse)
        except FundusError as exc:
            QMessageBox.warning(self, "Cannot save the model", str(exc))
            return False
        return True
