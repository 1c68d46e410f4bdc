"""Session -> views: the photo, its enhancement, vessels and "what changed" in the viewer and panels.

Only the session's callbacks drive it, so whatever changed the session (a click, a late
engine answer, a cached result) the views show the same thing. It also greys out the
actions that cannot do anything now, so the window never invites a dead end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.session import Session
from app.viewer.levels import channel_histograms
from app.viewer.overlays import difference_layer, premultiplied_bgra, vessel_layer, warning_boxes
from core.export import model_title
from core.what_changed import KINDS as WHAT_CHANGED_KINDS
from core.what_changed import heat_layer

if TYPE_CHECKING:
    from app.main_window import MainWindow

READOUT_HINT = "Point at the photo for pixel values \u00b7 hold Space for the original"
NOT_ENHANCED = ("Not enhanced yet.\nPress E to enhance this photo.", "not enhanced yet (E)")
NO_ENHANCER = ("No enhancement model is installed,\nso this photo cannot be enhanced yet.",
               "no enhancement model installed")


class ResultView:
    """Keeps the viewer, the levels, vessel and what-changed panels and the readout in step with the session."""

    def __init__(self, window: MainWindow, session: Session) -> None:
        self.w = window
        self.session = session
        session.image_changed.connect(self._image_changed)
        session.result_changed.connect(self._result_changed)
        session.vessels_changed.connect(self._vessels_changed)
        session.models_changed.connect(self._models_changed)
        session.jobs_changed.connect(self.update_actions)
        session.choice_changed.connect(self.update_actions)
        window.what_changed_panel.layer_changed.connect(lambda _kind: self._show_what_changed())
        window.viewer.hovered.connect(self.show_readout)

    # ------------------------------------------------------------------ photo
    def _image_changed(self, image: Any) -> None:
        w = self.w
        self.update_actions()
        w.vessel_panel.clear_measurements()
        if image is None:
            if self.session.path is None:
                w.viewer.set_original(None)
                w.readout.setText("")
            return
        w.readout.setText(READOUT_HINT)
        w.viewer.set_original(image.pixels, image.max_value)
        w.levels_panel.set_image("original", channel_histograms(image.pixels, image.max_value), image.max_value)
        w.levels_panel.set_image("enhanced", None, image.max_value)
        w.viewer.set_levels("original", w.levels_panel.levels["original"])

    def _models_changed(self) -> None:
        self.w.viewer.set_not_enhanced_text(*(NOT_ENHANCED if self.session.models else NO_ENHANCER))
        self._vessels_changed(self.session.vessel_payload)

    # ------------------------------------------------------------------ result
    def _result_changed(self, result: Any) -> None:
        w, s = self.w, self.session
        w.viewer.set_guard_warning(getattr(result, "guard_message", None))
        self._update_what_changed(result)
        max_value = s.image.max_value if s.image is not None else 255
        if result is None:
            w.viewer.set_enhanced(None)
            w.levels_panel.set_image("enhanced", None, max_value)
        else:
            title = f"Enhanced \u00b7 {model_title(result)} ({'high quality' if result.mode == 'tiled' else result.mode})"
            w.viewer.set_enhanced(result.pixels, title)
            mask = getattr(getattr(result, "fov", None), "mask", None)
            w.levels_panel.set_image("enhanced", channel_histograms(result.pixels, max_value, mask), max_value)
            w.viewer.set_levels("enhanced", w.levels_panel.levels["enhanced"])
            t = getattr(result, "timings", {}) or {}
            if "total" in t:
                w.enhance_panel.set_status(f"Enhanced in {t['total']:.1f} s on {getattr(result, 'device', '?').upper()}.")
        self._vessels_changed(s.vessel_payload)

    def _vessels_changed(self, payload: Any) -> None:
        w = self.w
        if payload is None:
            w.viewer.set_vessel_layers(None, None, None)
            w.vessel_panel.clear_measurements()
        else:
            comp = payload.comparison
            w.viewer.set_vessel_layers(vessel_layer(payload.before.binary), vessel_layer(payload.after.binary),
                                       difference_layer(comp), warning_boxes(comp))
            w.vessel_panel.show_comparison(comp)
        notice = self.session.vessel_notice()
        w.vessel_panel.set_available(not notice, notice)
        self.update_actions()

    # ------------------------------------------------------------------ what changed
    def _update_what_changed(self, result: Any) -> None:
        wc = getattr(result, "what_changed", None)
        if result is None:
            reason = "Enhance a photo to see what the model changed."
        else:
            reason = "This model predates the structured MAGE-Net: it has no fields to show."
        self.w.what_changed_panel.set_available(wc is not None, reason, None if wc is None else wc.ranges)
        self._show_what_changed()

    def _show_what_changed(self) -> None:
        """The chosen field of the current result as a heat map on the enhanced photo (or none)."""
        kind = self.w.what_changed_panel.layer
        wc = getattr(self.session.result, "what_changed", None)
        image = self.session.image
        if kind not in WHAT_CHANGED_KINDS or wc is None or image is None:
            self.w.viewer.set_what_changed(None)
            return
        layer = heat_layer(getattr(wc, kind), wc.fov, kind, image.pixels.shape[:2])
        self.w.viewer.set_what_changed(premultiplied_bgra(layer))

    # ------------------------------------------------------------------ status
    def show_readout(self, x: float, y: float) -> None:
        """The pixel readout in the status bar: position and RGB before and after."""
        image = self.session.image
        if x < 0 or image is None:
            self.w.readout.setText(READOUT_HINT if image is not None else "")
            return
        xi, yi = int(x), int(y)
        before, after = self.w.viewer.pixel(xi, yi)
        width = 5 if image.bit_depth > 8 else 3

        def fmt(rgb: Any) -> str:
            return " ".join(f"{v:>{width}d}" for v in rgb) if rgb else "  \u2014"

        text = f"x {xi:>5d}  y {yi:>5d}   RGB before {fmt(before)}"
        if after is not None:
            text += f"   after {fmt(after)}"
        self.w.readout.setText(text)

    def update_actions(self, *_args: Any) -> None:
        """Actions that cannot do anything now are greyed out."""
        s, acts = self.session, self.w.acts
        acts.enhance.setEnabled(s.can_enhance)
        acts.export.setEnabled(s.can_export)
        acts.vessels.setEnabled(s.can_compare_vessels)
        acts.cancel.setEnabled(self.w.engine.busy())
