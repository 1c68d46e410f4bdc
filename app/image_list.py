"""The image list: thumbnails, names, size and status (enhanced, failed), drag and drop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

from app.workers import THUMB_SIZE

STATUS_TEXT = {
    "new": "",
    "loading": "loading\u2026",
    "ready": "",
    "enhancing": "enhancing\u2026",
    "enhanced": "\u2713 enhanced",
    "failed": "\u2717 failed",
}
STATUS_COLOR = {"enhanced": QColor("#2e8b57"), "failed": QColor("#c0392b"), "enhancing": QColor("#2f6f9f")}


@dataclass
class ImageEntry:
    path: Path
    label: str = ""  # shown instead of the file name (bundled samples)
    status: str = "new"
    size_text: str = ""
    error: str = ""
    thumbnail: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.label or self.path.name


def _icon(thumb: np.ndarray | None) -> QIcon:
    pm = QPixmap(THUMB_SIZE, THUMB_SIZE)
    pm.fill(QColor("#262626"))
    if thumb is not None:
        h, w = thumb.shape[:2]
        arr = np.ascontiguousarray(thumb)
        img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        p = QPainter(pm)
        p.drawImage((THUMB_SIZE - w) // 2, (THUMB_SIZE - h) // 2, img)
        p.end()
    return QIcon(pm)


class ImageList(QListWidget):
    """One row per photo; emits current_changed(index) and files_dropped(paths)."""

    current_changed = Signal(int)
    files_dropped = Signal(list)
    remove_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.entries: list[ImageEntry] = []
        self.setIconSize(QSize(56, 56))
        self.setSpacing(1)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.currentRowChanged.connect(self.current_changed)

    def add(self, entry: ImageEntry) -> int:
        self.entries.append(entry)
        item = QListWidgetItem(_icon(entry.thumbnail), "")
        item.setToolTip(str(entry.path))
        self.addItem(item)
        self.refresh(len(self.entries) - 1)
        return len(self.entries) - 1

    def index_of(self, path: Path) -> int:
        for i, e in enumerate(self.entries):
            if e.path == path:
                return i
        return -1

    def refresh(self, index: int) -> None:
        e = self.entries[index]
        item = self.item(index)
        status = STATUS_TEXT.get(e.status, "")
        second = "  \u00b7  ".join(t for t in (e.size_text, status) if t)
        item.setText(f"{e.title}\n{second}" if second else e.title)
        if e.status == "failed" and e.error:
            item.setToolTip(f"{e.path}\n\n{e.error}")
        color = STATUS_COLOR.get(e.status)
        if color is not None:
            item.setForeground(color)
        else:
            item.setData(Qt.ItemDataRole.ForegroundRole, None)

    def set_thumbnail(self, index: int, thumb: np.ndarray, size_text: str) -> None:
        e = self.entries[index]
        e.thumbnail = thumb
        e.size_text = size_text
        self.item(index).setIcon(_icon(thumb))
        self.refresh(index)

    def set_status(self, index: int, status: str, error: str = "") -> None:
        e = self.entries[index]
        e.status = status
        e.error = error
        self.refresh(index)

    def remove(self, index: int) -> None:
        del self.entries[index]  # first, so the row-changed signal of takeItem sees the new order
        self.takeItem(index)

    def contextMenuEvent(self, ev):  # noqa: N802
        from PySide6.QtCore import QUrl  # noqa: PLC0415
        from PySide6.QtGui import QDesktopServices  # noqa: PLC0415
        from PySide6.QtWidgets import QMenu  # noqa: PLC0415

        row = self.indexAt(ev.pos()).row()
        if row < 0:
            return
        menu = QMenu(self)
        remove = menu.addAction("Remove from list")
        reveal = menu.addAction("Show in folder")
        chosen = menu.exec(ev.globalPos())
        if chosen is remove:
            self.remove_requested.emit(row)
        elif chosen is reveal:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.entries[row].path.parent)))

    # ---------------------------------------------------------------- drag and drop
    def dragEnterEvent(self, ev):  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()
        else:
            super().dragEnterEvent(ev)

    def dragMoveEvent(self, ev):  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()
        else:
            super().dragMoveEvent(ev)

    def dropEvent(self, ev):  # noqa: N802
        if ev.mimeData().hasUrls():
            self.files_dropped.emit([u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()])
            ev.acceptProposedAction()
        else:
            super().dropEvent(ev)
