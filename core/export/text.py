"""Text on export images with OpenCV's Hershey fonts: sized in pixels, fitted into a box.

Hershey fonts draw ASCII only, so labels are transliterated first ("\u00b7" becomes "-",
"H\u00e4ggstr\u00f6m" becomes "Haggstrom"); the warning sign is drawn as a triangle instead.
"""

from __future__ import annotations

import unicodedata

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
_REPLACE = {"\u00b7": "-", "\u2014": "-", "\u2013": "-", "\u00d7": "x", "\u2192": "->", "\u2265": ">=",
            "\u2264": "<=", "\u26a0": "!", "\u2026": "...", "\u201c": '"', "\u201d": '"', "\u2019": "'"}
Colour = tuple[int, int, int]


def ascii_text(text: str) -> str:
    """What Hershey fonts can draw: known symbols spelled out, accents dropped, the rest removed."""
    spelled = "".join(_REPLACE.get(ch, ch) for ch in text)
    return unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode("ascii")


def _thickness(scale: float, bold: bool) -> int:
    return max(1, int(round(scale * (2.4 if bold else 1.4))))


def scale_for(px: float, bold: bool = False) -> float:
    """The font scale whose capital letters are `px` pixels tall."""
    (_w, h), _base = cv2.getTextSize("H", FONT, 1.0, _thickness(1.0, bold))
    return max(0.2, float(px) / max(h, 1))


def text_width(text: str, scale: float, bold: bool = False) -> int:
    return cv2.getTextSize(ascii_text(text), FONT, scale, _thickness(scale, bold))[0][0]


def draw_text(canvas: np.ndarray, text: str, box: tuple[int, int, int, int], colour: Colour, px: float,
              bold: bool = False, align: str = "left", min_px: float = 7.0) -> int:
    """Draw one line vertically centred in box (x, y, w, h), shrunk (down to min_px) to fit its
    width; returns the width drawn. Text still too long is cut with "..." rather than spill over."""
    x, y, w, h = box
    line = ascii_text(text)
    if not line or w <= 0:
        return 0
    scale = scale_for(px, bold)
    floor = scale_for(min_px, bold)
    while scale > floor and text_width(line, scale, bold) > w:
        scale *= 0.92
    while len(line) > 4 and text_width(line, scale, bold) > w:
        line = line[:-4].rstrip() + "..."
    thick = _thickness(scale, bold)
    (tw, th), _base = cv2.getTextSize(line, FONT, scale, thick)
    left = x + (w - tw if align == "right" else 0)
    baseline = y + (h + th) // 2
    cv2.putText(canvas, line, (int(left), int(baseline)), FONT, scale, colour, thick, cv2.LINE_AA)
    return tw


def warning_sign(canvas: np.ndarray, x: int, y: int, size: int, fill: Colour, mark: Colour) -> int:
    """A warning triangle with "!" whose top-left corner is (x, y); returns its width."""
    size = max(6, int(size))
    pts = np.array([[x + size // 2, y], [x + size, y + size], [x, y + size]], np.int32)
    cv2.fillPoly(canvas, [pts], fill, cv2.LINE_AA)
    bar = max(1, size // 8)
    cx = x + size // 2
    cv2.rectangle(canvas, (cx - bar // 2, y + size * 3 // 8), (cx + (bar - 1) // 2 + 1, y + size * 3 // 4), mark, -1)
    cv2.rectangle(canvas, (cx - bar // 2, y + size * 13 // 16), (cx + (bar - 1) // 2 + 1, y + size * 15 // 16), mark, -1)
    return size


def wrap(text: str, width: int, px: float, bold: bool = False, max_lines: int = 2) -> list[str]:
    """Greedy word wrap of text into at most max_lines lines of `width` pixels at px (the last
    line keeps the rest; draw_text shrinks it if it is still too long)."""
    scale = scale_for(px, bold)
    words = ascii_text(text).split()
    lines: list[str] = []
    while words and len(lines) < max_lines - 1:
        n = 1
        while n < len(words) and text_width(" ".join(words[: n + 1]), scale, bold) <= width:
            n += 1
        lines.append(" ".join(words[:n]))
        words = words[n:]
    if words:
        lines.append(" ".join(words))
    return lines
