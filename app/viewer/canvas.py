"""One image canvas: a pyqtgraph view whose zoom and pan come from a shared ViewState.

Layers, bottom to top: the base image, its overlay, then a clip group holding the top
image and its overlay. In split mode the clip group is cut at the divider, so moving
the divider only moves a clip rectangle: no pixel array is recomposed per mouse move.
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
import pyqtgraph.functions as fn
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QLabel

from app.style import VIEWER_BG, corner_label_style
from app.viewer.view_state import ViewState

pg.setConfigOptions(imageAxisOrder="row-major")

WHEEL_STEP = 1.0015  # zoom factor per wheel delta unit: one notch (120) is about x1.2


class BufferImageItem(pg.ImageItem):
    """ImageItem that draws a ready BGRA buffer (QImage RGB32/ARGB32 premultiplied) as is.

    The buffer is shared, never copied: several canvases may show the same array, and an
    in-place change followed by `refresh()` is all a levels change costs. When zoomed out,
    it draws from a lazily built pyramid of area-averaged halves, so a 3504x2336 photo
    shown at 25% costs a quarter-size draw and shows no aliasing.
    """

    def __init__(self, alpha: bool = False) -> None:
        super().__init__()
        self._fmt = QImage.Format.Format_ARGB32_Premultiplied if alpha else QImage.Format.Format_RGB32
        self._buf: np.ndarray | None = None
        self._pyramid: list[tuple[np.ndarray, QImage]] = []

    def set_buffer(self, buf: np.ndarray | None) -> None:
        if buf is self._buf:
            self.update()
            return
        self.prepareGeometryChange()
        self._buf = buf
        self._pyramid = []
        if buf is None:
            self.image = None
            self.qimage = None
            self.hide()
        else:
            self.image = buf
            self.qimage = fn.ndarray_to_qimage(buf, self._fmt)
            self._renderRequired = False
            self._unrenderable = False
            self.show()
        self.informViewBoundsChanged()
        self.update()

    @property
    def buffer(self) -> np.ndarray | None:
        return self._buf

    def render(self) -> None:  # the QImage is made in set_buffer; nothing to convert
        self._renderRequired = False

    def refresh(self) -> None:
        """The buffer changed in place."""
        self._pyramid = []
        self.update()

    def _level(self, scale: float) -> QImage:
        """The full image, or the pyramid level whose size is closest above the drawn size."""
        k = 0
        while scale * (2 ** (k + 1)) <= 1.0 and k < 4:
            k += 1
        if k == 0 or self._buf is None:
            return self.qimage
        if not self._pyramid:
            self._pyramid = [(self._buf, self.qimage)]
        while len(self._pyramid) <= k:
            prev = self._pyramid[-1][0]
            h, w = prev.shape[:2]
            if min(h, w) < 64:
                break
            small = cv2.resize(prev, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
            self._pyramid.append((small, fn.ndarray_to_qimage(small, self._fmt)))
        return self._pyramid[min(k, len(self._pyramid) - 1)][1]

    def paint(self, painter, *args) -> None:
        if self._buf is None or self.qimage is None:
            return
        h, w = self._buf.shape[:2]
        t = painter.transform()
        scale = (t.m11() ** 2 + t.m12() ** 2) ** 0.5
        painter.drawImage(QRectF(0, 0, w, h), self._level(scale))


class _StateViewBox(pg.ViewBox):
    """ViewBox whose wheel and drag move the shared ViewState instead of its own range."""

    def __init__(self, canvas: "ImageCanvas") -> None:
        super().__init__(lockAspect=False, invertY=True, enableMenu=False, defaultPadding=0.0)
        self._canvas = canvas
        self.setMouseEnabled(False, False)
        self.disableAutoRange()

    def wheelEvent(self, ev, axis=None):  # noqa: N802 - Qt naming
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        p = self.mapToView(ev.pos())
        self._canvas.state.zoom_by(WHEEL_STEP ** delta, (p.x(), p.y()))
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        if ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            ev.accept()
            d = ev.pos() - ev.lastPos()
            if d.x() or d.y():
                self._canvas.state.pan_screen(d.x(), d.y())
        else:
            ev.ignore()

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.double() and ev.button() == Qt.MouseButton.LeftButton:
            self._canvas.state.fit()
            ev.accept()
        else:
            ev.ignore()


class ImageCanvas(pg.GraphicsView):
    """A view of one or two images (base, and a top layer that split mode clips)."""

    hovered = Signal(float, float)  # image coordinates; (-1, -1) when the cursor leaves the image

    def __init__(self, state: ViewState, parent=None) -> None:
        super().__init__(parent, background=QColor(VIEWER_BG))
        self.state = state
        self.setFrameShape(self.Shape.NoFrame)
        self.setAcceptDrops(False)  # dropped files go to the main window
        self.vb = _StateViewBox(self)
        self.setCentralItem(self.vb)
        self.base = BufferImageItem()
        self.base_overlay = BufferImageItem(alpha=True)
        self.clip = QGraphicsRectItem()
        self.clip.setPen(QPen(Qt.PenStyle.NoPen))
        self.clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        self.top = BufferImageItem()
        self.top_overlay = BufferImageItem(alpha=True)
        self.top.setParentItem(self.clip)
        self.top_overlay.setParentItem(self.clip)
        for item in (self.base, self.base_overlay):
            self.vb.addItem(item)
        self.vb.addItem(self.clip)
        self.base.setZValue(0)
        self.base_overlay.setZValue(1)
        self.clip.setZValue(2)
        self.top_overlay.setZValue(1)
        self.base.hide()
        self.base_overlay.hide()
        self.top.hide()
        self.top_overlay.hide()
        self._boxes: list[QGraphicsRectItem] = []

        self.divider = pg.InfiniteLine(
            angle=90,
            movable=True,
            pen=pg.mkPen(QColor(255, 255, 255, 220), width=2),
            hoverPen=pg.mkPen(QColor(255, 200, 60), width=3),
        )
        self.divider.addMarker("<|>", position=0.5, size=14)
        self.divider.setZValue(10)
        self.divider.hide()
        self.vb.addItem(self.divider, ignoreBounds=True)
        self.divider.sigDragged.connect(self._divider_dragged)

        self.marker = pg.ScatterPlotItem(
            size=18, symbol="+", pen=pg.mkPen(QColor(255, 200, 60), width=1.5), brush=None
        )
        self.marker.setZValue(11)
        self.marker.hide()
        self.vb.addItem(self.marker, ignoreBounds=True)

        self.label_left = QLabel(self)
        self.label_right = QLabel(self)
        for lab in (self.label_left, self.label_right):
            lab.setStyleSheet(corner_label_style())
            lab.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            lab.hide()
        self.placeholder = QLabel(self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: rgba(230,230,230,150); font-size: 13px; background: transparent;")
        self.placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.placeholder.hide()

        self._split = False
        self._show_top = True
        self.is_reference = False  # the view whose size fit() uses
        self._smooth: bool | None = None
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        state.changed.connect(self.apply_state)
        state.divider_changed.connect(lambda _f: self._update_split_geometry())

    # ------------------------------------------------------------------ content
    def set_layers(self, base: np.ndarray | None, top: np.ndarray | None) -> None:
        self.base.set_buffer(base)
        self.top.set_buffer(top)
        self._update_clip_visibility()
        self._update_split_geometry()

    def set_overlays(self, base: np.ndarray | None, top: np.ndarray | None) -> None:
        self.base_overlay.set_buffer(base)
        self.top_overlay.set_buffer(top)

    def set_overlay_opacity(self, opacity: float) -> None:
        self.base_overlay.setOpacity(opacity)
        self.top_overlay.setOpacity(opacity)

    def set_split(self, on: bool) -> None:
        self._split = on
        self._update_clip_visibility()
        self._update_split_geometry()

    def set_show_top(self, on: bool) -> None:
        self._show_top = on
        self._update_clip_visibility()

    def set_labels(self, left: str = "", right: str = "") -> None:
        for lab, text in ((self.label_left, left), (self.label_right, right)):
            lab.setText(text)
            lab.setVisible(bool(text))
            lab.adjustSize()
        self._place_labels()

    def set_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
        self._place_labels()

    def set_boxes(self, rects: list[tuple[int, int, int, int]]) -> None:
        """Amber outlined boxes (x, y, w, h) in image pixels: hallucination warnings."""
        for item in self._boxes:
            self.vb.removeItem(item)
        self._boxes = []
        pen = QPen(QColor(255, 176, 0), 2)
        pen.setCosmetic(True)
        for x, y, w, h in rects:
            item = QGraphicsRectItem(QRectF(x, y, w, h))
            item.setPen(pen)
            item.setZValue(5)
            self.vb.addItem(item, ignoreBounds=True)
            self._boxes.append(item)

    def set_boxes_visible(self, on: bool) -> None:
        for item in self._boxes:
            item.setVisible(on)

    def set_marker(self, x: float | None, y: float | None) -> None:
        """A cross at the image point under the cursor in the other, linked view."""
        if x is None or y is None or x < 0:
            self.marker.hide()
            return
        self.marker.setData([x], [y])
        self.marker.show()

    # ------------------------------------------------------------------ view
    def view_size(self) -> tuple[int, int]:
        vp = self.viewport()
        return max(1, vp.width()), max(1, vp.height())

    def apply_state(self) -> None:
        s = self.state
        x, y, w, h = s.visible_rect(self.view_size())
        self.vb.setRange(QRectF(x, y, w, h), padding=0.0, update=True)
        # smooth when shrinking (no aliasing), crisp pixels when magnifying
        smooth = s.zoom * self.devicePixelRatioF() < 0.999
        if smooth != self._smooth:
            self._smooth = smooth
            hints = self.renderHints()
            flag = QPainter.RenderHint.SmoothPixmapTransform
            self.setRenderHints(hints | flag if smooth else hints & ~flag)
        self._update_split_geometry()

    def _update_clip_visibility(self) -> None:
        self.clip.setVisible(self._show_top and self.top.buffer is not None)
        self.divider.setVisible(self._split and self.top.buffer is not None and self.base.buffer is not None)

    def _divider_x(self) -> float:
        s = self.state
        x, _y, w, _h = s.visible_rect(self.view_size())
        return x + s.divider * w

    def _update_split_geometry(self) -> None:
        buf = self.top.buffer
        if buf is None:
            return
        h, w = buf.shape[:2]
        if self._split:
            xd = min(max(self._divider_x(), 0.0), float(w))
            self.clip.setRect(QRectF(xd, 0.0, w - xd, float(h)))
            if not self.divider.moving:
                self.divider.setValue(self._divider_x())
        else:
            self.clip.setRect(QRectF(0.0, 0.0, float(w), float(h)))

    def _divider_dragged(self) -> None:
        s = self.state
        x, _y, w, _h = s.visible_rect(self.view_size())
        s.set_divider((self.divider.value() - x) / w if w > 0 else 0.5)

    def _mouse_moved(self, pos: QPointF) -> None:
        if self.base.buffer is None:
            return
        p = self.vb.mapSceneToView(pos)
        h, w = self.base.buffer.shape[:2]
        if 0 <= p.x() < w and 0 <= p.y() < h:
            self.hovered.emit(p.x(), p.y())
        else:
            self.hovered.emit(-1.0, -1.0)

    def leaveEvent(self, ev):  # noqa: N802
        self.hovered.emit(-1.0, -1.0)
        super().leaveEvent(ev)

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        if not hasattr(self, "label_right"):  # pyqtgraph resizes during construction
            return
        if self.is_reference:
            self.state.set_viewport(*self.view_size())
        self.apply_state()
        self._place_labels()

    def _place_labels(self) -> None:
        m = 8
        self.label_left.move(m, m)
        self.label_right.move(max(m, self.width() - self.label_right.width() - m), m)
        self.placeholder.setGeometry(0, 0, self.width(), self.height())
