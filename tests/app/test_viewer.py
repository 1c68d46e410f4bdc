"""Compare viewer: modes on one shared view state, split clipping, linked side-by-side views."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from app.viewer.compare import MODES, CompareViewer
from app.viewer.levels import DisplayLevels
from tests.synthetic import make_fundus


@pytest.fixture
def viewer(qtbot):
    v = CompareViewer()
    qtbot.addWidget(v)
    v.resize(900, 600)
    v.show()
    qtbot.waitExposed(v)
    orig = make_fundus(300, 400)
    v.set_original(orig)
    v.set_enhanced(np.ascontiguousarray(255 - orig), "Enhanced \u00b7 test")
    return v


def ranges(canvas):
    (x0, x1), (y0, y1) = canvas.vb.viewRange()
    return np.array([x0, x1, y0, y1])


def test_every_mode_shows_the_right_layers(viewer, qtbot):
    seen = []
    viewer.mode_changed.connect(seen.append)
    for mode in MODES:
        viewer.set_mode(mode)
        qtbot.wait(5)
        assert viewer.right.isVisible() == (mode == "side")
        left = viewer.left
        if mode == "split":
            assert left.divider.isVisible() and left.clip.isVisible()
        elif mode == "single":
            assert left.base.buffer is viewer._disp["enhanced"] and not left.clip.isVisible()
        elif mode == "side":
            assert left.base.buffer is viewer._disp["original"]
            assert viewer.right.top.buffer is viewer._disp["enhanced"]
        elif mode == "flicker":
            assert left.base.buffer is viewer._disp["original"] and left.clip.isVisible()
            assert not left.divider.isVisible()
    assert seen == list(MODES)  # starts in split; single first makes split a change too
    with pytest.raises(ValueError):
        viewer.set_mode("nonsense")


def test_split_divider_moves_only_a_clip_rectangle(viewer, qtbot):
    viewer.set_mode("split")
    buf = viewer.left.top.buffer
    viewer.state.set_divider(0.25)
    r1 = viewer.left.clip.rect()
    viewer.state.set_divider(0.75)
    r2 = viewer.left.clip.rect()
    assert r2.left() > r1.left()
    assert viewer.left.top.buffer is buf  # no new array per move
    # the divider line follows, in image coordinates at 75% of the visible width
    x, _y, w, _h = viewer.state.visible_rect(viewer.left.view_size())
    assert viewer.left.divider.value() == pytest.approx(x + 0.75 * w, abs=1e-6)


def test_side_by_side_zoom_and_pan_are_linked(viewer, qtbot):
    viewer.set_mode("side")
    qtbot.wait(20)
    assert np.allclose(ranges(viewer.left), ranges(viewer.right), atol=1.0)
    # a wheel turn over the right view zooms both, about the same image point
    pos = viewer.right.mapFromScene(viewer.right.vb.mapViewToScene(QPointF(120, 80)))
    qtbot.wait(5)
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    ev = QWheelEvent(
        QPointF(pos), QPointF(viewer.right.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 480),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    z0 = viewer.state.zoom
    QApplication.sendEvent(viewer.right.viewport(), ev)
    qtbot.wait(10)
    assert viewer.state.zoom > 1.5 * z0
    assert np.allclose(ranges(viewer.left), ranges(viewer.right), atol=1.0)
    # the point under the cursor stayed put
    p = viewer.right.vb.mapSceneToView(viewer.right.mapToScene(pos))
    assert abs(p.x() - 120) < 2 and abs(p.y() - 80) < 2
    # dragging the left view pans both
    before = ranges(viewer.right)
    viewer.state.pan_screen(40, 0)
    qtbot.wait(5)
    assert not np.allclose(before, ranges(viewer.right))
    assert np.allclose(ranges(viewer.left), ranges(viewer.right), atol=1.0)


def test_space_shows_the_original_everywhere(viewer, qtbot):
    viewer.set_mode("flicker")
    assert viewer.left.clip.isVisible()
    viewer.set_space_held(True)
    assert not viewer.left.clip.isVisible()
    assert "Original" in viewer.left.label_left.text()
    viewer.set_space_held(False)
    viewer.set_mode("single")
    viewer.set_space_held(True)
    assert viewer.left.base.buffer is viewer._disp["original"]
    viewer.set_space_held(False)
    assert viewer.left.base.buffer is viewer._disp["enhanced"]


def test_levels_change_only_the_display_buffer(viewer):
    orig = viewer.original.copy()
    buf = viewer._disp["original"]
    before = buf.copy()
    viewer.set_levels("original", DisplayLevels(0, 100, 1.0))
    assert viewer._disp["original"] is buf and not np.array_equal(before, buf)
    assert np.array_equal(viewer.original, orig)


def test_pixel_readout_and_hover(viewer, qtbot):
    before, after = viewer.pixel(200, 150)
    assert before == tuple(int(v) for v in viewer.original[150, 200])
    assert after == tuple(255 - v for v in before)
    assert viewer.pixel(-1, 5) == (None, None)
    got = []
    viewer.hovered.connect(lambda x, y: got.append((x, y)))
    scene_pt = viewer.left.vb.mapViewToScene(QPointF(100.5, 50.5))
    viewer.left.scene().sigMouseMoved.emit(scene_pt)
    assert got and abs(got[-1][0] - 100.5) < 1 and abs(got[-1][1] - 50.5) < 1


def test_empty_viewer_invites_to_open(qtbot):
    v = CompareViewer()
    qtbot.addWidget(v)
    assert "Open" in v.left.placeholder.text()


def _drag(qtbot, widget, start, end, steps=6):
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, steps + 1):
        p = QPoint(start.x() + (end.x() - start.x()) * i // steps, start.y() + (end.y() - start.y()) * i // steps)
        QTest.mouseMove(widget, p)
        qtbot.wait(5)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_mouse_drags_the_divider_in_split_and_pans_elsewhere(viewer, qtbot):
    from PySide6.QtCore import QPoint

    viewer.set_mode("split")
    qtbot.wait(20)
    vp = viewer.left.viewport()
    w, h = vp.width(), vp.height()
    assert viewer.state.divider == 0.5
    _drag(qtbot, vp, QPoint(w // 2, h // 2), QPoint(w // 4, h // 2))
    assert viewer.state.divider == pytest.approx(0.25, abs=0.03)
    cx = viewer.state.cx
    _drag(qtbot, vp, QPoint(3 * w // 4, h // 3), QPoint(3 * w // 4 - 60, h // 3))
    assert viewer.state.cx == pytest.approx(cx + 60 / viewer.state.zoom, rel=0.05)
    assert viewer.state.divider == pytest.approx(0.25, abs=0.03)  # panning leaves the divider alone


def test_sixteen_bit_photo_displays_and_reads_out_full_values(qtbot):
    v = CompareViewer()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    rgb16 = make_fundus(120, 160, dtype=np.uint16)
    v.set_original(rgb16, 65535)
    buf = v.left.base.buffer
    assert buf.dtype == np.uint8 and buf.shape == (120, 160, 4)
    y, x = 60, 80
    assert abs(int(buf[y, x, 2]) - int(rgb16[y, x, 0]) // 257) <= 1  # BGRA: red in channel 2
    assert v.pixel(x, y)[0] == tuple(int(c) for c in rgb16[y, x])


def test_smooth_when_shrinking_crisp_when_magnifying(viewer):
    from PySide6.QtGui import QPainter

    smooth = QPainter.RenderHint.SmoothPixmapTransform
    viewer.state.set_zoom(0.3)
    assert viewer.left.renderHints() & smooth
    viewer.state.set_zoom(4.0)
    assert not (viewer.left.renderHints() & smooth)
    # zoomed out, the canvas draws from an area-averaged pyramid level, not the full image
    viewer.state.set_zoom(0.2)
    level = viewer.left.base._level(0.2)
    assert level.width() == viewer.original.shape[1] // 4


def test_side_by_side_views_are_equal_halves(qtbot):
    v = CompareViewer()
    qtbot.addWidget(v)
    v.resize(1000, 600)
    v.show()
    big = np.zeros((2336, 3504, 3), np.uint8)  # a big scene must not make one view wider
    v.set_original(big)
    qtbot.wait(20)
    v.set_enhanced(big.copy())
    v.set_mode("side")
    qtbot.wait(50)
    assert abs(v.left.width() - v.right.width()) <= 1


def test_premultiplied_bgra_keeps_colours_within_their_alpha():
    import numpy as np

    from app.viewer.overlays import premultiplied_bgra

    rgba = np.array([[[245, 140, 20, 64], [40, 110, 230, 255]]], np.uint8)
    out = premultiplied_bgra(rgba)
    assert np.all(out[..., :3] <= out[..., 3:4])
    assert tuple(out[0, 1]) == (230, 110, 40, 255)  # BGR order, unchanged at full alpha
    assert tuple(out[0, 0, :3]) == (5, 35, 61)
