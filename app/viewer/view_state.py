"""Zoom and pan as plain shared data that every view follows (napari style).

Side-by-side views are linked simply because both draw from the same ViewState;
nothing syncs one view to another. Coordinates: image pixels, x to the right,
y down, (0, 0) the top-left corner of the top-left pixel.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

MIN_ZOOM = 0.01
MAX_ZOOM = 64.0


class ViewState(QObject):
    """What part of the image is shown, and how large; plus the split divider position.

    zoom: screen pixels per image pixel. center: the image point at the middle of each view.
    fitting: True while the view should re-fit when the window is resized (until the user zooms).
    divider: split-mode divider as a fraction of the view width (0..1), in screen space so it
    stays visible however the image is panned.
    """

    changed = Signal()
    divider_changed = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.zoom: float = 1.0
        self.cx: float = 0.0
        self.cy: float = 0.0
        self.image_w: int = 0
        self.image_h: int = 0
        self.fitting: bool = True
        self.divider: float = 0.5
        self._viewport = (1, 1)

    # ------------------------------------------------------------------ setup
    def set_image_size(self, width: int, height: int) -> None:
        """A new image: keep the current zoom and centre when the size is unchanged."""
        same = (width, height) == (self.image_w, self.image_h)
        self.image_w, self.image_h = int(width), int(height)
        if not same or self.fitting:
            self.fit()

    def set_viewport(self, width: int, height: int) -> None:
        """Size in screen pixels of one view (the reference view in side by side)."""
        width, height = max(1, int(width)), max(1, int(height))
        if (width, height) == self._viewport:
            return
        self._viewport = (width, height)
        if self.fitting:
            self.fit()

    @property
    def viewport(self) -> tuple[int, int]:
        return self._viewport

    # ------------------------------------------------------------------ actions
    def fit(self) -> None:
        """Whole image visible, centred; keeps fitting on resize."""
        if self.image_w <= 0 or self.image_h <= 0:
            return
        vw, vh = self._viewport
        self.zoom = _clamp(min(vw / self.image_w, vh / self.image_h) * 0.98)
        self.cx, self.cy = self.image_w / 2.0, self.image_h / 2.0
        self.fitting = True
        self.changed.emit()

    def set_zoom(self, zoom: float, anchor: tuple[float, float] | None = None) -> None:
        """Zoom so that the image point `anchor` stays under the same screen point."""
        new = _clamp(zoom)
        if anchor is not None and self.zoom > 0:
            ax, ay = anchor
            k = self.zoom / new
            self.cx = ax - (ax - self.cx) * k
            self.cy = ay - (ay - self.cy) * k
        self.zoom = new
        self.fitting = False
        self._keep_in_view()
        self.changed.emit()

    def zoom_by(self, factor: float, anchor: tuple[float, float] | None = None) -> None:
        self.set_zoom(self.zoom * factor, anchor)

    def actual_pixels(self, anchor: tuple[float, float] | None = None, device_pixel_ratio: float = 1.0) -> None:
        """1:1, one image pixel per physical screen pixel (zoom is in logical pixels, so 1/dpr on HiDPI)."""
        self.set_zoom(1.0 / max(device_pixel_ratio, 1e-6), anchor)

    def pan_screen(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) screen pixels, as a drag does."""
        self.cx -= dx / self.zoom
        self.cy -= dy / self.zoom
        self.fitting = False
        self._keep_in_view()
        self.changed.emit()

    def center_on(self, x: float, y: float) -> None:
        self.cx, self.cy = float(x), float(y)
        self.fitting = False
        self._keep_in_view()
        self.changed.emit()

    def set_divider(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self.divider:
            self.divider = fraction
            self.divider_changed.emit(fraction)

    # ------------------------------------------------------------------ geometry
    def visible_rect(self, viewport: tuple[int, int] | None = None) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the image region a view of `viewport` screen pixels shows."""
        vw, vh = viewport or self._viewport
        w, h = vw / self.zoom, vh / self.zoom
        return self.cx - w / 2.0, self.cy - h / 2.0, w, h

    def _keep_in_view(self) -> None:
        """Never let the image leave the view entirely (half a view of margin)."""
        if self.image_w <= 0:
            return
        self.cx = min(max(self.cx, 0.0), float(self.image_w))
        self.cy = min(max(self.cy, 0.0), float(self.image_h))


def _clamp(zoom: float) -> float:
    return min(MAX_ZOOM, max(MIN_ZOOM, float(zoom)))
