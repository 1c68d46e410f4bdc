"""The window's commands: every QAction, its shortcut and tip, and what it runs.

The menus and the toolbar (app.main_window) only place these actions; Help > Shortcuts
(app.dialogs.shortcuts) lists the same keys. The view-mode actions are handled here, since
they only keep the viewer and their own checked state in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QStyle

from app.icons import actual_size_icon, fit_icon, mode_icon
from app.viewer.compare import MODE_TITLES, MODES

if TYPE_CHECKING:
    from app.engine_wiring import EngineWiring
    from app.export import Exporter
    from app.main_window import MainWindow
    from app.opening import Opening
    from app.tool_windows import ToolWindows

SP = QStyle.StandardPixmap


class Actions:
    """All QActions of the main window (added to it, so their shortcuts work anywhere in it)."""

    def __init__(self, window: MainWindow, opening: Opening, engine: EngineWiring, tools: ToolWindows,
                 exporter: Exporter) -> None:
        self.w = window
        viewer = window.viewer
        act = self._act
        self.open = act("&Open photos\u2026", opening.open_dialog, QKeySequence.StandardKey.Open,
                        "Open fundus photographs (Ctrl+O)", icon=SP.SP_DialogOpenButton)
        self.folder = act("Open &folder\u2026", opening.open_folder_dialog, "Ctrl+Shift+O",
                          "Open every photo in a folder (Ctrl+Shift+O)", icon=SP.SP_DirOpenIcon)
        self.samples = act("Open &sample photos", opening.open_samples, None, "The bundled sample photographs")
        self.export = act("&Export\u2026", exporter.export_dialog, "Ctrl+E",
                          "Export the enhanced image, a comparison and the vessel overlay (Ctrl+E)",
                          icon=SP.SP_DialogSaveButton)
        self.quit = act("&Quit", window.close, QKeySequence.StandardKey.Quit)
        self.mode_group = QActionGroup(window)
        self.modes: dict[str, QAction] = {}
        for i, mode in enumerate(MODES):
            a = act(MODE_TITLES[mode], lambda _c=False, m=mode: self.set_mode(m), str(i + 1),
                    f"{MODE_TITLES[mode]} ({i + 1})", checkable=True)
            a.setIcon(mode_icon(mode))
            self.mode_group.addAction(a)
            self.modes[mode] = a
        self.fit = act("Zoom to &fit", viewer.state.fit, ["F", "Ctrl+0"], "Zoom to fit (F)")
        self.one = act("&Actual pixels (1:1)",
                       lambda: viewer.state.actual_pixels(device_pixel_ratio=window.devicePixelRatioF()),
                       "Ctrl+1", "One image pixel per screen pixel (Ctrl+1)")
        self.fit.setIcon(fit_icon())
        self.one.setIcon(actual_size_icon())
        self.fit.setIconText("Fit")
        self.one.setIconText("1:1")
        self.zoom_in = act("Zoom &in", lambda: viewer.state.zoom_by(1.25), ["+", "="], "Zoom in (+)")
        self.zoom_out = act("Zoom &out", lambda: viewer.state.zoom_by(0.8), "-", "Zoom out (\u2212)")
        self.auto_flicker = act("Auto flicker", self._toggle_auto_flicker, None,
                                "Alternate original and enhanced automatically", checkable=True)
        self.overlays = act("&Vessel overlays", lambda: viewer.set_overlays_on(self.overlays.isChecked()), "V",
                            "Vessel overlays on/off (V)", checkable=True)
        self.overlays.setChecked(True)
        self.prev = act("&Previous photo", lambda: opening.step(-1), "PgUp")
        self.next = act("&Next photo", lambda: opening.step(1), "PgDown")
        self.enhance = act("&Enhance", engine.enhance_current, "E", "Enhance the current photo (E)",
                           icon=SP.SP_MediaPlay)
        self.cancel = act("&Cancel", engine.cancel, "Esc", "Cancel the running enhancement (Esc)")
        self.vessels = act("Compare &vessels", engine.compare_vessels, None,
                           "Find and compare vessels before and after")
        self.models_refresh = act("&Refresh model list", engine.refresh_models)
        self.models = act("&Manage models\u2026", tools.show_models, None,
                          "Installed models and their cards; set active, roll back, import, export")
        self.adapt = act("&Adapt to this site\u2026", tools.show_adapt_wizard, None,
                         "Adapt the model to this site's camera with unlabelled photos")
        self.optimise = act("&Optimise for this computer\u2026", tools.show_optimise, None,
                            "Compile the model for this computer's processor once (needs a C++ compiler)")
        self.batch = act("&Batch panel", tools.show_batch, "Ctrl+B", "Enhance whole folders in the background (Ctrl+B)")
        self.shortcuts = act("&Keyboard shortcuts", tools.show_shortcuts, "F1")
        self.about = act("&About Fundus Studio", tools.show_about)

    def _act(self, text: str, slot: Callable[..., Any], shortcut: Any = None, tip: str = "",
             checkable: bool = False, icon: QStyle.StandardPixmap | None = None) -> QAction:
        a = QAction(text, self.w)
        if icon is not None:
            a.setIcon(self.w.style().standardIcon(icon))
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.w.addAction(a)
        return a

    # ------------------------------------------------------------------ view modes
    def set_mode(self, mode: str) -> None:
        """Single, split, side by side or flicker: the viewer, the checked action and the settings."""
        self.w.viewer.set_mode(mode)
        self.modes[mode].setChecked(True)
        self.auto_flicker.setEnabled(mode == "flicker")
        if mode != "flicker" and self.auto_flicker.isChecked():
            self.auto_flicker.setChecked(False)
        self.w.settings.compare_mode = mode
        self.w.settings_changed()

    def _toggle_auto_flicker(self) -> None:
        if self.w.viewer.mode != "flicker":
            self.set_mode("flicker")
        self.w.viewer.set_auto_flicker(self.auto_flicker.isChecked())
