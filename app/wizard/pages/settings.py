"""Step 3, settings: time budget, device and name; advanced options folded away."""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWizard,
)

from app.wizard.pages.base import BUDGET_MINUTES, Page, fmt_minutes, model_name, note


class SettingsPage(Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Settings")
        self.setSubTitle("How long to train, on which device, and the name of the new model.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        brow = QHBoxLayout()
        self.budget = QSlider(Qt.Orientation.Horizontal)
        self.budget.setRange(0, len(BUDGET_MINUTES) - 1)
        self.budget.setValue(BUDGET_MINUTES.index(20))
        self.budget.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.budget_label = QLabel()
        self.budget_label.setMinimumWidth(90)
        self.budget.valueChanged.connect(self._budget_changed)
        lo, hi = QLabel(fmt_minutes(BUDGET_MINUTES[0])), QLabel(fmt_minutes(BUDGET_MINUTES[-1]))
        lo.setStyleSheet("color: #666;")
        hi.setStyleSheet("color: #666;")
        brow.addWidget(lo)
        brow.addWidget(self.budget, 1)
        brow.addWidget(hi)
        brow.addSpacing(12)
        self.budget_label.setStyleSheet("font-weight: 600;")
        brow.addWidget(self.budget_label)
        form.addRow("Training time:", brow)
        self.device = QComboBox()
        self.device.addItem("Automatic", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.addItem("CUDA GPU", "cuda")
        self.device.currentIndexChanged.connect(self._device_changed)
        form.addRow("Device:", self.device)
        self.name = QLineEdit()
        self.name.textChanged.connect(self.completeChanged)
        form.addRow("Name of the new model:", self.name)
        lay.addLayout(form)
        self.device_note = note("", "warn")
        lay.addWidget(self.device_note)
        self.toggle = QToolButton()
        self.toggle.setText("Advanced options")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setStyleSheet("QToolButton { border: none; font-weight: 600; background: transparent; }"
                                  "QToolButton:checked { background: transparent; color: palette(text); }")
        self.toggle.toggled.connect(self._toggle_advanced)
        lay.addWidget(self.toggle)
        self.advanced = QGroupBox()
        adv = QFormLayout(self.advanced)
        adv.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.holdout = QSpinBox()
        self.holdout.setRange(1, 500)
        self.holdout.setToolTip("Photographs kept out of training and used only to check the result.")
        adv.addRow("Photographs held out for checking:", self.holdout)
        self.best = QSpinBox()
        self.best.setRange(10, 100)
        self.best.setSuffix(" %")
        self.best.setValue(50)
        self.best.setToolTip("Share of the training photographs, best first, that are degraded into training pairs.")
        adv.addRow("Best photographs used as pairs:", self.best)
        self.anchor = QDoubleSpinBox()
        self.anchor.setRange(0.0, 5.0)
        self.anchor.setSingleStep(0.1)
        self.anchor.setValue(0.5)
        self.anchor.setToolTip("How strongly the new model is held close to the starting model (0 = not at all).")
        adv.addRow("Anchor to the starting model:", self.anchor)
        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setSpecialValueText("no limit (time only)")
        self.steps.setToolTip("Stop after this many training steps even if time is left.")
        adv.addRow("Step limit:", self.steps)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 0.01)
        self.lr.setSingleStep(0.0001)
        self.lr.setValue(0.0002)
        adv.addRow("Learning rate:", self.lr)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        adv.addRow("Random seed:", self.seed)
        for wdg in (self.holdout, self.best, self.anchor, self.steps, self.lr, self.seed):
            wdg.setMinimumWidth(170)
        self.advanced.setVisible(False)
        lay.addWidget(self.advanced)
        lay.addStretch(1)
        self._budget_changed(self.budget.value())

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _budget_changed(self, i: int) -> None:
        self.budget_label.setText(fmt_minutes(BUDGET_MINUTES[i]))

    def minutes(self) -> int:
        return BUDGET_MINUTES[self.budget.value()]

    def set_minutes(self, minutes: int) -> None:
        self.budget.setValue(min(range(len(BUDGET_MINUTES)), key=lambda k: abs(BUDGET_MINUTES[k] - minutes)))

    def _device_changed(self) -> None:
        from core.device import choose_device  # noqa: PLC0415

        dc = choose_device(self.device.currentData())
        if dc.device == "cpu":
            self.device_note.setText(
                f"<b>No GPU will be used</b> ({html.escape(dc.reason)}): training runs on the CPU "
                f"({os.cpu_count()} cores). It works, but slowly; give it more time for a better result, "
                "and keep the computer switched on.")
            self.device_note.setVisible(True)
        else:
            self.device_note.setVisible(False)

    def initializePage(self) -> None:  # noqa: N802
        st = self.state
        n = len(st.scan.usable) if st.scan else 0
        from core.training.site_adapt import MIN_TRAIN_IMAGES, holdout_count  # noqa: PLC0415

        self.holdout.setMaximum(max(1, n - MIN_TRAIN_IMAGES))
        self.holdout.setValue(min(holdout_count(n), max(1, n - MIN_TRAIN_IMAGES)))  # the CLI's rule
        if not self.name.text() and st.start_model is not None:
            folder = Path(st.scan.folder).name if st.scan else "site"
            self.name.setText(model_name(f"{st.start_model.card.name}-{folder}"))
        self._device_changed()

    def isComplete(self) -> bool:  # noqa: N802
        from core.models.registry import _NAME_RE  # noqa: PLC0415

        return bool(_NAME_RE.match(self.name.text().strip()))

    def settings(self):
        from core.training.site_adapt import AdaptSettings  # noqa: PLC0415

        values = dict(
            minutes=float(self.minutes()),
            steps=self.steps.value() or None,
            holdout=self.holdout.value(),
            best_fraction=self.best.value() / 100.0,
            anchor_weight=self.anchor.value(),
            device=self.device.currentData(),
            lr=self.lr.value(),
            min_lr=self.lr.value() / 10.0,
            seed=self.seed.value(),
        )
        values.update(self.state.overrides)
        return AdaptSettings(**values)

    def validatePage(self) -> bool:  # noqa: N802
        from core.errors import FundusError  # noqa: PLC0415
        from core.training.site_adapt import SiteAdaptation  # noqa: PLC0415

        st = self.state
        try:
            st.adaptation = SiteAdaptation.create(st.scan, self.settings(), run_dir=st.new_run_dir(),
                                                  start=st.start_model, registry=st.registry)
        except (FundusError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot start", str(exc))
            return False
        st.model_name = self.name.text().strip()
        return True
