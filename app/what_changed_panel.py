"""The "What changed" panel: which of the model's fields to show over the enhanced photo, and its legend.

A clinician can see exactly what the structured MAGE-Net did to this photo: where it
brightened or darkened (illumination gain), where it removed a veil (haze), and where it
sharpened (detail gain). The maps come from core.enhance.Enhancer.what_changed; the colours
from core.what_changed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QVBoxLayout, QWidget

from core.what_changed import KINDS, LABELS, legend

OFF = "off"
HINTS = {
    "gain": "Blue: darkened, orange: brightened, clear: left as it was.",
    "veil": "Violet: haze (veil) subtracted before the gain.",
    "detail_gain": "Green: fine detail and local contrast strengthened; grey-blue: softened (noise).",
}


def legend_pixmap(kind: str, width: int = 150, height: int = 14) -> QPixmap:
    """The legend's colour bar, over a mid-grey so transparency reads as "unchanged"."""
    pm = QPixmap(width, height)
    pm.fill(QColor(90, 90, 90))
    stops = legend(kind)
    lo, hi = stops[0].value, stops[-1].value
    grad = QLinearGradient(0, 0, width, 0)
    for s in stops:
        r, g, b, a = s.rgba
        grad.setColorAt((s.value - lo) / (hi - lo) if hi > lo else 0.0, QColor(r, g, b, a))
    p = QPainter(pm)
    p.fillRect(0, 0, width, height, grad)
    p.end()
    return pm


class WhatChangedPanel(QWidget):
    layer_changed = Signal(str)  # OFF or one of core.what_changed.KINDS

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        lay.addWidget(self.notice)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for key, text in ((OFF, "Off"), *((k, LABELS[k]) for k in KINDS)):
            rb = QRadioButton(text)
            rb.setObjectName(f"whatChanged_{key}")
            self.group.addButton(rb)
            self.buttons[key] = rb
            lay.addWidget(rb)
            rb.toggled.connect(lambda on, k=key: on and self.layer_changed.emit(k))
        self.buttons[OFF].setChecked(True)
        self.bar = QLabel()
        self.ends = QHBoxLayout()
        self.lo_label, self.hi_label = QLabel(), QLabel()
        self.hi_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.ends.addWidget(self.lo_label)
        self.ends.addWidget(self.hi_label)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.range = QLabel("")
        lay.addWidget(self.bar)
        lay.addLayout(self.ends)
        lay.addWidget(self.hint)
        lay.addWidget(self.range)
        lay.addStretch(1)
        self._ranges: dict[str, tuple[float, float]] = {}
        self.set_available(False, "Enhance a photo to see what the model changed.")
        self._show_legend(OFF)
        self.layer_changed.connect(self._show_legend)

    @property
    def layer(self) -> str:
        for key, rb in self.buttons.items():
            if rb.isChecked():
                return key
        return OFF

    def set_available(self, available: bool, reason: str = "", ranges: dict | None = None) -> None:
        """Enable the choices for a result with fields; otherwise say why there is nothing to show."""
        self._ranges = dict(ranges or {})
        for key, rb in self.buttons.items():
            rb.setEnabled(available or key == OFF)
        if not available and self.layer != OFF:
            self.buttons[OFF].setChecked(True)
        self.notice.setText("" if available else reason)
        self.notice.setVisible(not available)
        self._show_legend(self.layer)

    def _show_legend(self, kind: str) -> None:
        shown = kind in KINDS
        for w in (self.bar, self.lo_label, self.hi_label, self.hint, self.range):
            w.setVisible(shown)
        if not shown:
            return
        stops = legend(kind)
        self.bar.setPixmap(legend_pixmap(kind))
        self.lo_label.setText(stops[0].label)
        self.hi_label.setText(stops[-1].label)
        self.hint.setText(HINTS[kind])
        lo_hi = self._ranges.get(kind)
        self.range.setText(f"This photo: {lo_hi[0]:.2f} to {lo_hi[1]:.2f}" if lo_hi else "")
