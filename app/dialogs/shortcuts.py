"""Help > Shortcuts: every key the window answers to (UI.md), in one table."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout

SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+O", "Open photos"),
    ("Ctrl+Shift+O", "Open a folder"),
    ("E", "Enhance the current photo"),
    ("Esc", "Cancel the running enhancement"),
    ("1", "Single view"),
    ("2", "Split view (drag the divider)"),
    ("3", "Side by side (linked zoom and pan)"),
    ("4", "Flicker"),
    ("Space (hold)", "Show the original"),
    ("F / Ctrl+0", "Zoom to fit"),
    ("Ctrl+1", "Actual pixels (1:1)"),
    ("+ / \u2212, mouse wheel", "Zoom about the cursor"),
    ("Drag, middle drag", "Pan"),
    ("Double-click", "Zoom to fit"),
    ("V", "Vessel overlays on/off"),
    ("PgUp / PgDn", "Previous / next photo"),
    ("Ctrl+E", "Export"),
    ("Ctrl+B", "Batch panel"),
    ("F1", "This list"),
]


class ShortcutsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        lay = QVBoxLayout(self)
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setHorizontalHeaderLabels(["Key", "Action"])
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(max(22, self.fontMetrics().height() + 8))
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for r, (key, action) in enumerate(SHORTCUTS):
            table.setItem(r, 0, QTableWidgetItem(key))
            table.setItem(r, 1, QTableWidgetItem(action))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setAlternatingRowColors(True)
        lay.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        rows = table.verticalHeader().defaultSectionSize() * len(SHORTCUTS)
        self.resize(480, rows + table.horizontalHeader().sizeHint().height() + 80)
        self.table = table
