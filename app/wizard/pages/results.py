"""Step 5, results: the measures of the starting and the adapted model, each better, same or worse."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.style import VERDICT_COLOURS
from app.wizard.pages.base import VERDICT_SIGNS, Page
from app.wizard.widgets import Triptych
from app.wizard.workers import EvalTask


class ResultsPage(Page):
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
