"""ViewState: the shared zoom/pan every view follows."""

from __future__ import annotations

import pytest

from app.viewer.view_state import MAX_ZOOM, ViewState


def make(w=1000, h=500, vw=500, vh=500) -> ViewState:
    s = ViewState()
    s.set_viewport(vw, vh)
    s.set_image_size(w, h)
    return s


def test_fit_shows_whole_image_centred():
    s = make()
    assert s.zoom == pytest.approx(0.49)
    assert (s.cx, s.cy) == (500, 250)
    x, y, w, h = s.visible_rect()
    assert x <= 0 and y <= 0 and x + w >= 1000 and y + h >= 500


def test_zoom_about_anchor_keeps_that_point_under_the_cursor():
    s = make()
    anchor = (800.0, 100.0)
    # screen position of the anchor relative to the view centre, before and after
    before = ((anchor[0] - s.cx) * s.zoom, (anchor[1] - s.cy) * s.zoom)
    s.zoom_by(3.0, anchor)
    after = ((anchor[0] - s.cx) * s.zoom, (anchor[1] - s.cy) * s.zoom)
    assert after == pytest.approx(before)
    assert not s.fitting


def test_pan_moves_by_screen_pixels_and_clamps_to_image():
    s = make()
    s.actual_pixels()
    s.pan_screen(100, -50)
    assert (s.cx, s.cy) == (400, 300)
    s.pan_screen(1e6, 1e6)
    assert (s.cx, s.cy) == (0, 0)


def test_zoom_limits_and_refit_on_resize_only_while_fitting():
    s = make()
    s.set_zoom(1e9)
    assert s.zoom == MAX_ZOOM
    s.set_viewport(1000, 1000)
    assert s.zoom == MAX_ZOOM  # user zoomed: resize keeps the zoom
    s.fit()
    s.set_viewport(2000, 2000)
    assert s.zoom == pytest.approx(1.96)


def test_divider_is_clamped_and_signals():
    s = make()
    seen = []
    s.divider_changed.connect(seen.append)
    s.set_divider(1.7)
    s.set_divider(-1)
    assert seen == [1.0, 0.0]
