"""The "What changed" heat maps: transparent where nothing changed, coloured by direction and size."""

from __future__ import annotations

import numpy as np
import pytest

from core.what_changed import KINDS, heat_layer, legend


def test_unchanged_regions_and_outside_the_fov_are_transparent():
    fov = np.ones((8, 8), bool)
    fov[:, :2] = False
    gain = np.ones((8, 8), np.float32)
    gain[4:, 4:] = 2.0
    layer = heat_layer(gain, fov, "gain")
    assert layer.shape == (8, 8, 4) and layer.dtype == np.uint8
    assert layer[0, 4, 3] == 0 and layer[5, 5, 3] > 100
    assert np.all(layer[:, :2, 3] == 0)


def test_gain_direction_has_its_own_colour():
    fov = np.ones((1, 2), bool)
    layer = heat_layer(np.array([[0.6, 1.8]], np.float32), fov, "gain")
    darker, brighter = layer[0, 0], layer[0, 1]
    assert darker[2] > darker[0] and brighter[0] > brighter[2]  # blue vs orange


def test_layer_is_resized_to_the_photo_and_legends_are_ordered():
    layer = heat_layer(np.full((10, 20), 0.1, np.float32), np.ones((10, 20), bool), "veil", shape=(40, 80))
    assert layer.shape == (40, 80, 4)
    for kind in KINDS:
        stops = legend(kind)
        assert [s.value for s in stops] == sorted(s.value for s in stops) and len(stops) >= 3
    with pytest.raises(ValueError):
        heat_layer(np.ones((2, 2), np.float32), np.ones((2, 2), bool), "colour")
