"""The main window: docks, menus, toolbar and status bar around the compare viewer.

What it shows lives in app.session (Qt-free); the pieces that keep it moving have
modules of their own: app.actions (every command and shortcut), app.opening (files into
the image list), app.engine_wiring (engine and loaders -> session), app.result_view
(session -> viewer and panels), app.export (the export dialog over core.export) and
app.tool_windows (batch, models, wizard, help). Data path of one photo: file ->
LoaderClient -> session -> viewer; Enhance -> EngineClient -> session's cache -> viewer ->
vessels -> overlays and measurements -> export.
"""

from __future__ import annotations

import base64
import functools
import time
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QLineEdit, QMainWindow, QScrollArea, QTextEdit,
                               QToolBar, QWidget)

from app.actions import Actions
from app.engine_wiring import EngineWiring
from app.export import Exporter
from app.image_list import ImageList
from app.opening import Opening
from app.panels import EnhancePanel, VesselPanel
from app.result_view import ResultView
from app.session import Session
from app.settings import Settings
from app.style import DISCLAIMER_STYLE, mono_font
from app.tool_windows import ToolWindows
from app.viewer.compare import CompareViewer
from app.viewer.levels_panel import LevelsPanel
from app.what_changed_panel import WhatChangedPanel
from app.workers import EngineClient, LoaderClient, default_enhancer_factory, default_segmenter_factory
from core import DISCLAIMER

CLOSE_BUDGET_S = 1.5
"""Closing waits at most this long for the worker threads; slower ones end in the background (app.tasks)."""


def _b64(data: QByteArray) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text: str) -> QByteArray:
    try:
        return QByteArray(base64.b64decode(text.encode("ascii")))
    except (ValueError, TypeError):
        return QByteArray()


