"""The main window: image list, compare viewer, side panels, status bar; wires core to the views.

Data path of one photo: file -> LoaderClient (core.imaging.read, off the GUI thread) ->
CompareViewer (original) -> EngineClient (Enhancer on the engine thread) -> result cache ->
CompareViewer (enhanced) -> EngineClient (vessels) -> overlays and measurements -> export.
"""

from __future__ import annotations

import base64
import functools
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStyle,
    QTextEdit,
    QToolBar,
    QWidget,
)

from app.dialogs.about import AboutDialog
from app.dialogs.export_dialog import ExportDialog
from app.dialogs.shortcuts import ShortcutsDialog
from app.export import export_comparison, export_enhanced, export_vessel_overlay, model_title
from app.icons import actual_size_icon, fit_icon, mode_icon
from app.image_list import ImageEntry, ImageList
from app.panels import EnhancePanel, VesselPanel
from app.settings import Settings
from app.style import DISCLAIMER_STYLE, mono_font
from app.viewer.compare import MODE_TITLES, MODES, CompareViewer
from app.viewer.levels import channel_histograms
from app.viewer.levels_panel import LevelsPanel
from app.viewer.overlays import difference_layer, premultiplied_bgra, vessel_layer, warning_boxes
from app.what_changed_panel import WhatChangedPanel
from core.what_changed import KINDS as WHAT_CHANGED_KINDS
from core.what_changed import heat_layer
from app.workers import EngineClient, LoaderClient, default_enhancer_factory, default_segmenter_factory
from core import DISCLAIMER
from core.imaging.suffixes import find_photos, name_patterns

