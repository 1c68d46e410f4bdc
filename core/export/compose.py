"""Compose export images: photos side by side (or split) under titles, with burned-in bands.

The bands are what makes a picture safe to pass on: "NOT FOR DIAGNOSTIC USE" with the
photo, model and time at the bottom, and, when the do-no-harm guard (core.guard) flagged the
output, its warning in amber above that. Colours are the viewer's: amber as the vessel
warning's boxes, the disclaimer band as the status bar's.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from core import DISCLAIMER
from core.colours import COLOUR_HALLUCINATION
from core.export.text import draw_text, scale_for, text_width, warning_sign, wrap

BACKGROUND = (0x1E, 0x1E, 0x1E)
TITLE_COLOUR = (0xE6, 0xE6, 0xE6)
DISCLAIMER_BAND = (0x7A, 0x3B, 0x00)
WARNING_BAND = COLOUR_HALLUCINATION
DIVIDER = (0xF0, 0xF0, 0xF0)
MAX_SIDE = 2400
"""Longest side of each panel: enough to read at print size, small enough for an e-mail."""


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit RGB of a uint8 or uint16 photo (16-bit divided by 257, rounded)."""
    a = np.asarray(pixels)
    if a.dtype == np.uint8:
        out = a
    else:
        out = np.rint(a.astype(np.float32) / 257.0).clip(0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out[..., :3])


def guard_note(result: Any) -> str | None:
    """The guard's warning for a flagged output ("Warning: the enhancement changed ..."), else None."""
    if not getattr(result, "guard_flagged", False):
        return None
    msg = getattr(result, "guard_message", None) or ""
    score = getattr(result, "guard_score", None)
    tail = f" (structure score {score:.2f})" if isinstance(score, float) else ""
    return f"Warning: {msg}{tail}"


def split_view(before: np.ndarray, after: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """One panel: `before` left of the divider at `fraction` of the width, `after` right of it,
    as the viewer's split mode shows them, with a thin light divider line."""
    b, a = to_uint8(before), to_uint8(after)
    if b.shape != a.shape:
        raise ValueError(f"split view needs two photos of one size, not {b.shape} and {a.shape}")
    w = b.shape[1]
    x = int(round(min(1.0, max(0.0, float(fraction))) * w))
    out = a.copy()
    out[:, :x] = b[:, :x]
    line = max(1, w // 400)
    x0 = min(max(0, x - line // 2), max(0, w - line))
    out[:, x0 : x0 + line] = DIVIDER
    return out


def _fit(rgb: np.ndarray, max_side: int) -> np.ndarray:
    u8 = to_uint8(rgb)
    h, w = u8.shape[:2]
    if max(h, w) <= max_side:
        return u8
    s = max_side / max(h, w)
    return cv2.resize(u8, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def compose(panels: Sequence[tuple[np.ndarray, str]], footer: str, max_side: int = MAX_SIDE,
            warning: str | None = None) -> np.ndarray:
    """Panels side by side under their titles, the disclaimer band (with `footer`) at the bottom,
    and an amber warning band above it when `warning` is given; returns uint8 RGB."""
    if not panels:
        raise ValueError("compose needs at least one panel")
    imgs = [(_fit(rgb, max_side), title) for rgb, title in panels]
    h = max(img.shape[0] for img, _ in imgs)
    gap = max(8, h // 200)
    title_h = max(36, h // 28)
    foot_h = max(44, h // 22)
    width = sum(img.shape[1] for img, _ in imgs) + gap * (len(imgs) + 1)
    inner = width - 2 * gap

    warn_px = foot_h * 0.27
    warn_lines = _warning_lines(warning, inner - foot_h, warn_px) if warning else []
    warn_h = (foot_h if len(warn_lines) < 2 else int(foot_h * 1.5)) if warning else 0
    big, small = foot_h * 0.3, foot_h * 0.22
    one_line = (text_width(DISCLAIMER.upper(), scale_for(big, True), True)
                + text_width(footer, scale_for(small)) + 3 * gap <= inner)
    band_h = foot_h if one_line else int(foot_h * 1.6)
    top_of_bands = title_h + h + gap // 2
    height = top_of_bands + warn_h + band_h

    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    x = gap
    for img, title in imgs:
        ih, iw = img.shape[:2]
        draw_text(canvas, title, (x, 0, iw, title_h), TITLE_COLOUR, title_h * 0.36)
        canvas[title_h : title_h + ih, x : x + iw] = img
        x += iw + gap
    if warning:
        _warning_band(canvas, warn_lines, top_of_bands, warn_h, gap, warn_px)
    _disclaimer_band(canvas, footer, top_of_bands + warn_h, band_h, gap, one_line, big, small)
    return canvas


def _warning_lines(warning: str, width: int, px: float) -> list[str]:
    scale = scale_for(px, True)
    return [warning] if text_width(warning, scale, True) <= width else wrap(warning, width, px, True)


def _warning_band(canvas: np.ndarray, lines: list[str], y: int, band_h: int, gap: int, px: float) -> None:
    width = canvas.shape[1]
    canvas[y : y + band_h] = WARNING_BAND
    sign = int(px * 1.6)
    warning_sign(canvas, gap, y + (band_h - sign) // 2, sign, BACKGROUND, WARNING_BAND)
    left = gap + sign + gap
    line_h = band_h // max(1, len(lines))
    for i, line in enumerate(lines):
        draw_text(canvas, line, (left, y + i * line_h, width - left - gap, line_h), BACKGROUND, px, bold=True)


def _disclaimer_band(canvas: np.ndarray, footer: str, y: int, band_h: int, gap: int, one_line: bool,
                     big: float, small: float) -> None:
    width = canvas.shape[1]
    canvas[y : y + band_h] = DISCLAIMER_BAND
    white = (255, 255, 255)
    if one_line:
        drawn = draw_text(canvas, DISCLAIMER.upper(), (gap, y, width - 2 * gap, band_h), white, big, bold=True)
        left = gap + drawn + 2 * gap
        draw_text(canvas, footer, (left, y, width - left - gap, band_h), white, small, align="right")
    else:
        half = band_h // 2
        draw_text(canvas, DISCLAIMER.upper(), (gap, y + band_h // 10, width - 2 * gap, half), white, big, bold=True)
        draw_text(canvas, footer, (gap, y + half, width - 2 * gap, half - band_h // 10), white, small)
