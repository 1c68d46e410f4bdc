"""Small widgets of the training wizard: loss curves, image triptych, step list, thumbnails."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSizePolicy, QVBoxLayout, QWidget

from app.style import VIEWER_BG

# Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
CURVES = (
    ("loss", "total", "#0072B2"),
    ("supervised", "synthetic pairs", "#E69F00"),
    ("consistency", "consistency", "#009E73"),
    ("anchor", "anchor", "#CC79A7"),
)


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """uint8 RGB H x W x 3 -> QPixmap (copied, so the array may go away)."""
    a = np.ascontiguousarray(rgb[..., :3])
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    h, w = a.shape[:2]
    img = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(img.copy())


class LogAxis(pg.AxisItem):
    """A y axis for log10 data with plain labels (0.05, 0.1, 0.2 ...) at 1-2-5 steps of each decade."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        if not np.isfinite(minVal) or not np.isfinite(maxVal) or maxVal <= minVal:
            return []
        major, minor = [], []
        for dec in range(int(np.floor(minVal)) - 1, int(np.ceil(maxVal)) + 1):
            for m in (1, 2, 5):
                v = dec + np.log10(m)
                if minVal <= v <= maxVal:
                    (major if m == 1 else minor).append(v)
        if len(major) + len(minor) < 3:  # narrow range: finer steps
            minor += [d + np.log10(m) for d in range(int(np.floor(minVal)) - 1, int(np.ceil(maxVal)) + 1)
                      for m in (1.5, 3, 4, 6, 8) if minVal <= d + np.log10(m) <= maxVal]
        return [(1.0, major), (0.5, sorted(minor))]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        return [f"{10 ** v:.2g}" for v in values]


class LossPlot(pg.PlotWidget):
    """Loss curves against the step on a log scale, one curve per term, smoothed over a few points."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent, background="w", axisItems={"left": LogAxis("left")})
        self.setMinimumHeight(180)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("bottom", "training step")
        self.setLabel("left", "loss (log scale)")
        for name in ("left", "bottom"):
            ax = self.getPlotItem().getAxis(name)
            ax.setTextPen("#333")
            ax.setPen("#999")
            ax.enableAutoSIPrefix(False)
        self.addLegend(offset=(-10, 10), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 220),
                       pen=pg.mkPen("#ccc"))
        self.curves = {}
        self.data: dict[str, tuple[list[float], list[float]]] = {}
        for key, label, colour in CURVES:
            self.curves[key] = self.plot([], [], pen=pg.mkPen(colour, width=2), name=label)
            self.data[key] = ([], [])

    def add(self, step: int, losses: dict[str, float]) -> None:
        for key, _, _ in CURVES:
            v = losses.get(key)
            if v is None or not np.isfinite(v) or v <= 0:
                continue
            xs, ys = self.data[key]
            if xs and xs[-1] >= step:
                continue
            xs.append(step)
            ys.append(float(v))
            k = min(len(ys), 9)  # running mean over the last few steps: readable trends
            smooth = np.convolve(ys, np.ones(k) / k, mode="valid") if len(ys) >= k else np.asarray(ys)
            self.curves[key].setData(xs[len(xs) - len(smooth):], np.log10(smooth))

    def points(self, key: str) -> int:
        return len(self.data[key][0])


class ImageTile(QWidget):
    """A captioned image on the dark neutral viewer grey, scaled to fit."""

    def __init__(self, caption: str, side: int = 220, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(side, side)
        self.image.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image.setStyleSheet(f"background: {VIEWER_BG}; color: #aaa; border-radius: 3px;")
        self.image.setText("waiting for the first preview")
        self.caption = QLabel(caption)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.caption)
        self._pixmap: QPixmap | None = None

    def set_image(self, rgb: np.ndarray) -> None:
        self._pixmap = to_pixmap(rgb)
        self._rescale()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def _rescale(self) -> None:
        if self._pixmap is not None:
            self.image.setPixmap(self._pixmap.scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(ev)
        self._rescale()


class Triptych(QWidget):
    """Original | starting model | adapted model, side by side."""

    def __init__(self, captions=("Photo", "Starting model", "Adapted model"), side: int = 220, parent=None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.tiles = [ImageTile(c, side) for c in captions]
        for t in self.tiles:
            lay.addWidget(t)

    def set_images(self, *rgbs: np.ndarray) -> None:
        for t, a in zip(self.tiles, rgbs):
            t.set_image(a)


class StepList(QListWidget):
    """The wizard's steps on the left: done ones ticked, the current one bold, later ones greyed."""

    def __init__(self, titles: list[str], parent=None) -> None:
        super().__init__(parent)
        self.titles = titles
        self.setFixedWidth(190)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.setStyleSheet("QListWidget { border: none; background: transparent; padding-top: 12px; }"
                           "QListWidget::item { padding: 7px 6px; }")
        for t in titles:
            self.addItem(QListWidgetItem(t))
        self.set_current(0)

    def set_current(self, index: int, skipped: set[int] | None = None) -> None:
        skipped = skipped or set()
        for i in range(self.count()):
            item = self.item(i)
            f = QFont(self.font())
            f.setBold(i == index)
            item.setFont(f)
            mark = "\u2713 " if i < index and i not in skipped else ("\u25b8 " if i == index else "   ")
            item.setText(f"{mark}{i + 1}. {self.titles[i]}")
            colour = QColor("#111") if i <= index else QColor("#8a8a8a")
            if i in skipped:
                colour = QColor("#8a8a8a")
            item.setForeground(colour)
