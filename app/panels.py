"""Side panels: enhancement settings and the vessel comparison (controls and measurements)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.choices import DEVICE_PREFERENCES, DEVICE_TITLES
from core.colours import COLOUR_BOTH, COLOUR_HALLUCINATION, COLOUR_ONLY_AFTER, COLOUR_ONLY_BEFORE


HINT_STYLE = "color: #5f5f5f;"
NOTICE_STYLE = (
    "QLabel { background: #f3f0e4; border: 1px solid #d9cfa6; border-radius: 3px;"
    " padding: 6px; color: #3d3d3d; }"
)


def _hint(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setStyleSheet(HINT_STYLE)
    return lab


class EnhancePanel(QWidget):
    enhance_requested = Signal()
    cancel_requested = Signal()
    settings_changed = Signal()  # model, mode or device changed

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.model = QComboBox()
        self.model.setToolTip("Installed enhancement models (shipped and site-adapted)")
        form.addRow("Model", self.model)
        modes = QWidget()
        ml = QHBoxLayout(modes)
        ml.setContentsMargins(0, 0, 0, 0)
        self.fast = QRadioButton("Fast")
        self.fast.setToolTip("Network at working resolution, correction applied at full resolution")
        self.tiled = QRadioButton("High quality")
        self.tiled.setToolTip("Tiled: network at a higher resolution in overlapping tiles (slower)")
        self.mode_group = QButtonGroup(self)
        self.mode_group.addButton(self.fast)
        self.mode_group.addButton(self.tiled)
        self.fast.setChecked(True)
        ml.addWidget(self.fast)
        ml.addWidget(self.tiled)
        ml.addStretch(1)
        form.addRow("Mode", modes)
        self.device = QComboBox()
        for key in DEVICE_PREFERENCES:
            self.device.addItem(DEVICE_TITLES[key], key)
        form.addRow("Device", self.device)
        lay.addLayout(form)
        self.device_note = _hint("")
        lay.addWidget(self.device_note)
        row = QHBoxLayout()
        self.enhance_btn = QPushButton("Enhance")
        self.enhance_btn.setDefault(True)
        self.enhance_btn.setToolTip("Enhance the current photo (E)")
        self.enhance_btn.setMinimumHeight(28)
        row.addWidget(self.enhance_btn, 1)
        lay.addLayout(row)
        self.status = _hint("")
        lay.addWidget(self.status)
        self.enhance_btn.clicked.connect(self.enhance_requested)
        self.model.currentIndexChanged.connect(lambda _i: self.settings_changed.emit())
        self.device.currentIndexChanged.connect(lambda _i: self.settings_changed.emit())
        self.fast.toggled.connect(lambda _on: self.settings_changed.emit())

    # ---------------------------------------------------------------- values
    def set_models(self, models: list[tuple[str, str]], active: str | None, placeholder: str = "No model installed") -> None:
        """models: (ref 'name@version', title) pairs."""
        self.model.blockSignals(True)
        self.model.clear()
        for ref, title in models:
            self.model.addItem(title, ref)
        if not models:
            self.model.addItem(placeholder, None)
            self.model.setEnabled(False)
        else:
            self.model.setEnabled(True)
            idx = self.model.findData(active) if active else 0
            self.model.setCurrentIndex(max(0, idx))
        self.model.blockSignals(False)

    def model_ref(self) -> str | None:
        return self.model.currentData()

    def select_model(self, ref: str) -> bool:
        """Choose an installed model by its ref (as the Models menu does); False when it is not listed."""
        idx = self.model.findData(ref)
        if idx >= 0:
            self.model.setCurrentIndex(idx)
        return idx >= 0

    def mode(self) -> str:
        return "tiled" if self.tiled.isChecked() else "fast"

    def set_mode(self, mode: str) -> None:
        (self.tiled if mode == "tiled" else self.fast).setChecked(True)

    def device_pref(self) -> str:
        return self.device.currentData()

    def set_device_pref(self, pref: str) -> None:
        idx = self.device.findData(pref)
        self.device.setCurrentIndex(max(0, idx))

    def set_device_note(self, text: str) -> None:
        """The device (and inference path) actually in use, under the device choice."""
        self.device_note.setText(text)

    def set_busy(self, busy: bool) -> None:
        self.enhance_btn.setEnabled(not busy and self.model_ref() is not None)
        self.enhance_btn.setText("Enhancing\u2026" if busy else "Enhance")

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b03a2e;" if error else HINT_STYLE)


def _swatch(rgb: tuple[int, int, int], text: str) -> QWidget:
    """A colour chip with a thin dark border (light yellow must show on a light panel) and its meaning."""
    r, g, b = rgb
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(6)
    chip = QLabel()
    chip.setFixedSize(12, 12)
    chip.setStyleSheet(f"background: rgb({r},{g},{b}); border: 1px solid #555; border-radius: 2px;")
    lay.addWidget(chip)
    lay.addWidget(QLabel(text), 1)
    return w


class VesselPanel(QWidget):
    options_changed = Signal(bool, bool, bool)  # before, after, difference
    opacity_changed = Signal(float)
    compute_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        self.notice = _hint("")
        self.notice.setStyleSheet(NOTICE_STYLE)
        lay.addWidget(self.notice)
        self.before = QCheckBox("Vessels in the original")
        self.after = QCheckBox("Vessels in the enhanced photo")
        self.difference = QCheckBox("Difference (three colours)")
        self.before.setChecked(True)
        self.after.setChecked(True)
        for cb in (self.before, self.after, self.difference):
            lay.addWidget(cb)
            cb.toggled.connect(self._emit_options)
        legend = QVBoxLayout()
        legend.setContentsMargins(18, 0, 0, 0)
        legend.setSpacing(1)
        for rgb, text in (
            (COLOUR_BOTH, "found in both"),
            (COLOUR_ONLY_AFTER, "only after enhancement"),
            (COLOUR_ONLY_BEFORE, "only before (lost)"),
            (COLOUR_HALLUCINATION, "possible hallucination (box)"),
        ):
            legend.addWidget(_swatch(rgb, text))
        self.legend = QWidget()
        self.legend.setLayout(legend)
        lay.addWidget(self.legend)
        orow = QHBoxLayout()
        orow.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        orow.addWidget(self.opacity, 1)
        self.opacity_value = QLabel("60%")
        self.opacity_value.setMinimumWidth(34)
        self.opacity.valueChanged.connect(lambda v: self.opacity_value.setText(f"{v}%"))
        orow.addWidget(self.opacity_value)
        lay.addLayout(orow)
        self.compute_btn = QPushButton("Compare vessels")
        self.compute_btn.setToolTip("Find vessels in the original and the enhanced photo and compare them")
        self.compute_btn.clicked.connect(self.compute_requested)
        lay.addWidget(self.compute_btn)

        self.measure_title = QLabel("<b>Measurements</b>")
        lay.addWidget(self.measure_title)
        grid = QFormLayout()
        grid.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.density_before = QLabel("\u2014")
        self.density_after = QLabel("\u2014")
        self.dice = QLabel("\u2014")
        grid.addRow("Vessel density, original", self.density_before)
        grid.addRow("Vessel density, enhanced", self.density_after)
        grid.addRow("Agreement (Dice)", self.dice)
        for lab, tip in (
            (self.density_before, "Share of the field of view covered by vessels found in the original"),
            (self.density_after, "Share of the field of view covered by vessels found in the enhanced photo"),
            (self.dice, "Overlap of the two vessel maps: 1 = identical, 0 = nothing in common"),
        ):
            lab.setToolTip(tip)
        lay.addLayout(grid)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.hide()
        lay.addWidget(self.warning)
        lay.addStretch(1)
        self.set_available(False, "No vessel model is installed, so vessels cannot be compared yet.")

    def _emit_options(self) -> None:
        self.options_changed.emit(self.before.isChecked(), self.after.isChecked(), self.difference.isChecked())

    def set_opacity(self, opacity: float) -> None:
        self.opacity.setValue(int(round(opacity * 100)))

    def set_available(self, available: bool, reason: str = "") -> None:
        """Without a vessel model the panel says so plainly and its controls stay disabled."""
        self.notice.setText(reason)
        self.notice.setVisible(bool(reason))
        for w in (self.before, self.after, self.difference, self.opacity, self.compute_btn, self.legend):
            w.setEnabled(available)

    def clear_measurements(self) -> None:
        for lab in (self.density_before, self.density_after, self.dice):
            lab.setText("\u2014")
        self.warning.hide()

    def show_comparison(self, comparison: Any) -> None:
        db = getattr(comparison, "density_before", None)
        da = getattr(comparison, "density_after", None)
        dice = getattr(comparison, "dice", None)
        self.density_before.setText("\u2014" if db is None else f"{100 * db:.1f} %")
        self.density_after.setText("\u2014" if da is None else f"{100 * da:.1f} %")
        self.dice.setText("\u2014" if dice is None else f"{dice:.3f}")
        text = getattr(comparison, "warning", None)
        if text:
            r, g, b = COLOUR_HALLUCINATION
            self.warning.setText(f'<span style="color: rgb({r},{g},{b});">\u26a0</span> {text}')
            self.warning.setStyleSheet(
                "QLabel { background: rgba(255,176,0,40); border: 1px solid rgb(255,176,0);"
                " border-radius: 3px; padding: 4px; }"
            )
            self.warning.show()
        else:
            self.warning.hide()
