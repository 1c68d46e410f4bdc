"""The compare viewer: single, split (swipe), side by side and flicker on one ViewState.

Both canvases always exist; modes only decide which buffers each canvas shows, whether
the top layer is clipped at the divider, and whether the second canvas is visible.
Display buffers are made once per image (and per levels change) and shared by both
canvases, so switching modes or images costs no pixel work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.settings import COMPARE_MODES
from app.style import VIEWER_BG
from app.viewer.canvas import ImageCanvas
from app.viewer.levels import DisplayLevels, to_display
from app.viewer.progress_strip import ProgressStrip
from app.viewer.view_state import ViewState

MODES = COMPARE_MODES  # the settings validate against the same tuple
MODE_TITLES = {"single": "Single", "split": "Split", "side": "Side by side", "flicker": "Flicker"}
EMPTY_TEXT = "Open a fundus photograph (Ctrl+O), a folder (Ctrl+Shift+O),\nor drop files here."


class CompareViewer(QWidget):
    hovered = Signal(float, float)
    mode_changed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"CompareViewer {{ background: {VIEWER_BG}; }}")
        self.state = ViewState()
        self.left = ImageCanvas(self.state)
        self.left.is_reference = True
        self.right = ImageCanvas(self.state)
        self.progress = ProgressStrip()
        views = QHBoxLayout()
        views.setContentsMargins(0, 0, 0, 0)
        views.setSpacing(2)
        views.addWidget(self.left, 1)  # equal widths: both views show the same image region
        views.addWidget(self.right, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.progress)
        # The do-no-harm guard's banner (core.guard): amber like the vessel warning, never blocking.
        self.guard_banner = QLabel("")
        self.guard_banner.setObjectName("guardBanner")
        self.guard_banner.setWordWrap(True)
        self.guard_banner.setStyleSheet(
            "#guardBanner { background: rgb(255,176,0); color: #1e1e1e; font-weight: 600; padding: 5px 10px; }")
        self.guard_banner.hide()
        lay.addWidget(self.guard_banner)
        lay.addLayout(views, 1)

        self.mode = "split"
        self.space_held = False
        self.original: np.ndarray | None = None
        self.enhanced: np.ndarray | None = None
        self.max_value = 255
        self.levels = {"original": DisplayLevels(), "enhanced": DisplayLevels()}
        self._disp: dict[str, np.ndarray | None] = {"original": None, "enhanced": None}
        self.enhanced_title = "Enhanced"
        self.not_enhanced_text = "Not enhanced yet.\nPress E to enhance this photo."
        self.not_enhanced_label = "not enhanced yet (E)"
        self.empty_text = EMPTY_TEXT  # what the view says with no photo (or why it could not open one)
        self.overlays: dict[str, np.ndarray | None] = {"before": None, "after": None, "difference": None}
        self.show_overlay = {"before": True, "after": True, "difference": False}
        self.overlays_on = True
        self.what_changed: np.ndarray | None = None  # RGBA heat map of the model's fields (core.what_changed)
        self.opacity = 0.6
        self.boxes: list[tuple[int, int, int, int]] = []
        self._flicker_timer = QTimer(self)
        self._flicker_timer.setInterval(700)
        self._flicker_timer.timeout.connect(self._flicker_tick)
        self._flicker_phase = False

        for c in (self.left, self.right):
            c.hovered.connect(self._on_hover)
        self._refresh()

    # ------------------------------------------------------------------ content
    def set_original(self, pixels: np.ndarray | None, max_value: int = 255, keep_view: bool = False) -> None:
        """A new photo (the enhanced one and overlays are cleared)."""
        self.empty_text = EMPTY_TEXT
        self.original = pixels
        self.enhanced = None
        self.max_value = max_value
        self.levels = {k: DisplayLevels.identity(max_value) for k in self.levels}
        self._disp = {"original": None, "enhanced": None}
        self.overlays = {"before": None, "after": None, "difference": None}
        self.what_changed = None
        self.boxes = []
        self.set_guard_warning(None)
        if pixels is not None:
            self._disp["original"] = to_display(pixels, self.levels["original"], max_value)
            h, w = pixels.shape[:2]
            if not keep_view:
                self.state.fitting = True
            self.state.set_image_size(w, h)
        self._refresh()

    def show_failure(self, message: str) -> None:
        """No photo, and instead of the invitation to open one, why this one could not be opened."""
        self.set_original(None)
        self.empty_text = message
        self._refresh()

    def set_not_enhanced_text(self, text: str, label: str) -> None:
        """What the enhanced view says before enhancing (text: in the empty view, label: on the photo)."""
        self.not_enhanced_text, self.not_enhanced_label = text, label
        self._refresh()

    def set_guard_warning(self, text: str | None) -> None:
        """Show (text) or hide (None) the guard's banner above the views."""
        if text:
            self.guard_banner.setText(f"\u26a0 {text[:1].upper()}{text[1:]}")
            self.guard_banner.show()
        else:
            self.guard_banner.hide()

    def set_what_changed(self, layer: np.ndarray | None) -> None:
        """Show an RGBA heat map of what the model changed on the enhanced photo (None: the vessel overlays)."""
        self.what_changed = layer
        self._refresh()

    def set_enhanced(self, pixels: np.ndarray | None, title: str = "Enhanced") -> None:
        self.enhanced = pixels
        self.enhanced_title = title
        self._disp["enhanced"] = (
            None if pixels is None else to_display(pixels, self.levels["enhanced"], self.max_value)
        )
        self._refresh()

    def set_levels(self, which: str, levels: DisplayLevels) -> None:
        """Display levels of one view ("original" or "enhanced"); rebuilds that buffer in place."""
        if levels == self.levels.get(which):
            return
        self.levels[which] = levels
        src = self.original if which == "original" else self.enhanced
        buf = self._disp.get(which)
        if src is None or buf is None:
            return
        to_display(src, levels, self.max_value, out=buf)
        for c in (self.left, self.right):
            for item in (c.base, c.top):
                if item.buffer is buf:
                    item.refresh()

    def set_vessel_layers(
        self,
        before: np.ndarray | None,
        after: np.ndarray | None,
        difference: np.ndarray | None,
        boxes: list[tuple[int, int, int, int]] | None = None,
    ) -> None:
        self.overlays = {"before": before, "after": after, "difference": difference}
        self.boxes = list(boxes or [])
        self._refresh()

    def set_overlay_options(self, before: bool, after: bool, difference: bool) -> None:
        self.show_overlay = {"before": before, "after": after, "difference": difference}
        self._refresh()

    def set_overlays_on(self, on: bool) -> None:
        self.overlays_on = on
        self._refresh()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = opacity
        for c in (self.left, self.right):
            c.set_overlay_opacity(opacity)

    # ------------------------------------------------------------------ modes
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}")
        if mode != self.mode:
            self.mode = mode
            if mode != "flicker":
                self._flicker_timer.stop()
            self._refresh()
            self.mode_changed.emit(mode)

    def set_space_held(self, held: bool) -> None:
        """Hold Space: every view shows the original."""
        if held != self.space_held:
            self.space_held = held
            self._refresh()

    def set_auto_flicker(self, on: bool) -> None:
        if on:
            self._flicker_timer.start()
        else:
            self._flicker_timer.stop()
            self._flicker_phase = False
        self._refresh()

    @property
    def auto_flicker(self) -> bool:
        return self._flicker_timer.isActive()

    def _flicker_tick(self) -> None:
        self._flicker_phase = not self._flicker_phase
        self._refresh()

    # ------------------------------------------------------------------ layout
    def _overlay(self, which: str) -> np.ndarray | None:
        """The overlay layer drawn on the original ('before') or enhanced ('after') photo; the
        "What changed" map, when one is chosen, takes the enhanced photo's place."""
        if self.what_changed is not None:
            return self.what_changed if which == "enhanced" else None
        if not self.overlays_on:
            return None
        if self.show_overlay["difference"] and self.overlays["difference"] is not None:
            return self.overlays["difference"]
        key = "before" if which == "original" else "after"
        return self.overlays[key] if self.show_overlay[key] else None

    def _boxes_for(self, shows_enhanced: bool) -> list[tuple[int, int, int, int]]:
        return self.boxes if (self.overlays_on and shows_enhanced) else []

    def _refresh(self) -> None:
        orig, enh = self._disp["original"], self._disp["enhanced"]
        mode = self.mode
        self.right.setVisible(mode == "side")
        left, right = self.left, self.right
        for c in (left, right):
            c.set_placeholder("")
            c.set_marker(None, None)
        if orig is None:
            left.set_layers(None, None)
            left.set_overlays(None, None)
            left.set_split(False)
            left.set_labels("", "")
            left.set_boxes([])
            left.set_placeholder(self.empty_text)
            right.set_layers(None, None)
            return
        enh_label = self.enhanced_title
        show_orig_only = self.space_held or (mode == "flicker" and self._flicker_phase)
        if mode == "side":
            left.set_split(False)
            left.set_layers(orig, None)
            left.set_overlays(self._overlay("original"), None)
            left.set_labels("Original", "")
            left.set_boxes([])
            right.set_split(False)
            if enh is None:
                right.set_layers(None, None)
                right.set_overlays(None, None)
                right.set_labels("", "")
                right.set_boxes([])
                right.set_placeholder(self.not_enhanced_text)
            else:
                right.set_layers(orig, enh)
                right.set_show_top(not show_orig_only)
                right.set_overlays(
                    self._overlay("original") if show_orig_only else None,
                    self._overlay("enhanced"),
                )
                right.set_labels("Original (Space held)" if show_orig_only else enh_label, "")
                right.set_boxes(self._boxes_for(not show_orig_only))
        else:
            split = mode == "split" and enh is not None
            if mode == "single" and enh is not None and not show_orig_only:
                base, top = enh, None
                labels = (enh_label, "")
                ovl = (self._overlay("enhanced"), None)
                shows_enh = True
            elif enh is None:
                base, top = orig, None
                labels = (f"Original  \u00b7  {self.not_enhanced_label}", "")
                ovl = (self._overlay("original"), None)
                shows_enh = False
            else:
                base, top = orig, enh
                ovl = (self._overlay("original"), self._overlay("enhanced"))
                if split:
                    labels = ("Original", "Original (Space held)" if show_orig_only else enh_label)
                else:
                    labels = ("Original" if show_orig_only else enh_label, "")
                shows_enh = not show_orig_only
            left.set_split(split)
            left.set_layers(base, top)
            left.set_show_top(not show_orig_only)
            left.set_overlays(*ovl)
            if mode == "flicker" and enh is not None:
                hint = "Auto flicker" if self.auto_flicker else "hold Space for the original"
                labels = (f"{labels[0]}   \u00b7   {hint}", labels[1])
            left.set_labels(*labels)
            left.set_boxes(self._boxes_for(shows_enh))
        if self.overlays_on and self.show_overlay["difference"] and self.overlays["difference"] is not None:
            for c in (left, right):
                if c.isVisible() and c.label_left.text():
                    c.set_labels(c.label_left.text() + "   \u00b7   vessel difference", c.label_right.text())
        for c in (left, right):
            c.set_overlay_opacity(self.opacity)
            c.apply_state()

    def _on_hover(self, x: float, y: float) -> None:
        src = self.sender()
        other = self.right if src is self.left else self.left
        if self.mode == "side" and x >= 0:
            other.set_marker(x, y)
        else:
            other.set_marker(None, None)
        self.hovered.emit(x, y)

    def pixel(self, x: int, y: int) -> tuple[Any, Any]:
        """RGB before and after at an image pixel (None where there is no image)."""
        before = after = None
        if self.original is not None and 0 <= y < self.original.shape[0] and 0 <= x < self.original.shape[1]:
            before = tuple(int(v) for v in self.original[y, x])
            if self.enhanced is not None:
                after = tuple(int(v) for v in self.enhanced[y, x])
        return before, after