class MainWindow(QMainWindow):
    """interactive=False: failures are never shown in modal message boxes (tests, scripted screenshots)."""

    def __init__(
        self,
        settings: Settings | None = None,
        enhancer_factory: Callable[[str | None, str], Any] = default_enhancer_factory,
        segmenter_factory: Callable[[str], Any] = default_segmenter_factory,
        registry: Any = None,
        interactive: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        self.setWindowTitle(f"Fundus Studio \u2014 {DISCLAIMER}")
        self.setAcceptDrops(True)
        self.resize(1500, 940)
        self.viewer = CompareViewer()
        self.setCentralWidget(self.viewer)
        if registry is not None:  # one registry for listing, loading and vessels (tests isolate it)
            if enhancer_factory is default_enhancer_factory:
                enhancer_factory = functools.partial(default_enhancer_factory, registry=registry)
            if segmenter_factory is default_segmenter_factory:
                segmenter_factory = functools.partial(default_segmenter_factory, registry=registry)
        self.engine = EngineClient(enhancer_factory, segmenter_factory, parent=self)
        self.loader = LoaderClient(parent=self)  # full photos, one at a time
        self.thumbs = LoaderClient(parent=self)  # thumbnails, so a big folder never delays the photo shown
        self.session = Session()
        self._save_timer = QTimer(self, singleShot=True, interval=800)
        self._save_timer.timeout.connect(self.save_settings)  # settings survive a crash, not only a clean exit

        self._build_docks()
        self.engine_wiring = EngineWiring(self, self.session, self.engine, self.loader, self.thumbs,
                                          enhancer_factory, registry)
        self.opening = Opening(self, self.session, self.loader, self.thumbs)
        self.tools = ToolWindows(self, self.session, self.engine_wiring)
        self.exporter = Exporter(self, self.session, interactive)
        self.acts = Actions(self, self.opening, self.engine_wiring, self.tools, self.exporter)
        self._build_menus()
        self._build_toolbar()
        self._build_status()
        self.result_view = ResultView(self, self.session)
        self._connect()
        self._apply_settings()
        self.engine_wiring.refresh_models()
        QApplication.instance().installEventFilter(self)

    # ================================================================ docks
    def add_dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea,
                 scroll: bool = False) -> QDockWidget:
        """A closable, movable dock (its place is remembered with the window state)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:
            sa = QScrollArea()
            sa.setWidgetResizable(True)
            sa.setFrameShape(QScrollArea.Shape.NoFrame)
            sa.setWidget(widget)
            widget = sa
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.image_list = ImageList()
        self.enhance_panel = EnhancePanel()
        self.vessel_panel = VesselPanel()
        self.levels_panel = LevelsPanel()
        self.levels_panel.setMinimumHeight(self.levels_panel.minimumSizeHint().height())
        self.what_changed_panel = WhatChangedPanel()
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.images_dock = self.add_dock("Images", "imagesDock", self.image_list, left)
        self.enhance_dock = self.add_dock("Enhancement", "enhanceDock", self.enhance_panel, right, scroll=True)
        self.vessel_dock = self.add_dock("Vessels", "vesselDock", self.vessel_panel, right, scroll=True)
        self.levels_dock = self.add_dock("Display levels", "levelsDock", self.levels_panel, right)
        self.what_changed_dock = self.add_dock("What changed", "whatChangedDock", self.what_changed_panel, right,
                                               scroll=True)
        self.tabifyDockWidget(self.levels_dock, self.what_changed_dock)
        self.levels_dock.raise_()
        self.resizeDocks([self.images_dock], [250], Qt.Orientation.Horizontal)
        self.resizeDocks([self.enhance_dock], [300], Qt.Orientation.Horizontal)

    # ================================================================ menus and toolbar
    def _build_menus(self) -> None:
        a, mb = self.acts, self.menuBar()
        m = mb.addMenu("&File")
        for act in (a.open, a.folder, a.samples):
            m.addAction(act)
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        m.addAction(a.export)
        m.addSeparator()
        m.addAction(a.quit)
        m = mb.addMenu("&View")
        for act in (*a.modes.values(), a.auto_flicker, None, a.fit, a.one, a.zoom_in, a.zoom_out, None,
                    a.overlays, None, a.prev, a.next, None):
            m.addAction(act) if act is not None else m.addSeparator()
        panels = m.addMenu("Panels")
        for dock in (self.images_dock, self.enhance_dock, self.vessel_dock, self.levels_dock, self.what_changed_dock):
            panels.addAction(dock.toggleViewAction())
        m = mb.addMenu("&Enhance")
        for act in (a.enhance, a.cancel, a.vessels):
            m.addAction(act)
        mb.addMenu("&Batch").addAction(a.batch)
        self.models_menu = mb.addMenu("&Models")
        m = mb.addMenu("&Help")
        m.addAction(a.shortcuts)
        m.addAction(a.about)

    def _rebuild_models_menu(self) -> None:
        """Models menu: the installed enhancement models (the checked one is used), then tools."""
        menu, s = self.models_menu, self.session
        menu.clear()
        group = QActionGroup(menu)
        for ref, title in s.models:
            act = menu.addAction(title)
            act.setData(ref)
            act.setCheckable(True)
            act.setChecked(ref == s.model_ref)
            group.addAction(act)
            act.triggered.connect(lambda _c=False, r=ref: self.enhance_panel.select_model(r))
        if not s.models:
            menu.addAction("No enhancement model installed").setEnabled(False)
        menu.addSeparator()
        for act in (self.acts.models, self.acts.adapt, self.acts.optimise, self.acts.models_refresh):
            menu.addAction(act)

    def _check_chosen_model(self) -> None:
        for act in self.models_menu.actions():
            if act.isCheckable():
                act.setChecked(act.data() == self.session.model_ref)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        a = self.acts
        for act in (a.open, a.folder, None, *a.modes.values(), None, a.fit, a.one, None, a.enhance, a.export):
            tb.addAction(act) if act is not None else tb.addSeparator()
        self.toolbar = tb

    # ================================================================ status bar
    def _build_status(self) -> None:
        sb = self.statusBar()
        self.readout = QLabel("")
        self.readout.setFont(mono_font())
        self.readout.setMinimumWidth(520)
        self.zoom_label = QLabel("")
        self.device_label = QLabel("Device: \u2014")
        self.model_label = QLabel("Model: \u2014")
        self.disclaimer = QLabel(DISCLAIMER)
        self.disclaimer.setStyleSheet(DISCLAIMER_STYLE)
        sb.addWidget(self.readout, 1)
        for w in (self.zoom_label, self.device_label, self.model_label, self.disclaimer):
            sb.addPermanentWidget(w)

    def _update_zoom_label(self) -> None:
        self.zoom_label.setText(f"{self.viewer.state.zoom * self.devicePixelRatioF() * 100:.0f}%")

    # ================================================================ panels and settings
    def _connect(self) -> None:
        v, s = self.viewer, self.session
        v.state.changed.connect(self._update_zoom_label)
        v.progress.cancel_requested.connect(self.engine_wiring.cancel)
        self.enhance_panel.enhance_requested.connect(self.engine_wiring.enhance_current)
        self.enhance_panel.settings_changed.connect(self._panel_choice)
        self.vessel_panel.options_changed.connect(v.set_overlay_options)
        self.vessel_panel.opacity_changed.connect(self._opacity_changed)
        self.vessel_panel.compute_requested.connect(self.engine_wiring.compare_vessels)
        self.levels_panel.levels_changed.connect(v.set_levels)
        s.models_changed.connect(self._rebuild_models_menu)
        s.choice_changed.connect(self._choice_changed)

    def _panel_choice(self) -> None:
        p = self.enhance_panel
        self.session.set_choice(p.model_ref(), p.mode(), p.device_pref())

    def _choice_changed(self) -> None:
        self.settings.mode, self.settings.device = self.session.mode, self.session.device
        self._check_chosen_model()
        self.settings_changed()

    def _opacity_changed(self, opacity: float) -> None:
        self.viewer.set_opacity(opacity)
        self.settings.overlay_opacity = opacity
        self.settings_changed()

    def settings_changed(self) -> None:
        """Save the settings soon (they survive a crash, not only a clean exit)."""
        self._save_timer.start()

    def _apply_settings(self) -> None:
        s = self.settings
        self.enhance_panel.blockSignals(True)
        self.enhance_panel.set_mode(s.mode)
        self.enhance_panel.set_device_pref(s.device)
        self.enhance_panel.blockSignals(False)
        self.session.set_choice(mode=self.enhance_panel.mode(), device=self.enhance_panel.device_pref())
        self.vessel_panel.set_opacity(s.overlay_opacity)
        self.viewer.set_opacity(s.overlay_opacity)
        self.acts.set_mode(s.compare_mode)
        if not (s.window_geometry and self.restoreGeometry(_unb64(s.window_geometry))):
            self._default_geometry()
        if s.window_state:
            self.restoreState(_unb64(s.window_state))
        self.opening.rebuild_recent()

    def _default_geometry(self) -> None:
        """First start: most of the screen, centred (never larger than the screen)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        avail = screen.availableGeometry()
        w = min(1600, int(avail.width() * 0.94))
        h = min(1000, int(avail.height() * 0.94))
        self.resize(w, h)
        self.move(avail.x() + (avail.width() - w) // 2, avail.y() + (avail.height() - h) // 2)

    def save_settings(self) -> None:
        s = self.settings
        s.mode, s.device = self.session.mode, self.session.device
        s.compare_mode = self.viewer.mode
        s.window_geometry = _b64(self.saveGeometry())
        s.window_state = _b64(self.saveState())
        try:
            s.save()
        except OSError as exc:
            self.statusBar().showMessage(f"Settings could not be saved: {exc}", 8000)

    # ================================================================ keys, drops, closing
    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        """Hold Space anywhere in this window (outside text fields) to see the original."""
        t = ev.type()
        if t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and ev.key() == Qt.Key.Key_Space:
            focus = QApplication.focusWidget()
            if isinstance(focus, (QLineEdit, QTextEdit)) or not self.isActiveWindow() and obj is not self:
                return False
            if ev.isAutoRepeat():
                return True
            self.viewer.set_space_held(t == QEvent.Type.KeyPress)
            return True
        if t == QEvent.Type.WindowDeactivate and obj is self:
            self.viewer.set_space_held(False)
        return False

    def dragEnterEvent(self, ev) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dragMoveEvent(self, ev) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.opening.open_paths(paths)
            ev.acceptProposedAction()

    def shutdown(self) -> None:
        """Stop worker threads (cancelling running work) and save settings; safe to call twice.

        Every worker is asked to stop first, so they stop side by side; then each is waited
        for from what is left of CLOSE_BUDGET_S. One still busy (a network run on a saturated
        computer) ends in the background within seconds, kept alive by app.tasks.
        """
        if getattr(self, "_shut", False):
            return
        self._shut = True
        deadline = time.monotonic() + CLOSE_BUDGET_S
        self.save_settings()
        QApplication.instance().removeEventFilter(self)
        workers: list[Any] = [self.engine, self.loader, self.thumbs, *self.tools.workers()]
        for w in workers:
            w.stop()
        for w in workers:
            w.shutdown(int(max(0.0, deadline - time.monotonic()) * 1000))

    def closeEvent(self, ev) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(ev)