CLOSE_BUDGET_S = 1.5
"""Closing waits at most this long for the worker threads; slower ones end in the background (app.tasks)."""
READOUT_HINT = "Point at the photo for pixel values \u00b7 hold Space for the original"
CACHE_RESULTS = 6
CACHE_IMAGES = 4


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def fetch(self, key: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return None


def _b64(data: QByteArray) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text: str) -> QByteArray:
    try:
        return QByteArray(base64.b64decode(text.encode("ascii")))
    except (ValueError, TypeError):
        return QByteArray()


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings | None = None,
        enhancer_factory: Callable[[str | None, str], Any] = default_enhancer_factory,
        segmenter_factory: Callable[[str], Any] = default_segmenter_factory,
        registry: Any = None,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        self._registry = registry
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
        self._enhancer_factory = enhancer_factory  # the batch panel enhances with it too
        self._engine_choice: tuple[str | None, str] | None = None  # (model ref, device) last asked for
        self.engine = EngineClient(enhancer_factory, segmenter_factory, parent=self)
        self.loader = LoaderClient(parent=self)  # full photos, one at a time
        self.thumbs = LoaderClient(parent=self)  # thumbnails, so a big folder never delays the photo shown

        self.images = _LRU(CACHE_IMAGES)  # path -> FundusImage
        self.results = _LRU(CACHE_RESULTS)  # cache key -> EnhancementResult
        self.vessel_results = _LRU(CACHE_RESULTS)  # cache key -> VesselPayload
        self.current: int = -1
        self.image: Any = None  # FundusImage shown
        self.result: Any = None  # EnhancementResult shown
        self.vessel_payload: Any = None
        self._jobs: dict[int, tuple[str, Path, tuple]] = {}  # job -> (kind, path, cache key)
        self._model_info: dict = {}
        self._vessel_model_available = False
        self._vessel_reason = ""
        self.last_error = ""
        self.batch_panel: Any = None
        self.adapt_wizard: Any = None
        self.models_ready = False
        self.batch_dock: QDockWidget | None = None

        self._save_timer = QTimer(self, singleShot=True, interval=800)
        self._save_timer.timeout.connect(self.save_settings)  # settings survive a crash, not only a clean exit
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status()
        self._connect()
        self._apply_settings()
        self.refresh_models()
        QApplication.instance().installEventFilter(self)

    # ================================================================ construction
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea, scroll: bool = False) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if scroll:
            sa = QScrollArea()
            sa.setWidgetResizable(True)
            sa.setFrameShape(QScrollArea.Shape.NoFrame)
            sa.setWidget(widget)
            widget = sa
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.image_list = ImageList()
        self.enhance_panel = EnhancePanel()
        self.vessel_panel = VesselPanel()
        self.levels_panel = LevelsPanel()
        self.levels_panel.setMinimumHeight(self.levels_panel.minimumSizeHint().height())
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.images_dock = self._dock("Images", "imagesDock", self.image_list, left)
        self.enhance_dock = self._dock("Enhancement", "enhanceDock", self.enhance_panel, right, scroll=True)
        self.vessel_dock = self._dock("Vessels", "vesselDock", self.vessel_panel, right, scroll=True)
        self.levels_dock = self._dock("Display levels", "levelsDock", self.levels_panel, right)
        self.what_changed_panel = WhatChangedPanel()
        self.what_changed_dock = self._dock("What changed", "whatChangedDock", self.what_changed_panel, right, scroll=True)
        self.tabifyDockWidget(self.levels_dock, self.what_changed_dock)
        self.levels_dock.raise_()
        self.resizeDocks([self.images_dock], [250], Qt.Orientation.Horizontal)
        self.resizeDocks([self.enhance_dock], [300], Qt.Orientation.Horizontal)

    def _act(self, text: str, slot: Callable, shortcut: Any = None, tip: str = "", checkable: bool = False, icon: Any = None) -> QAction:
        a = QAction(text, self)
        if icon is not None:
            a.setIcon(self.style().standardIcon(icon))
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
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        SP = QStyle.StandardPixmap
        self.act_open = self._act("&Open photos\u2026", self.open_dialog, QKeySequence.StandardKey.Open, "Open fundus photographs (Ctrl+O)", icon=SP.SP_DialogOpenButton)
        self.act_folder = self._act("Open &folder\u2026", self.open_folder_dialog, "Ctrl+Shift+O", "Open every photo in a folder (Ctrl+Shift+O)", icon=SP.SP_DirOpenIcon)
        self.act_samples = self._act("Open &sample photos", self.open_samples, None, "The bundled sample photographs")
        self.act_export = self._act("&Export\u2026", self.export_dialog, "Ctrl+E", "Export the enhanced image, a comparison and the vessel overlay (Ctrl+E)", icon=SP.SP_DialogSaveButton)
        self.act_quit = self._act("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.mode_group = QActionGroup(self)
        self.mode_actions: dict[str, QAction] = {}
        for i, mode in enumerate(MODES):
            a = self._act(MODE_TITLES[mode], lambda _c=False, m=mode: self.set_mode(m), str(i + 1), f"{MODE_TITLES[mode]} ({i + 1})", checkable=True)
            a.setIcon(mode_icon(mode))
            self.mode_group.addAction(a)
            self.mode_actions[mode] = a
        self.act_fit = self._act("Zoom to &fit", self.viewer.state.fit, ["F", "Ctrl+0"], "Zoom to fit (F)")
        self.act_one = self._act("&Actual pixels (1:1)", lambda: self.viewer.state.actual_pixels(device_pixel_ratio=self.devicePixelRatioF()), "Ctrl+1", "One image pixel per screen pixel (Ctrl+1)")
        self.act_fit.setIcon(fit_icon())
        self.act_one.setIcon(actual_size_icon())
        self.act_zoom_in = self._act("Zoom &in", lambda: self.viewer.state.zoom_by(1.25), ["+", "="], "Zoom in (+)")
        self.act_zoom_out = self._act("Zoom &out", lambda: self.viewer.state.zoom_by(0.8), "-", "Zoom out (\u2212)")
        self.act_auto_flicker = self._act("Auto flicker", self._toggle_auto_flicker, None, "Alternate original and enhanced automatically", checkable=True)
        self.act_overlays = self._act("&Vessel overlays", self._toggle_overlays, "V", "Vessel overlays on/off (V)", checkable=True)
        self.act_overlays.setChecked(True)
        self.act_prev = self._act("&Previous photo", lambda: self.step(-1), "PgUp")
        self.act_next = self._act("&Next photo", lambda: self.step(1), "PgDown")
        self.act_enhance = self._act("&Enhance", self.enhance_current, "E", "Enhance the current photo (E)", icon=SP.SP_MediaPlay)
        self.act_cancel = self._act("&Cancel", self.cancel, "Esc", "Cancel the running enhancement (Esc)")
        self.act_vessels = self._act("Compare &vessels", self.compare_vessels, None, "Find and compare vessels before and after")
        self.act_models_refresh = self._act("&Refresh model list", self.refresh_models)
        self.act_models = self._act("&Manage models\u2026", self.show_models, None, "Installed models and their cards; set active, roll back, import, export")
        self.act_adapt = self._act("&Adapt to this site\u2026", self.show_adapt_wizard, None, "Adapt the model to this site's camera with unlabelled photos")
        self.act_optimise = self._act("&Optimise for this computer\u2026", self.show_optimise, None,
                                      "Compile the model for this computer's processor once (needs a C++ compiler)")
        self.act_batch = self._act("&Batch panel", self.show_batch, "Ctrl+B", "Enhance whole folders in the background (Ctrl+B)")
        self.act_shortcuts = self._act("&Keyboard shortcuts", self.show_shortcuts, "F1")
        self.act_about = self._act("&About Fundus Studio", self.show_about)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_folder, self.act_samples):
            m.addAction(a)
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        m.addAction(self.act_export)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&View")
        for a in self.mode_actions.values():
            m.addAction(a)
        m.addAction(self.act_auto_flicker)
        m.addSeparator()
        for a in (self.act_fit, self.act_one, self.act_zoom_in, self.act_zoom_out):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_overlays)
        m.addSeparator()
        for a in (self.act_prev, self.act_next):
            m.addAction(a)
        m.addSeparator()
        panels = m.addMenu("Panels")
        for dock in (self.images_dock, self.enhance_dock, self.vessel_dock, self.levels_dock, self.what_changed_dock):
            panels.addAction(dock.toggleViewAction())
        m = mb.addMenu("&Enhance")
        for a in (self.act_enhance, self.act_cancel, self.act_vessels):
            m.addAction(a)
        m = mb.addMenu("&Batch")
        m.addAction(self.act_batch)
        self.models_menu = mb.addMenu("&Models")
        m = mb.addMenu("&Help")
        m.addAction(self.act_shortcuts)
        m.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        tb.addAction(self.act_open)
        tb.addAction(self.act_folder)
        tb.addSeparator()
        for a in self.mode_actions.values():
            tb.addAction(a)
        tb.addSeparator()
        tb.addAction(self.act_fit)
        tb.addAction(self.act_one)
        tb.addSeparator()
        tb.addAction(self.act_enhance)
        tb.addAction(self.act_export)
        self.toolbar = tb
        for a in (self.act_fit, self.act_one):
            a.setIconText({"Zoom to &fit": "Fit", "&Actual pixels (1:1)": "1:1"}[a.text()])

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

    def _connect(self) -> None:
        v = self.viewer
        v.hovered.connect(self._on_hover)
        v.state.changed.connect(self._update_zoom_label)
        v.progress.cancel_requested.connect(self.cancel)
        self.image_list.current_changed.connect(self.show_index)
        self.image_list.files_dropped.connect(self.open_paths)
        self.image_list.remove_requested.connect(self.remove_entry)
        self.enhance_panel.enhance_requested.connect(self.enhance_current)
        self.enhance_panel.settings_changed.connect(self._enhance_settings_changed)
        self.vessel_panel.options_changed.connect(v.set_overlay_options)
        self.vessel_panel.opacity_changed.connect(self._opacity_changed)
        self.vessel_panel.compute_requested.connect(self.compare_vessels)
        self.what_changed_panel.layer_changed.connect(lambda _kind: self._show_what_changed())
        self.levels_panel.levels_changed.connect(v.set_levels)
        w = self.engine.worker
        w.model_ready.connect(self._on_model_ready)
        w.model_failed.connect(self._on_model_failed)
        w.preparing.connect(self._on_preparing)
        w.device_info.connect(self._on_device_info)
        w.models_listed.connect(self._on_models_listed)
        w.progress.connect(self._on_progress)
        w.enhanced.connect(self._on_enhanced)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        w.vessels_ready.connect(self._on_vessels)
        w.vessels_unavailable.connect(self._on_vessels_unavailable)
        self.loader.worker.loaded.connect(self._on_loaded)
        self.loader.worker.failed.connect(self._on_load_failed)
        self.loader.worker.thumbnail.connect(self._on_thumbnail)
        self.thumbs.worker.thumbnail.connect(self._on_thumbnail)
        self.thumbs.worker.failed.connect(self._on_load_failed)

    def _apply_settings(self) -> None:
        s = self.settings
        self.enhance_panel.blockSignals(True)
        self.enhance_panel.set_mode(s.mode)
        self.enhance_panel.set_device_pref(s.device)
        self.enhance_panel.blockSignals(False)
        self.vessel_panel.set_opacity(s.overlay_opacity)
        self.viewer.set_opacity(s.overlay_opacity)
        self.set_mode(s.compare_mode)
        if not (s.window_geometry and self.restoreGeometry(_unb64(s.window_geometry))):
            self._default_geometry()
        if s.window_state:
            self.restoreState(_unb64(s.window_state))
        self._rebuild_recent()

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
        s.mode = self.enhance_panel.mode()
        s.device = self.enhance_panel.device_pref()
        s.compare_mode = self.viewer.mode
        s.overlay_opacity = self.vessel_panel.opacity.value() / 100.0
        s.window_geometry = _b64(self.saveGeometry())
        s.window_state = _b64(self.saveState())
        try:
            s.save()
        except OSError as exc:
            self.statusBar().showMessage(f"Settings could not be saved: {exc}", 8000)

    # ================================================================ models
    def registry(self) -> Any:
        if self._registry is None:
            from core.models.registry import ModelRegistry  # noqa: PLC0415

            self._registry = ModelRegistry()
        return self._registry

    def refresh_models(self) -> None:
        """List the installed models off the GUI thread (the answer arrives in _on_models_listed)."""
        self.models_ready = False
        if not self.enhance_panel.model.count():
            self.enhance_panel.set_models([], None, placeholder="Looking for installed models\u2026")
            self.model_label.setText("Model: looking\u2026")
        self.engine.list_models(self._registry)

    def _on_models_listed(self, info: dict) -> None:
        models: list[tuple[str, str]] = [tuple(m) for m in info.get("models", [])]
        current = self.enhance_panel.model_ref()
        refs = [r for r, _t in models]
        chosen = current if current in refs else info.get("active")
        if info.get("error"):
            self.enhance_panel.set_status(f"Models could not be listed: {info['error']}", error=True)
        self.enhance_panel.blockSignals(True)
        self.enhance_panel.set_models(models, chosen)
        self.enhance_panel.blockSignals(False)
        self.enhance_panel.set_busy(self.engine.busy())
        self._rebuild_models_menu(models)
        self._vessel_model_available = bool(info.get("vessel"))
        if not self._vessel_model_available:
            self._vessel_reason = (
                "No vessel model is installed, so vessels cannot be compared yet. "
                "Vessel comparison appears here once a vessel model is installed."
            )
        else:
            self._vessel_reason = ""
        self._update_vessel_panel()
        self.engine.probe_device(self.enhance_panel.device_pref())
        self.viewer.not_enhanced_text = (
            "Not enhanced yet.\nPress E to enhance this photo."
            if models
            else "No enhancement model is installed,\nso this photo cannot be enhanced yet."
        )
        self.viewer.not_enhanced_label = "not enhanced yet (E)" if models else "no enhancement model installed"
        self.viewer._refresh()
        if models:
            title = dict(models).get(self.enhance_panel.model_ref(), "?")
            self.model_label.setText(f"Model: {title} (loading\u2026)")
            self._load_model()
        else:
            self.model_label.setText("Model: none installed")
            self.enhance_panel.set_status(
                "No enhancement model is installed. Install one with `fundus-studio models` or the model manager.",
                error=True,
            )
        self.models_ready = True
        self._update_actions()
        self._show_cached_result()

    def _rebuild_models_menu(self, models: list[tuple[str, str]]) -> None:
        """Models menu: the installed enhancement models (the checked one is used), then tools."""
        self.models_menu.clear()
        group = QActionGroup(self.models_menu)
        current = self.enhance_panel.model_ref()
        for ref, title in models:
            a = self.models_menu.addAction(title)
            a.setCheckable(True)
            a.setChecked(ref == current)
            group.addAction(a)
            a.triggered.connect(lambda _c=False, r=ref: self._choose_model(r))
        if not models:
            a = self.models_menu.addAction("No enhancement model installed")
            a.setEnabled(False)
        self.models_menu.addSeparator()
        self.models_menu.addAction(self.act_models)
        self.models_menu.addAction(self.act_adapt)
        self.models_menu.addAction(self.act_optimise)
        self.models_menu.addAction(self.act_models_refresh)

    def _load_model(self) -> None:
        """Load the chosen model on the chosen device (the engine does nothing when it already has it)."""
        choice = (self.enhance_panel.model_ref(), self.enhance_panel.device_pref())
        if choice != self._engine_choice and self.batch_panel is not None:
            self.batch_panel.model_changed()
        self._engine_choice = choice
        self.engine.load_model(*choice)

    def batch_enhancer(self, mode: str) -> Any:
        """The batch panel's Enhancer: this window's model, device and registry (called on the batch thread,
        so it reads the choice recorded on the GUI thread, never a widget)."""
        ref, device = self._engine_choice or (None, self.settings.device)
        return self._enhancer_factory(ref, device)

    def batch_measurer(self, vessels: bool) -> Any:
        from core.batch import Measurer  # noqa: PLC0415

        return Measurer.with_installed_models(vessels=vessels, registry=self._registry)

    def _choose_model(self, ref: str) -> None:
        idx = self.enhance_panel.model.findData(ref)
        if idx >= 0:
            self.enhance_panel.model.setCurrentIndex(idx)

    def _enhance_settings_changed(self) -> None:
        self.settings.mode = self.enhance_panel.mode()
        if self.batch_panel is not None:
            self.batch_panel.set_mode(self.settings.mode)
        self.settings.device = self.enhance_panel.device_pref()
        self._save_timer.start()
        self.engine.probe_device(self.enhance_panel.device_pref())
        ref = self.enhance_panel.model_ref()
        for a in self.models_menu.actions():
            if a.isCheckable():
                a.setChecked(a.text() == self.enhance_panel.model.currentText())
        if ref is not None:
            self._load_model()
        self._show_cached_result()

    def _on_device_info(self, info: dict) -> None:
        self.device_label.setText(f"Device: {info.get('device_label', '')}")
        path = info.get("inference_path", "")
        tip = info.get("device_reason", "")
        self.device_label.setToolTip(f"{tip}\nInference: {path}" if path else tip)
        self.enhance_panel.device_note.setText(f"In use: {info.get('device_label', '')}"
                                               + (f"\nInference: {path}" if path else ""))

    def _on_preparing(self, message: str) -> None:
        if not self.engine.busy():
            self.enhance_panel.set_status(message)

    def _on_model_ready(self, info: dict) -> None:
        self._model_info = info
        m = info.get("model", {})
        self.model_label.setText(f"Model: {m.get('name', '?')} {m.get('version', '')}")
        self._on_device_info(info)
        if not self.engine.busy():
            self.enhance_panel.set_status("")

    def _on_model_failed(self, message: str) -> None:
        self._model_info = {}
        self.model_label.setText("Model: not loaded")
        self.enhance_panel.set_status(message, error=True)

    # ================================================================ opening
    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open fundus photographs", self.settings.last_open_dir,
            f"Images ({name_patterns()});;All files (*)",
        )
        if files:
            self.settings.last_open_dir = str(Path(files[0]).parent)
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a folder of photographs", self.settings.last_open_dir)
        if d:
            self.settings.last_open_dir = d
            self.open_paths([d])

    def open_samples(self) -> None:
        from app.samples import sample_entries  # noqa: PLC0415

        entries = sample_entries()
        if not entries:
            self.statusBar().showMessage("No sample photographs are bundled with this installation.", 6000)
            return
        self.add_entries(entries, remember=False)

    def open_paths(self, paths: list[str | Path]) -> int:
        """Files and folders (their photos, sorted); returns how many photos were added."""
        files: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                files.extend(find_photos(p, recursive=False))
            elif p.exists():
                files.append(p)
            else:
                self.statusBar().showMessage(f"Not found: {p}", 6000)
                continue
            self.settings.add_recent(p.resolve())  # a folder is remembered as the folder
        self._rebuild_recent()
        self._save_timer.start()
        return self.add_entries([ImageEntry(path=f) for f in files], remember=False)

    def add_entries(self, entries: list[ImageEntry], remember: bool = True) -> int:
        first = -1
        for e in entries:
            e.path = e.path.resolve()
            idx = self.image_list.index_of(e.path)
            if idx < 0:
                idx = self.image_list.add(e)
                self.thumbs.load(e.path, full=False)
            if first < 0:
                first = idx
            if remember:
                self.settings.add_recent(e.path)
        if remember:
            self._rebuild_recent()
        self._update_images_title()
        if first >= 0:
            self.image_list.setCurrentRow(first)
        return len(entries)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.recent_files:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _c=False, path=p: self.open_paths([path]))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    def _update_images_title(self) -> None:
        n = self.image_list.count()
        self.images_dock.setWindowTitle(f"Images ({n})" if n else "Images")

    def remove_entry(self, index: int) -> None:
        """Take a photo off the list (the file itself is not touched)."""
        if not 0 <= index < self.image_list.count():
            return
        path = self.image_list.entries[index].path
        self.images.pop(path, None)
        was_current = index == self.current
        self.image_list.blockSignals(True)
        self.image_list.remove(index)
        self.image_list.blockSignals(False)
        self._update_images_title()
        if self.image_list.count() and (was_current or index < self.current):
            row = min(index if was_current else self.current - 1, self.image_list.count() - 1)
            self.image_list.setCurrentRow(row)
            self.show_index(row)
        if self.image_list.count() == 0:
            self.current = -1
            self.image = self.result = self.vessel_payload = None
            self.viewer.set_original(None)
            self.readout.setText("")

    def step(self, delta: int) -> None:
        n = self.image_list.count()
        if n:
            self.image_list.setCurrentRow(min(n - 1, max(0, self.image_list.currentRow() + delta)))

    # ================================================================ showing
    def _entry(self, index: int | None = None) -> ImageEntry | None:
        i = self.current if index is None else index
        return self.image_list.entries[i] if 0 <= i < len(self.image_list.entries) else None

    def show_index(self, index: int) -> None:
        self.current = index
        entry = self._entry()
        self.image = None
        self.result = None
        self.vessel_payload = None
        self.vessel_panel.clear_measurements()
        self._update_actions()
        if entry is None:
            self.viewer.set_original(None)
            return
        self.setWindowTitle(f"{entry.title} \u2014 Fundus Studio \u2014 {DISCLAIMER}")
        image = self.images.fetch(entry.path)
        if image is not None:
            self._display(entry, image)
        else:
            self.image_list.set_status(index, "loading" if entry.status in ("new", "ready") else entry.status)
            self.loader.load(entry.path, full=True)

    def _on_loaded(self, path: str, image: Any) -> None:
        p = Path(path)
        self.images.put(p, image)
        idx = self.image_list.index_of(p)
        if idx >= 0 and self.image_list.entries[idx].status == "loading":
            self.image_list.set_status(idx, "ready")
        entry = self._entry()
        if entry is not None and entry.path == p:
            self._display(entry, image)

    def _on_load_failed(self, path: str, message: str) -> None:
        idx = self.image_list.index_of(Path(path))
        if idx >= 0:
            self.image_list.set_status(idx, "failed", message)
        if idx == self.current:
            self.viewer.set_original(None)
            self.viewer.left.set_placeholder(f"This file could not be opened.\n\n{message}")
            self._error(message)

    def _on_thumbnail(self, path: str, thumb: Any, size_text: str) -> None:
        idx = self.image_list.index_of(Path(path))
        if idx >= 0:
            self.image_list.set_thumbnail(idx, thumb, size_text)

    def _display(self, entry: ImageEntry, image: Any) -> None:
        same_size = self.image is not None and self.image.pixels.shape == image.pixels.shape
        self.image = image
        self._update_actions()
        self.readout.setText(READOUT_HINT)
        self.viewer.set_original(image.pixels, image.max_value, keep_view=same_size)
        self.levels_panel.set_image("original", channel_histograms(image.pixels, image.max_value), image.max_value)
        self.levels_panel.set_image("enhanced", None, image.max_value)
        self.viewer.set_levels("original", self.levels_panel.levels["original"])
        self._show_cached_result()

    def cache_key(self, image: Any = None) -> tuple:
        image = image or self.image
        return (
            getattr(image, "source_sha256", None),
            str(getattr(image, "source_path", "")),
            self.enhance_panel.model_ref(),
            self.enhance_panel.mode(),
            self.enhance_panel.device_pref(),
        )

    def _show_cached_result(self) -> None:
        if self.image is None:
            return
        result = self.results.fetch(self.cache_key())
        self._show_result(result)

    def _show_what_changed(self) -> None:
        """The chosen field of the current result as a heat map on the enhanced photo (or none)."""
        kind = self.what_changed_panel.layer
        wc = getattr(self.result, "what_changed", None)
        if kind not in WHAT_CHANGED_KINDS or wc is None or self.image is None:
            self.viewer.set_what_changed(None)
            return
        self.viewer.set_what_changed(premultiplied_bgra(heat_layer(getattr(wc, kind), wc.fov, kind, self.image.pixels.shape[:2])))

    def _update_what_changed(self, result: Any) -> None:
        wc = getattr(result, "what_changed", None)
        if result is None:
            reason = "Enhance a photo to see what the model changed."
        else:
            reason = "This model predates the structured MAGE-Net: it has no fields to show."
        self.what_changed_panel.set_available(wc is not None, reason, None if wc is None else wc.ranges)
        self._show_what_changed()

    def _show_result(self, result: Any) -> None:
        self.result = result
        self.viewer.set_guard_warning(getattr(result, "guard_message", None))
        self._update_what_changed(result)
        if result is None:
            self.viewer.set_enhanced(None)
            self.levels_panel.set_image("enhanced", None, self.image.max_value if self.image else 255)
            self.vessel_payload = None
            self.viewer.set_vessel_layers(None, None, None)
            self.vessel_panel.clear_measurements()
            self._update_vessel_panel()
            return
        title = f"Enhanced \u00b7 {model_title(result)} ({'high quality' if result.mode == 'tiled' else result.mode})"
        self.viewer.set_enhanced(result.pixels, title)
        mask = getattr(getattr(result, "fov", None), "mask", None)
        self.levels_panel.set_image("enhanced", channel_histograms(result.pixels, self.image.max_value, mask), self.image.max_value)
        self.viewer.set_levels("enhanced", self.levels_panel.levels["enhanced"])
        t = getattr(result, "timings", {}) or {}
        if "total" in t:
            self.enhance_panel.set_status(f"Enhanced in {t['total']:.1f} s on {getattr(result, 'device', '?').upper()}.")
        payload = self.vessel_results.fetch(self.cache_key())
        if payload is not None:
            self._show_vessels(payload)
        else:
            self.viewer.set_vessel_layers(None, None, None)
            self.vessel_panel.clear_measurements()
            if self._vessel_model_available:
                self.compare_vessels()
        self._update_vessel_panel()

    def _update_actions(self) -> None:
        """Actions that cannot do anything now are greyed out, so the window never invites a dead end."""
        has_image = self.image is not None
        self.act_enhance.setEnabled(has_image and self.enhance_panel.model_ref() is not None)
        self.act_export.setEnabled(self.result is not None)
        self.act_vessels.setEnabled(self.result is not None and self._vessel_model_available)
        self.act_cancel.setEnabled(self.engine.busy())

    # ================================================================ enhancement
    def enhance_current(self) -> None:
        entry = self._entry()
        if entry is None or self.image is None:
            self.statusBar().showMessage("Open a photo first.", 4000)
            return
        key = self.cache_key()
        cached = self.results.fetch(key)
        if cached is not None:
            self._show_result(cached)
            return
        if any(kind == "enhance" and k == key for kind, _p, k in self._jobs.values()):
            return  # already running for this photo and these settings
        if self.enhance_panel.model_ref() is None:
            self._error("No enhancement model is installed, so this photo cannot be enhanced yet.")
            return
        self._load_model()
        job = self.engine.enhance(self.image, self.enhance_panel.mode())
        self._jobs[job] = ("enhance", entry.path, key)
        self.image_list.set_status(self.current, "enhancing")
        self.viewer.progress.start(f"Enhancing {entry.title}")
        self.act_cancel.setEnabled(True)
        self.enhance_panel.set_busy(True)
        self.enhance_panel.set_status("")

    def cancel(self) -> None:
        if self.engine.busy():
            self.engine.cancel()
            self.viewer.progress.cancelling()

    def _on_progress(self, job: int, done: int, total: int, message: str) -> None:
        if job in self._jobs:
            self.viewer.progress.set_progress(done, total, message)

    def _job_finished(self, job: int) -> tuple[str, Path, tuple] | None:
        info = self._jobs.pop(job, None)
        self._update_actions()
        if not self._jobs:
            self.viewer.progress.finish()
            self.enhance_panel.set_busy(False)
        return info

    def _on_enhanced(self, job: int, result: Any) -> None:
        info = self._job_finished(job)
        if info is None:
            return
        _kind, path, key = info
        self.results.put(key, result)
        idx = self.image_list.index_of(path)
        if idx >= 0:
            self.image_list.set_status(idx, "enhanced")
        if self.image is not None and self.cache_key() == key:
            self._show_result(result)

    def _on_failed(self, job: int, message: str) -> None:
        info = self._job_finished(job)
        if info is None:
            return
        kind, path, _key = info
        idx = self.image_list.index_of(path)
        if kind == "enhance" and idx >= 0:
            self.image_list.set_status(idx, "failed", message)
        self._error(message)

    def _on_cancelled(self, job: int) -> None:
        info = self._job_finished(job)
        if info is None:
            return
        kind, path, _key = info
        idx = self.image_list.index_of(path)
        if kind == "enhance" and idx >= 0:
            self.image_list.set_status(idx, "ready")
        self.statusBar().showMessage("Cancelled.", 4000)
        self.enhance_panel.set_status("Cancelled.")

    def _error(self, message: str) -> None:
        self.last_error = message
        self.enhance_panel.set_status(message, error=True)
        self.statusBar().showMessage(message, 10000)

    # ================================================================ vessels
    def _update_vessel_panel(self) -> None:
        self._update_actions()
        if not self._vessel_model_available:
            self.vessel_panel.set_available(False, self._vessel_reason)
        elif self.result is None:
            has_model = self.enhance_panel.model_ref() is not None
            self.vessel_panel.set_available(
                False,
                "Enhance the photo to compare its vessels with the original's."
                if has_model
                else "Vessels are compared between the original and the enhanced photo; "
                "no enhancement model is installed yet.",
            )
        else:
            self.vessel_panel.set_available(True, "")

    def compare_vessels(self) -> None:
        if self.result is None or self.image is None or not self._vessel_model_available:
            return
        key = self.cache_key()
        if any(kind == "vessels" and k == key for kind, _p, k in self._jobs.values()):
            return
        payload = self.vessel_results.fetch(key)
        if payload is not None:
            self._show_vessels(payload)
            return
        job = self.engine.vessels(self.image.pixels, self.result.pixels, self.result.fov, self.enhance_panel.device_pref())
        self._jobs[job] = ("vessels", self._entry().path, key)
        self.viewer.progress.start("Comparing vessels")

    def _on_vessels(self, job: int, payload: Any) -> None:
        info = self._job_finished(job)
        if info is None:
            return
        self.vessel_results.put(info[2], payload)
        if self.image is not None and self.cache_key() == info[2]:
            self._show_vessels(payload)

    def _on_vessels_unavailable(self, reason: str) -> None:
        for job, (kind, _p, _k) in list(self._jobs.items()):
            if kind == "vessels":
                self._job_finished(job)
        self._vessel_model_available = False
        self._vessel_reason = reason
        self._update_vessel_panel()

    def _show_vessels(self, payload: Any) -> None:
        self.vessel_payload = payload
        comp = payload.comparison
        self.viewer.set_vessel_layers(
            vessel_layer(payload.before.binary), vessel_layer(payload.after.binary), difference_layer(comp), warning_boxes(comp)
        )
        self.vessel_panel.show_comparison(comp)

    def _opacity_changed(self, opacity: float) -> None:
        self.viewer.set_opacity(opacity)
        self.settings.overlay_opacity = opacity

    def _toggle_overlays(self) -> None:
        self.viewer.set_overlays_on(self.act_overlays.isChecked())

    # ================================================================ modes and keys
    def set_mode(self, mode: str) -> None:
        self.viewer.set_mode(mode)
        self.mode_actions[mode].setChecked(True)
        self.act_auto_flicker.setEnabled(mode == "flicker")
        if mode != "flicker" and self.act_auto_flicker.isChecked():
            self.act_auto_flicker.setChecked(False)
        self.settings.compare_mode = mode
        if hasattr(self, "_save_timer"):
            self._save_timer.start()

    def _toggle_auto_flicker(self) -> None:
        if self.viewer.mode != "flicker":
            self.set_mode("flicker")
        self.viewer.set_auto_flicker(self.act_auto_flicker.isChecked())

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

    def _on_hover(self, x: float, y: float) -> None:
        if x < 0 or self.image is None:
            self.readout.setText(READOUT_HINT if self.image is not None else "")
            return
        xi, yi = int(x), int(y)
        before, after = self.viewer.pixel(xi, yi)
        width = 5 if self.image.bit_depth > 8 else 3

        def fmt(rgb: Any) -> str:
            return " ".join(f"{v:>{width}d}" for v in rgb) if rgb else "  \u2014"

        text = f"x {xi:>5d}  y {yi:>5d}   RGB before {fmt(before)}"
        if after is not None:
            text += f"   after {fmt(after)}"
        self.readout.setText(text)

    def _update_zoom_label(self) -> None:
        self.zoom_label.setText(f"{self.viewer.state.zoom * self.devicePixelRatioF() * 100:.0f}%")

    # ================================================================ export
    def export_dialog(self) -> None:
        if self.result is None or self.image is None:
            self.statusBar().showMessage("Enhance a photo before exporting.", 5000)
            return
        dlg = ExportDialog(self.settings.output_dir, self.settings.export_formats, self.vessel_payload is not None, self)
        if dlg.exec() != ExportDialog.DialogCode.Accepted:
            return
        self.settings.output_dir = dlg.folder.text()
        self.settings.export_formats = dlg.choices()
        self._save_timer.start()
        written = self.export(dlg.choices(), dlg.folder.text())
        if written:
            self.statusBar().showMessage(f"Saved {len(written)} file(s) to {dlg.folder.text()}", 8000)

    def export(self, choices: list[str], folder: str | Path) -> list[Any]:
        """Write the chosen outputs for the current photo; errors are shown, not raised."""
        if self.result is None or self.image is None:
            return []
        written = []
        try:
            for choice in choices:
                if choice in ("png", "tiff16", "jpeg"):
                    written.append(export_enhanced(self.image, self.result, folder, choice))
                elif choice == "comparison":
                    written.append(export_comparison(self.image, self.result, folder))
                elif choice == "vessels" and self.vessel_payload is not None:
                    written.append(
                        export_vessel_overlay(self.image, self.result, self.vessel_payload, folder, self.viewer.opacity)
                    )
        except Exception as exc:  # noqa: BLE001 - FundusError or OS errors: tell the user
            self._error(str(exc))
            if self.isVisible() and not _testing():
                QMessageBox.warning(self, "Export failed", str(exc))
        return written

    # ================================================================ batch
    def show_batch(self) -> None:
        """The batch panel (issue 6's app.batch_panel), created on first use as a bottom dock."""
        if self.batch_dock is None:
            from app.batch_panel import BatchPanel  # noqa: PLC0415 - its queue and thread start only when asked

            self.batch_panel = BatchPanel(enhancer_factory=self.batch_enhancer, measurer_factory=self.batch_measurer,
                                          mode=self.enhance_panel.mode())
            self.batch_panel.open_in_viewer.connect(lambda path: self.open_paths([path]))
            self.batch_dock = self._dock("Batch", "batchDock", self.batch_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.batch_dock.show()
        self.batch_dock.raise_()

    def show_models(self, modal: bool = True) -> Any:
        """The model manager (app.models_dialog); the model list follows its changes."""
        try:
            from app.models_dialog import ModelsDialog  # noqa: PLC0415
        except ImportError as exc:
            self._error(f"The model manager is not available in this installation ({exc}).")
            return None
        dlg = ModelsDialog(self, registry=self.registry())
        dlg.models_changed.connect(self.refresh_models)
        if modal:
            dlg.exec()
        else:
            dlg.show()
        return dlg

    def show_adapt_wizard(self) -> None:
        """The site adaptation wizard (issue 7's app.wizard), non-modal; the model list refreshes after it."""
        if self.adapt_wizard is not None and self.adapt_wizard.isVisible():
            self.adapt_wizard.raise_()
            return
        try:
            from app.wizard import open_adapt_wizard  # noqa: PLC0415
        except ImportError as exc:
            self._error(f"The site adaptation wizard is not available in this installation ({exc}).")
            return
        self.adapt_wizard = open_adapt_wizard(self)
        self.adapt_wizard.finished.connect(lambda _r: self.refresh_models())

    def show_optimise(self) -> None:
        """Compile the active model for this computer in a child process, then choose the path again."""
        from core.inference.aot import why_cannot_build  # noqa: PLC0415

        why = why_cannot_build()
        if why:
            QMessageBox.information(
                self, "Optimise for this computer",
                f"The model cannot be compiled here: {why}. Fundus Studio already uses the fastest way "
                "to run it that needs no compiler.")
            return
        from app.dialogs.optimise_dialog import OptimiseDialog  # noqa: PLC0415

        dialog = OptimiseDialog(self.enhance_panel.model_ref(), self)
        dialog.succeeded.connect(self.engine.reselect_inference)
        dialog.start()
        dialog.exec()

    # ================================================================ help
    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        card = None
        try:
            ref = self.enhance_panel.model_ref()
            if ref:
                name, _, version = ref.partition("@")
                card = self.registry().get(name, version or None).card
        except Exception:  # noqa: BLE001
            card = None
        AboutDialog(card, self._model_info.get("device_label", ""), self).exec()

    # ================================================================ shutdown
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
        workers: list[Any] = [self.engine, self.loader, self.thumbs]
        if self.batch_panel is not None:
            workers.append(self.batch_panel)
        if self.adapt_wizard is not None:
            workers.append(self.adapt_wizard)
        for w in workers:
            w.stop()
        for w in workers:
            w.shutdown(int(max(0.0, deadline - time.monotonic()) * 1000))

    # ================================================================ drag and drop
    def dragEnterEvent(self, ev) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dragMoveEvent(self, ev) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)
            ev.acceptProposedAction()

    def closeEvent(self, ev) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(ev)


def _testing() -> bool:
    import os  # noqa: PLC0415

    return "PYTEST_CURRENT_TEST" in os.environ
