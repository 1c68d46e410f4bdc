"""Step 6, save: version name, notes, and "make active" (off when any measure got worse)."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
)

from app.wizard.pages.base import Page, note


class SavePage(Page):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Save the new model")
        self.setSubTitle("The model is saved as a new version; the starting model stays installed.")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit()
        self.version = QLineEdit()
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("For example: camera model, clinic, who ran the adaptation, why.")
        self.notes.setFixedHeight(90)
        form.addRow("Model name:", self.name)
        form.addRow("Version:", self.version)
        form.addRow("Notes:", self.notes)
        lay.addLayout(form)
        self.activate = QCheckBox("Make it the active model (used for enhancing from now on)")
        lay.addWidget(self.activate)
        self.warning = note("", "warn")
        self.warning.setVisible(False)
        lay.addWidget(self.warning)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        lay.addStretch(1)
        self.name.textChanged.connect(self.completeChanged)
        self.version.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:  # noqa: N802
        from core.training.site_adapt import next_free_version  # noqa: PLC0415

        st = self.state
        name = st.model_name or f"{st.adaptation.start_model.card.name}-site"
        self.name.setText(name)
        self.version.setText(next_free_version(st.registry, name))
        ev = st.evaluation
        worse = ev is not None and ev.needs_confirmation
        self.activate.setChecked(not worse)
        if worse:
            bad = ", ".join(m.label.lower() for m in ev.measures if m.verdict == "worse")
            self.warning.setText(f"<b>Got worse:</b> {html.escape(bad)}. The model will be saved with this flag "
                                 "in its model card. \u201cMake it active\u201d is off; if you switch it on you "
                                 "will be asked to confirm.")
            self.warning.setVisible(True)
        plan = st.adaptation.plan
        self.summary.setText(
            f"Adapted from {html.escape(st.adaptation.start_model.ref)} on {len(plan.train)} photographs of "
            f"\u201c{html.escape(Path(st.adaptation.scan.folder).name)}\u201d ({len(plan.holdout)} held out). "
            "The model card records the data summary, the date, the measures and the parent model.")

    def isComplete(self) -> bool:  # noqa: N802
        from core.models.registry import _NAME_RE  # noqa: PLC0415

        return bool(_NAME_RE.match(self.name.text().strip())) and bool(_NAME_RE.match(self.version.text().strip()))

    def confirm_worse(self) -> bool:
        """Explicit confirmation before a model that got worse becomes active (replaced in tests)."""
        answer = QMessageBox.warning(
            self, "Activate a model that got worse?",
            "On the held-out photographs this model was worse than the starting model on at least one measure.\n\n"
            "Make it the active model anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def validatePage(self) -> bool:  # noqa: N802
        from core.errors import FundusError  # noqa: PLC0415

        st = self.state
        ev = st.evaluation
        activate = self.activate.isChecked()
        allow_worse = False
        if activate and ev is not None and ev.needs_confirmation:
            allow_worse = self.confirm_worse()
            activate = allow_worse
        try:
            st.installed, st.activated = st.adaptation.install(
                self.name.text().strip(), self.version.text().strip(), notes=self.notes.toPlainText().strip(),
                evaluation=ev, activate=activate, allow_worse=allow_worse)
        except FundusError as exc:
            QMessageBox.warning(self, "Cannot save the model", str(exc))
            return False
        return True
