"""Export dialog: what to write and where (never over the original)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.export import FORMATS


class ExportDialog(QDialog):
    def __init__(self, folder: str, formats: list[str], vessels_available: bool, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        row = QWidget()
        rl = QHBoxLayout(row)
        rl.setContentsMargins(0, 0, 0, 0)
        self.enhanced = QCheckBox("Enhanced image")
        self.format = QComboBox()
        for key, (_s, _d, title) in FORMATS.items():
            self.format.addItem(title, key)
        rl.addWidget(self.enhanced)
        rl.addWidget(self.format)
        rl.addStretch(1)
        form.addRow(row)
        self.comparison = QCheckBox("Side-by-side comparison (PNG, marked \u201cNot for diagnostic use\u201d)")
        form.addRow(self.comparison)
        self.split = QCheckBox("Split comparison at the viewer's divider (PNG, marked \u201cNot for diagnostic use\u201d)")
        form.addRow(self.split)
        self.vessels = QCheckBox("Vessel overlay (PNG)")
        self.vessels.setEnabled(vessels_available)
        if not vessels_available:
            self.vessels.setToolTip("Compare vessels first (needs a vessel model)")
        form.addRow(self.vessels)
        frow = QWidget()
        fl = QHBoxLayout(frow)
        fl.setContentsMargins(0, 0, 0, 0)
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        fl.addWidget(self.folder, 1)
        fl.addWidget(browse)
        form.addRow("Folder", frow)
        lay.addLayout(form)
        note = QLabel("Each file gets a .json sidecar recording the input, model, device and settings. "
                      "Originals are never overwritten.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #5f5f5f;")
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        fmt = next((f for f in formats if f in FORMATS), "png")
        self.format.setCurrentIndex(max(0, self.format.findData(fmt)))
        self.enhanced.setChecked(any(f in FORMATS for f in formats) or not formats)
        self.comparison.setChecked("comparison" in formats)
        self.split.setChecked("split" in formats)
        self.vessels.setChecked(vessels_available and "vessels" in formats)
        self.resize(520, 220)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def choices(self) -> list[str]:
        out = []
        if self.enhanced.isChecked():
            out.append(self.format.currentData())
        if self.comparison.isChecked():
            out.append("comparison")
        if self.split.isChecked():
            out.append("split")
        if self.vessels.isChecked() and self.vessels.isEnabled():
            out.append("vessels")
        return out
