"""Models > Optimise for this computer: runs `fundus-studio optimise` in a child process.

A child process rather than a thread: compiling cannot be interrupted from inside, but a
process can be stopped at once (Cancel), and a compiler crash cannot take the window with
it. The process is an app.tasks.ProcessTask, so it has the signals and stop of every other
background task. Progress comes from the command's own lines ("Compiling ... for 512 px");
each side takes about a minute, so the ETA is the mean time per finished side.
"""

from __future__ import annotations

import re
import sys
import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from app.tasks import ProcessTask

_PLAN = re.compile(r"^(\d+) size\(s\) to compile")  # the command's first line: how many steps follow
_STEP = re.compile(r"^Compiling .* for (\d+) px")


def optimise_command(model_ref: str | None) -> tuple[str, list[str]]:
    """Program and arguments: the frozen app's own executable, else this Python with the CLI."""
    args = ["optimise"] + (["--model", model_ref] if model_ref else [])
    if getattr(sys, "frozen", False):
        return sys.executable, args
    return sys.executable, ["-m", "core.cli", *args]


class OptimiseDialog(QDialog):
    """Compile the model for this computer; emits `succeeded` when the packages are built."""

    succeeded = Signal()

    def __init__(self, model_ref: str | None, parent=None, command: tuple[str, list[str]] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Optimise for this computer")
        self.resize(620, 380)
        self.state = "idle"
        self.sides = 1  # until the command says how many sizes it compiles
        self._command = command or optimise_command(model_ref)
        self._started = 0.0
        self._step_times: list[float] = []
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Compiles the enhancement model for this computer's processor once (about a minute per "
            "image size). Afterwards enhancement chooses the compiled version automatically when it is "
            "faster and gives the same picture. Needs a C++ compiler; nothing else changes."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.progress = QProgressBar()
        self.progress.setRange(0, self.sides)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.status = QLabel("Starting\u2026")
        layout.addWidget(self.status)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        layout.addWidget(self.log, 1)
        self.buttons = QDialogButtonBox()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.close_button.setEnabled(False)
        self.close_button.clicked.connect(self.accept)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.RejectRole)
        layout.addWidget(self.buttons)

        program, args = self._command
        self.task = ProcessTask("optimise", program, args, title="the optimiser", parent=self)
        self.process = self.task.process
        self.task.line.connect(self._line)
        self.task.returned.connect(self._succeeded)
        self.task.errored.connect(self._failed)
        self.task.finished.connect(self._ticker_stop)
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._update_status)

    def start(self) -> None:
        self.state = "running"
        self._started = time.monotonic()
        self.task.start()
        self._ticker.start()

    def reject(self) -> None:
        """Cancel, Escape and the window's close button all stop a running compile."""
        if self.state == "running":
            self.state = "cancelled"
            self.task.stop_and_wait(5000)  # the command writes packages atomically: nothing half-built is kept
        super().reject()

    def _line(self, line: str) -> None:
        if not line or "Warning" in line:
            return
        self.log.appendPlainText(line)
        plan = _PLAN.match(line)
        if plan:
            self.sides = max(1, int(plan.group(1)))
            self.progress.setRange(0, self.sides)
        if _STEP.match(line):
            self._step_times.append(time.monotonic())
            self.progress.setValue(len(self._step_times) - 1)
        self._update_status()

    def _eta(self) -> str:
        done = max(0, len(self._step_times) - 1)
        if done == 0:
            return "about a minute per size"
        per = (self._step_times[-1] - self._step_times[0]) / done
        left = per * (self.sides - done) - (time.monotonic() - self._step_times[-1])
        return f"about {left:.0f} s left" if left >= 1 else "finishing"

    def _update_status(self) -> None:
        if self.state == "running":
            elapsed = time.monotonic() - self._started
            self.status.setText(f"Compiling\u2026 {elapsed:.0f} s, {self._eta()}")

    def _ticker_stop(self) -> None:
        self._ticker.stop()

    def _succeeded(self, _code: int) -> None:
        if self.state != "running":
            return
        self._ticker.stop()
        self.state = "done"
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
        self.progress.setValue(self.sides)
        self.status.setText("Done: the compiled model is used from the next enhancement on.")
        self.succeeded.emit()

    def _failed(self, message: str) -> None:
        if self.state != "running":
            return
        self._ticker.stop()
        self.state = "failed"
        self.log.appendPlainText(message)
        self.status.setText("Not optimised: see the messages above. Enhancement works as before.")
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
