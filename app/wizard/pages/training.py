"""Step 4, training: loss curves, ETA, a refreshed before/after preview, Pause and Cancel."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from app.wizard.pages.base import Page, fmt_duration, fmt_minutes
from app.wizard.widgets import LossPlot, Triptych
from app.wizard.workers import TrainTask


class TrainPage(Page):
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
