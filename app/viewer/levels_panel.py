"""Histogram with black/white levels and gamma, one setting per view (display only)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.viewer.levels import DisplayLevels, auto_levels

TARGETS = (("original", "Original"), ("enhanced", "Enhanced"))


class LevelsPanel(QWidget):
    """Edits DisplayLevels of the chosen view; emits levels_changed(view, levels) (throttled)."""

    levels_changed = Signal(str, object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.max_value = 255
        self.levels = {k: DisplayLevels() for k, _ in TARGETS}
        self.hists: dict[str, np.ndarray | None] = {k: None for k, _ in TARGETS}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 6)
        top = QHBoxLayout()
        top.addWidget(QLabel("View"))
        self.target = QComboBox()
        for key, title in TARGETS:
            self.target.addItem(title, key)
        self.target.setToolTip("Which view these display levels apply to. Exports are never changed.")
        top.addWidget(self.target, 1)
        self.auto_btn = QPushButton("Auto")
        self.auto_btn.setToolTip("Stretch between the 0.5% and 99.5% points inside the field of view")
        self.reset_btn = QPushButton("Reset")
        top.addWidget(self.auto_btn)
        top.addWidget(self.reset_btn)
        lay.addLayout(top)

        self.plot = pg.PlotWidget(background=None)
        self.plot.setFixedHeight(110)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.getAxis("left").hide()
        self.plot.getAxis("bottom").setStyle(tickLength=-4)
        self.plot.setXRange(0, 255, padding=0)
        self.curves = []
        for rgb in ((220, 60, 60), (60, 170, 60), (70, 110, 230)):
            c = QColor(*rgb)
            fill = QColor(*rgb, 60)
            curve = self.plot.plot(
                np.arange(257), np.zeros(256), stepMode="center", pen=pg.mkPen(c, width=1), fillLevel=0, brush=fill
            )
            self.curves.append(curve)
        self.region = pg.LinearRegionItem(values=(0, 255), brush=QColor(255, 255, 255, 25))
        self.region.setBounds((0, 255))
        self.plot.addItem(self.region)
        lay.addWidget(self.plot)

        row = QHBoxLayout()
        row.addWidget(QLabel("Black"))
        self.black = QDoubleSpinBox(decimals=0, maximum=65535)
        row.addWidget(self.black)
        row.addWidget(QLabel("White"))
        self.white = QDoubleSpinBox(decimals=0, maximum=65535)
        row.addWidget(self.white)
        lay.addLayout(row)
        grow = QHBoxLayout()
        grow.addWidget(QLabel("Gamma"))
        self.gamma_slider = QSlider(Qt.Orientation.Horizontal)
        self.gamma_slider.setRange(-100, 100)  # log scale: gamma = 10 ** (v / 100 * log10(4))
        self.gamma = QDoubleSpinBox(decimals=2, minimum=0.25, maximum=4.0, singleStep=0.05, value=1.0)
        grow.addWidget(self.gamma_slider, 1)
        grow.addWidget(self.gamma)
        lay.addLayout(grow)
        note = QLabel("Display only: exported images are not changed.")
        note.setStyleSheet("color: #5f5f5f; font-size: 10px;")
        lay.addWidget(note)

        self._emit_timer = QTimer(self, singleShot=True, interval=25)
        self._emit_timer.timeout.connect(self._emit)
        self._updating = False
        self.target.currentIndexChanged.connect(self._show_target)
        self.region.sigRegionChanged.connect(self._region_moved)
        self.black.valueChanged.connect(self._spin_changed)
        self.white.valueChanged.connect(self._spin_changed)
        self.gamma.valueChanged.connect(self._gamma_spin)
        self.gamma_slider.valueChanged.connect(self._gamma_slider)
        self.auto_btn.clicked.connect(self._auto)
        self.reset_btn.clicked.connect(self.reset_current)
        self._show_target()

    # ---------------------------------------------------------------- data
    @property
    def current(self) -> str:
        return self.target.currentData()

    def set_image(self, which: str, hist: np.ndarray | None, max_value: int, keep_levels: bool = False) -> None:
        """New histogram for a view; levels reset unless keep_levels."""
        self.max_value = max_value
        self.hists[which] = hist
        if not keep_levels:
            self.levels[which] = DisplayLevels.identity(max_value)
        if which == self.current:
            self._show_target()

    def reset_current(self) -> None:
        self.levels[self.current] = DisplayLevels.identity(self.max_value)
        self._show_target()
        self._emit_timer.start()

    def set_levels(self, which: str, levels: DisplayLevels) -> None:
        self.levels[which] = levels
        if which == self.current:
            self._show_target()
        self.levels_changed.emit(which, levels)

    def _auto(self) -> None:
        hist = self.hists.get(self.current)
        if hist is None:
            return
        self.levels[self.current] = auto_levels(hist, self.max_value)
        self._show_target()
        self._emit_timer.start()

    # ---------------------------------------------------------------- widgets
    def _scale(self) -> float:
        return (self.max_value + 1) / 256.0

    def _show_target(self) -> None:
        self._updating = True
        try:
            hist = self.hists.get(self.current)
            for c, curve in enumerate(self.curves):
                y = np.zeros(256) if hist is None else hist[c].astype(np.float64)
                if hist is not None and y.max() > 0:
                    # square root keeps the retina's mass and the small bright disc both visible
                    y = np.sqrt(y / y.max())
                curve.setData(np.arange(257), y)
            self.plot.setYRange(0, 1.05, padding=0)
            lv = self.levels[self.current]
            s = self._scale()
            for spin in (self.black, self.white):
                spin.setMaximum(self.max_value)
            self.black.setValue(lv.black)
            self.white.setValue(lv.white)
            self.region.setRegion((lv.black / s, lv.white / s))
            self.gamma.setValue(lv.gamma)
            self.gamma_slider.setValue(int(round(np.log10(lv.gamma) / np.log10(4.0) * 100)))
            enabled = hist is not None
            for w in (self.region, self.black, self.white, self.gamma, self.gamma_slider, self.auto_btn, self.reset_btn):
                w.setEnabled(enabled)
        finally:
            self._updating = False

    def _set_current(self, **changes: float) -> None:
        lv = self.levels[self.current]
        self.levels[self.current] = DisplayLevels(
            changes.get("black", lv.black), changes.get("white", lv.white), changes.get("gamma", lv.gamma)
        )
        self._emit_timer.start()

    def _region_moved(self) -> None:
        if self._updating:
            return
        lo, hi = self.region.getRegion()
        s = self._scale()
        black, white = round(lo * s), round(min(self.max_value, hi * s))
        self._updating = True
        self.black.setValue(black)
        self.white.setValue(white)
        self._updating = False
        self._set_current(black=float(black), white=float(white))

    def _spin_changed(self) -> None:
        if self._updating:
            return
        black, white = self.black.value(), self.white.value()
        if white <= black:
            return
        s = self._scale()
        self._updating = True
        self.region.setRegion((black / s, white / s))
        self._updating = False
        self._set_current(black=black, white=white)

    def _gamma_spin(self, value: float) -> None:
        if self._updating:
            return
        self._updating = True
        self.gamma_slider.setValue(int(round(np.log10(value) / np.log10(4.0) * 100)))
        self._updating = False
        self._set_current(gamma=float(value))

    def _gamma_slider(self, v: int) -> None:
        if self._updating:
            return
        g = float(round(10 ** (v / 100 * np.log10(4.0)), 2))
        self._updating = True
        self.gamma.setValue(g)
        self._updating = False
        self._set_current(gamma=g)

    def _emit(self) -> None:
        self.levels_changed.emit(self.current, self.levels[self.current])
