"""The windows opened from the menus: batch panel, model manager, adaptation wizard, optimiser, help.

Each is made on first use (the batch queue and the wizard's threads start only when asked)
and kept, so asking again brings the same one forward; shutdown stops the ones that run work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMessageBox

from app.dialogs.about import AboutDialog
from app.dialogs.shortcuts import ShortcutsDialog
from app.session import Session

if TYPE_CHECKING:
    from app.engine_wiring import EngineWiring
    from app.main_window import MainWindow


class ToolWindows:
    """Opens and keeps the tool windows; the batch follows the window's model, mode and device."""

    def __init__(self, window: MainWindow, session: Session, engine: EngineWiring) -> None:
        self.w, self.session, self.engine = window, session, engine
        self.batch_panel: Any = None
        self.batch_dock: QDockWidget | None = None
        self.adapt_wizard: Any = None
        session.choice_changed.connect(self._choice_changed)
        session.engine_choice_changed.connect(self._engine_choice_changed)

    def _choice_changed(self) -> None:
        if self.batch_panel is not None:
            self.batch_panel.set_mode(self.session.mode)

    def _engine_choice_changed(self) -> None:
        if self.batch_panel is not None:
            self.batch_panel.model_changed()

    def show_batch(self) -> None:
        """The batch panel (app.batch), created on first use as a bottom dock."""
        if self.batch_dock is None:
            from app.batch import BatchPanel  # noqa: PLC0415 - its queue and thread start only when asked

            self.batch_panel = BatchPanel(enhancer_factory=self.engine.batch_enhancer,
                                          measurer_factory=self.engine.batch_measurer, mode=self.session.mode)
            self.batch_panel.open_in_viewer.connect(lambda path: self.w.opening.open_paths([path]))
            self.batch_dock = self.w.add_dock("Batch", "batchDock", self.batch_panel,
                                              Qt.DockWidgetArea.BottomDockWidgetArea)
        self.batch_dock.show()
        self.batch_dock.raise_()

    def show_models(self, modal: bool = True) -> Any:
        """The model manager (app.models_dialog); the model list follows its changes."""
        try:
            from app.models_dialog import ModelsDialog  # noqa: PLC0415
        except ImportError as exc:
            self.session.fail(f"The model manager is not available in this installation ({exc}).")
            return None
        dlg = ModelsDialog(self.w, registry=self.engine.registry())
        dlg.models_changed.connect(self.engine.refresh_models)
        if modal:
            dlg.exec()
        else:
            dlg.show()
        return dlg

    def show_adapt_wizard(self) -> None:
        """The site adaptation wizard (app.wizard), non-modal; the model list refreshes after it."""
        if self.adapt_wizard is not None and self.adapt_wizard.isVisible():
            self.adapt_wizard.raise_()
            return
        try:
            from app.wizard import open_adapt_wizard  # noqa: PLC0415
        except ImportError as exc:
            self.session.fail(f"The site adaptation wizard is not available in this installation ({exc}).")
            return
        self.adapt_wizard = open_adapt_wizard(self.w)
        self.adapt_wizard.finished.connect(lambda _r: self.engine.refresh_models())

    def show_optimise(self) -> None:
        """Compile the active model for this computer in a child process, then choose the path again."""
        from core.inference.aot import why_cannot_build  # noqa: PLC0415 - probes the compiler only when asked

        why = why_cannot_build()
        if why:
            QMessageBox.information(
                self.w, "Optimise for this computer",
                f"The model cannot be compiled here: {why}. Fundus Studio already uses the fastest way "
                "to run it that needs no compiler.")
            return
        from app.dialogs.optimise_dialog import OptimiseDialog  # noqa: PLC0415

        dialog = OptimiseDialog(self.session.model_ref, self.w)
        dialog.succeeded.connect(self.w.engine.reselect_inference)
        dialog.start()
        dialog.exec()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.w).exec()

    def show_about(self) -> None:
        card = None
        try:
            ref = self.session.model_ref
            if ref:
                name, _, version = ref.partition("@")
                card = self.engine.registry().get(name, version or None).card
        except Exception:  # noqa: BLE001 - the About box opens without a card rather than not at all
            card = None
        AboutDialog(card, self.session.model_info.get("device_label", ""), self.w).exec()

    def workers(self) -> list[Any]:
        """The open tool windows that run work on threads (for shutdown)."""
        return [t for t in (self.batch_panel, self.adapt_wizard) if t is not None]
