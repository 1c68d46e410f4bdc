"""GUI export: the dialog, then core.export for the current photo; errors shown, not raised.

The pictures themselves (comparisons, the vessel overlay, the burned-in notes) are drawn by
core.export, so the window writes exactly what `fundus-studio enhance --comparison` and
the batch write. The split comparison divides the photo where the viewer's divider is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMessageBox

from app.dialogs.export_dialog import ExportDialog
from app.session import Session
from core.export import FORMATS, export_comparison, export_enhanced, export_vessel_overlay

if TYPE_CHECKING:
    from app.main_window import MainWindow


class Exporter:
    """Writes the chosen outputs of the photo shown. interactive=False: failures go to the status
    bar and the session's error only, never a modal message box (tests, scripted screenshots)."""

    def __init__(self, window: MainWindow, session: Session, interactive: bool = True) -> None:
        self.w, self.session, self.interactive = window, session, interactive

    def export_dialog(self) -> None:
        s, settings = self.session, self.w.settings
        if not s.can_export:
            self.w.statusBar().showMessage("Enhance a photo before exporting.", 5000)
            return
        dlg = ExportDialog(settings.output_dir, settings.export_formats, s.vessel_payload is not None, self.w)
        if dlg.exec() != ExportDialog.DialogCode.Accepted:
            return
        settings.output_dir = dlg.folder.text()
        settings.export_formats = dlg.choices()
        self.w.settings_changed()
        written = self.export(dlg.choices(), dlg.folder.text())
        if written:
            self.w.statusBar().showMessage(f"Saved {len(written)} file(s) to {dlg.folder.text()}", 8000)

    def split_fraction(self) -> float:
        """Where the viewer's split divider crosses the photo, as a fraction of its width."""
        state = self.w.viewer.state
        x0, _y0, vw, _vh = state.visible_rect()
        width = max(1, state.image_w)
        return min(1.0, max(0.0, (x0 + state.divider * vw) / width))

    def export(self, choices: list[str], folder: str | Path) -> list[Any]:
        """Write the chosen outputs ("png", "tiff16", "jpeg", "comparison", "split", "vessels")."""
        s = self.session
        if not s.can_export:
            return []
        written = []
        try:
            for choice in choices:
                if choice in FORMATS:
                    written.append(export_enhanced(s.image, s.result, folder, choice))
                elif choice == "comparison":
                    written.append(export_comparison(s.image, s.result, folder))
                elif choice == "split":
                    written.append(export_comparison(s.image, s.result, folder, layout="split",
                                                     divider=self.split_fraction()))
                elif choice == "vessels" and s.vessel_payload is not None:
                    written.append(export_vessel_overlay(s.image, s.result, s.vessel_payload, folder,
                                                         self.w.viewer.opacity))
        except Exception as exc:  # noqa: BLE001 - FundusError or OS errors: tell the user
            s.fail(str(exc))
            if self.interactive and self.w.isVisible():
                QMessageBox.warning(self.w, "Export failed", str(exc))
        return written
