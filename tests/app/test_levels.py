"""Display levels: LUTs, the BGRA display buffer, histograms, auto levels."""

from __future__ import annotations

import numpy as np

from app.viewer.levels import DisplayLevels, auto_levels, build_lut, channel_histograms, to_display


def test_identity_levels_swap_to_bgra_without_changing_values():
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    out = to_display(rgb, DisplayLevels(), 255)
    assert out.shape == (7, 9, 4)
    assert np.array_equal(out[..., 0], rgb[..., 2]) and np.array_equal(out[..., 2], rgb[..., 0])
    assert (out[..., 3] == 255).all()


def test_black_white_and_gamma():
    lut = build_lut(DisplayLevels(50, 150, 1.0), 255)
    assert lut[50] == 0 and lut[150] == 255 and lut[100] in (127, 128) and lut[10] == 0 and lut[200] == 255
    brighter = build_lut(DisplayLevels(0, 255, 2.0), 255)
    assert brighter[64] > 64 and brighter[0] == 0 and brighter[255] == 255


def test_sixteen_bit_input_and_buffer_reuse():
    rgb = np.full((4, 4, 3), 65535 // 2, np.uint16)
    buf = to_display(rgb, DisplayLevels(0, 65535, 1.0), 65535)
    assert buf[0, 0, 1] in (127, 128)
    again = to_display(rgb, DisplayLevels(0, 32767, 1.0), 65535, out=buf)
    assert again is buf and buf[0, 0, 1] == 255


def test_histogram_ignores_black_border_and_auto_levels_stretch():
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[20:80, 20:80] = np.random.default_rng(1).integers(60, 120, (60, 60, 3))
    hist = channel_histograms(rgb, 255)
    assert hist[:, :50].sum() == 0  # the black surround is not counted
    lv = auto_levels(hist, 255)
    assert 55 <= lv.black <= 65 and 115 <= lv.white <= 125
