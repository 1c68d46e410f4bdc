"""Small line icons drawn with QPainter (no image files to ship, crisp at any scale)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

SIZE = 32  # drawn at 2x, shown at 16


def _icon(draw) -> QIcon:
    pm = QPixmap(SIZE, SIZE)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor("#3c3c3c"), 2.4)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    draw(p)
    p.end()
    pm.setDevicePixelRatio(2.0)
    return QIcon(pm)


def _frame(p: QPainter, r: QRectF, fill: str | None = None) -> None:
    if fill:
        p.fillRect(r, QColor(fill))
    p.drawRoundedRect(r, 2, 2)


def mode_icon(mode: str) -> QIcon:
    def single(p):
        _frame(p, QRectF(4, 7, 24, 18), "#e8a07a")

    def split(p):
        p.fillRect(QRectF(4, 7, 12, 18), QColor("#c8765a"))
        p.fillRect(QRectF(16, 7, 12, 18), QColor("#f0b48c"))
        _frame(p, QRectF(4, 7, 24, 18))
        p.drawLine(QPointF(16, 4), QPointF(16, 28))

    def side(p):
        _frame(p, QRectF(3, 9, 12, 14), "#c8765a")
        _frame(p, QRectF(17, 9, 12, 14), "#f0b48c")

    def flicker(p):
        _frame(p, QRectF(9, 4, 19, 15), "#f0b48c")
        _frame(p, QRectF(4, 13, 19, 15), "#c8765a")

    return _icon({"single": single, "split": split, "side": side, "flicker": flicker}[mode])


def fit_icon() -> QIcon:
    def draw(p):
        _frame(p, QRectF(8, 8, 16, 16))
        path = QPainterPath()
        for (x, y, dx, dy) in ((3, 3, 1, 1), (29, 3, -1, 1), (3, 29, 1, -1), (29, 29, -1, -1)):
            path.moveTo(x + 5 * dx, y)
            path.lineTo(x, y)
            path.lineTo(x, y + 5 * dy)
        p.drawPath(path)

    return _icon(draw)


def actual_size_icon() -> QIcon:
    def draw(p):
        f = p.font()
        f.setPixelSize(15)
        f.setBold(True)
        p.setFont(f)
        _frame(p, QRectF(3, 6, 26, 20))
        p.drawText(QRectF(3, 6, 26, 20), Qt.AlignmentFlag.AlignCenter, "1:1")

    return _icon(draw)
