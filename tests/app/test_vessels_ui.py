"""Vessel comparison in the window: overlays, difference colours, measurements, warning boxes, export."""

from __future__ import annotations

import json

import numpy as np

from core.colours import COLOUR_BOTH, COLOUR_ONLY_AFTER, COLOUR_ONLY_BEFORE
from app.viewer.overlays import difference_layer, warning_boxes
from core.vessels import VesselMap, compare_vessels


def test_difference_layer_colours_and_warning_boxes():
    h, w = 200, 200
    fov = np.zeros((h, w), bool)
    fov[10:190, 10:190] = True
    before = np.zeros((h, w), bool)
    after = np.zeros((h, w), bool)
    before[50, 20:100] = True  # found in both
    after[50, 20:100] = True
    before[70, 20:100] = True  # lost
    after[120:124, 20:180] = True  # long, thick, no trace before: a hallucination
    vb = VesselMap(prob=before.astype(np.float32), binary=before, threshold=0.5)
    va = VesselMap(prob=after.astype(np.float32), binary=after, threshold=0.5)
    comp = compare_vessels(vb, va, fov)
    layer = difference_layer(comp)
    bgr = lambda c: (c[2], c[1], c[0], 255)  # noqa: E731
    assert tuple(layer[50, 50]) == bgr(COLOUR_BOTH)
    assert tuple(layer[70, 50]) == bgr(COLOUR_ONLY_BEFORE)
    assert tuple(layer[121, 50]) == bgr(COLOUR_ONLY_AFTER)
    assert layer[5, 5, 3] == 0  # transparent elsewhere
    boxes = warning_boxes(comp, pad=0)
    assert comp.warning and boxes == [(20, 120, 160, 4)]


def test_vessels_compared_after_enhancement(tiny_model, tiny_vessel_model, window, qtbot, photos, tmp_path):
    assert window.session.vessel_model_available
    window.opening.open_paths([str(photos[0])])
    qtbot.waitUntil(lambda: window.session.image is not None, timeout=10000)
    assert not window.vessel_panel.before.isEnabled()  # nothing to compare before enhancing
    window.engine_wiring.enhance_current()
    qtbot.waitUntil(lambda: window.session.vessel_payload is not None or bool(window.session.last_error), timeout=60000)
    assert window.session.vessel_payload is not None, window.session.last_error
    comp = window.session.vessel_payload.comparison
    panel = window.vessel_panel
    assert panel.before.isEnabled() and panel.difference.isEnabled()
    assert panel.dice.text() == f"{comp.dice:.3f}"
    assert "%" in panel.density_before.text()
    v = window.viewer
    window.acts.set_mode("side")
    assert v.left.base_overlay.buffer is v.overlays["before"]
    assert v.right.top_overlay.buffer is v.overlays["after"]
    panel.difference.setChecked(True)
    assert v.left.base_overlay.buffer is v.overlays["difference"]
    panel.opacity.setValue(25)
    assert abs(v.left.base_overlay.opacity() - 0.25) < 1e-6
    window.acts.overlays.trigger()  # V: overlays off
    assert v.left.base_overlay.buffer is None
    window.acts.overlays.trigger()
    written = window.exporter.export(["vessels"], tmp_path / "out")
    assert len(written) == 1 and written[0].path.name.endswith("_vessels.png")
    side = json.loads(written[0].sidecar_path.read_text())
    assert side["output_kind"] == "vessel_overlay" and side["vessel_model"]
    assert abs(side["vessel_measures"]["dice"] - comp.dice) < 1e-9
