"""A thin progress bar with Cancel inside the image area (not a modal dialog)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.style import STRIP_BG


class ProgressStrip(QWidget):
    cancel_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("progressStrip")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            f"#progressStrip {{ background: {STRIP_BG}; }}"
            " QLabel { color: #e6e6e6; }"
            " QProgressBar { background: #3a3a3a; border: none; border-radius: 2px; }"
            " QProgressBar::chunk { background: #4ea3d8; border-radius: 2px; }"
            " QPushButton { color: #e6e6e6; background: #3a3a3a; border: 1px solid #555;"
            " border-radius: 3px; padding: 2px 10px; }"
            " QPushButton:hover { background: #4a4a4a; }"
        )
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 8, 4)
        lay.setSpacing(10)
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(5)
        self.bar.setRange(0, 0)
        self.cancel = QPushButton("Cancel")
        self.cancel.setCursor(Qt.CursorShape.ArrowCursor)
        self.cancel.clicked.connect(self.cancel_requested)
        lay.addWidget(self.label)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.cancel)
        self.hide()

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.cancel.setEnabled(True)
        self.show()

    def set_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        if message:
            base = self.label.text().split(" \u2014 ")[0]
            self.label.setText(f"{base} \u2014 {message}")

    def cancelling(self) -> None:
        self.cancel.setEnabled(False)
        self.label.setText("Cancelling\u2026")

    def finish(self) -> None:
        self.hide()
