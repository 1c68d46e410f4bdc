"""Step 1, welcome: what adaptation does, how long it takes here, and a run to continue."""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QVBoxLayout,
)

from app.wizard.pages.base import Page, fmt_minutes, note


class WelcomePage(Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Adapt MAGE-Net to this site's camera")
        self.setSubTitle("Fine-tune the enhancement model on your own photographs. No labels are needed.")
        lay = QVBoxLayout(self)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.body)
        self.privacy = note(
            "<b>Your photographs never leave this computer.</b> They are read from the folder you choose; "
            "nothing is uploaded. The adapted model is saved in your Fundus Studio data folder.", "ok")
        lay.addWidget(self.privacy)
        self.device_note = QLabel()
        self.device_note.setWordWrap(True)
        lay.addWidget(self.device_note)
        self.resume_box = QCheckBox()
        self.resume_box.setVisible(False)
        lay.addWidget(self.resume_box)
        self.problem = note("", "warn")
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
