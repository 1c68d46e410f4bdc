"""Export pictures drawn without Qt: layout, bands, split view, labels in ASCII."""

from __future__ import annotations

import numpy as np
import pytest

from core.export import compose, split_view, to_uint8
from core.export.compose import DISCLAIMER_BAND, WARNING_BAND
from core.export.text import ascii_text, wrap


def _close(rgb: np.ndarray, colour: tuple[int, int, int], tol: int = 10) -> np.ndarray:
    return np.abs(rgb.astype(int) - colour).sum(-1) < tol


def test_two_panels_side_by_side_with_the_disclaimer_band_at_the_bottom():
    a = np.full((180, 200, 3), 40, np.uint8)
    b = np.full((180, 200, 3), 200, np.uint8)
    out = compose([(a, "Original"), (b, "Enhanced \u00b7 tiny")], "photo.png \u00b7 tiny 0.1")
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[1] > 2 * 200  # two panels and the gaps between them
    band = _close(out[-20:], DISCLAIMER_BAND).mean()
    assert band > 0.5
    assert _close(out, WARNING_BAND).mean() < 0.001  # no warning: no amber
    assert (out == 200).all(-1).sum() >= 0.95 * 180 * 200  # the panels themselves are pasted unchanged
    assert (out == 40).all(-1).sum() >= 0.95 * 180 * 200


def test_a_warning_puts_an_amber_band_above_the_disclaimer():
    a = np.zeros((120, 160, 3), np.uint8)
    out = compose([(a, "Original"), (a, "Enhanced")], "footer", warning="Warning: the enhancement changed " * 4)
    amber_rows = np.flatnonzero(_close(out, WARNING_BAND, 12).mean(axis=1) > 0.5)
    brown_rows = np.flatnonzero(_close(out, DISCLAIMER_BAND).mean(axis=1) > 0.5)
    assert amber_rows.size > 10 and brown_rows.size > 10
    assert amber_rows.max() < brown_rows.min() and brown_rows.max() == out.shape[0] - 1
    # the text is drawn on the bands (not a blank colour field)
    assert (~_close(out[amber_rows], WARNING_BAND, 12)).sum() > 50
    assert (~_close(out[brown_rows], DISCLAIMER_BAND)).sum() > 50


def test_large_panels_are_scaled_to_max_side_and_16_bit_is_shown_8_bit():
    big = np.full((900, 1200, 3), 257 * 100, np.uint16)
    out = compose([(big, "16-bit")], "f", max_side=600)
    assert out.shape[1] <= 600 + 2 * 8 + 1 and out.shape[0] < 900
    assert (out == 100).all(-1).sum() > 0.9 * 450 * 600
    assert to_uint8(np.array([[[65535, 0, 257]]], np.uint16)).tolist() == [[[255, 0, 1]]]


def test_split_view_shows_before_left_of_the_divider_and_after_right():
    before = np.full((50, 100, 3), 10, np.uint8)
    after = np.full((50, 100, 3), 220, np.uint8)
    out = split_view(before, after, 0.3)
    assert (out[:, :28] == 10).all() and (out[:, 32:] == 220).all()
    assert (out[:, 29:31] > 230).any()  # the divider line
    with pytest.raises(ValueError):
        split_view(before, after[:10], 0.5)


def test_labels_are_transliterated_to_what_hershey_fonts_draw():
    assert ascii_text("Enhanced \u00b7 H\u00e4ggstr\u00f6m 200\u00d7180 \u26a0") == "Enhanced - Haggstrom 200x180 !"
    lines = wrap("one two three four five six seven", width=60, px=10, max_lines=2)
    assert len(lines) == 2 and " ".join(lines) == "one two three four five six seven"
