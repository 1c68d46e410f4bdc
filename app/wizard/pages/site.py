"""Step 2, site photographs: a folder scanned off the GUI thread, counts, reasons, a quality-sorted strip."""

from __future__ import annotations

import html

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from app.wizard.pages.base import Page
from app.wizard.widgets import to_pixmap
from app.wizard.workers import ScanTask


class SitePage(Page):
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
