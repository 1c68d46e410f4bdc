"""A labelled grid of images (before/after, degradation types) for people to look at.

Used by tools/make_degradation_sheet.py and by `fundus-studio evaluate`.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from core.errors import OutputError

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (24, 24, 24)
_FG = (235, 235, 235)


def to_uint8_rgb(img: np.ndarray) -> np.ndarray:
    """Any of float [0,1], uint8, uint16; gray, RGB or RGBA -> uint8 RGB."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        out = a
    elif a.dtype == np.uint16:
        out = (a.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif a.dtype == bool:
        out = a.astype(np.uint8) * 255
    else:
        out = np.clip(np.rint(a.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    elif out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    elif out.shape[2] == 4:
        out = out[..., :3]
    return np.ascontiguousarray(out)


def _fit(img: np.ndarray, cell: int) -> np.ndarray:
    """Scale to fit a cell x cell square, keep the aspect ratio, centre on a dark background."""
    u8 = to_uint8_rgb(img)
    h, w = u8.shape[:2]
    s = cell / max(h, w)
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(u8, (nw, nh), interpolation=interp)
    out = np.zeros((cell, cell, 3), np.uint8)
    y0, x0 = (cell - nh) // 2, (cell - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out


def _put_text(canvas: np.ndarray, text: str, x: int, y: int, max_width: int, scale: float) -> None:
    """Draw text shrunk until it fits max_width; long labels wrap onto a second line by words."""
    lines = [text]
    (tw, _), _ = cv2.getTextSize(text, _FONT, scale, 1)
    if tw > max_width and " " in text:
        words = text.split(" ")
        half = max(1, len(words) // 2)
        lines = [" ".join(words[:half]), " ".join(words[half:])]
    for i, line in enumerate(lines):
        s = scale
        while s > 0.25 and cv2.getTextSize(line, _FONT, s, 1)[0][0] > max_width:
            s *= 0.9
        cv2.putText(canvas, line, (x, y + int(i * 22 * scale / 0.5)), _FONT, s, _FG, 1, cv2.LINE_AA)


def make_contact_sheet(
    rows: Sequence[Sequence[np.ndarray | None]],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    cell: int = 256,
    title: str | None = None,
) -> np.ndarray:
    """Grid of images with column labels on top and row labels on the left; returns uint8 RGB.

    Rows may differ in length; a None cell stays empty. Each image is scaled to fit its cell.
    """
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    ncols = max(len(r) for r in rows)
    scale = max(0.35, cell / 512.0)
    label_w = 0
    if row_labels:
        label_w = max(90, int(cell * 0.55))
    head_h = int(34 * scale / 0.5) if col_labels else 0
    title_h = int(40 * scale / 0.5) if title else 0
    gap = 4
    H = title_h + head_h + len(rows) * (cell + gap) + gap
    W = label_w + ncols * (cell + gap) + gap
    canvas = np.full((H, W, 3), _BG, np.uint8)
    if title:
        _put_text(canvas, title, gap + 4, int(title_h * 0.7), W - 2 * gap, scale * 1.2)
    if col_labels:
        for j, lab in enumerate(col_labels[:ncols]):
            x = label_w + gap + j * (cell + gap)
            _put_text(canvas, str(lab), x + 4, title_h + int(head_h * 0.45), cell - 8, scale)
    for i, row in enumerate(rows):
        y = title_h + head_h + gap + i * (cell + gap)
        if row_labels and i < len(row_labels):
            _put_text(canvas, str(row_labels[i]), 6, y + cell // 2, label_w - 10, scale)
        for j, img in enumerate(row):
            if img is None:
                continue
            x = label_w + gap + j * (cell + gap)
            canvas[y : y + cell, x : x + cell] = _fit(img, cell)
    return canvas


def save_png(path, sheet: np.ndarray) -> None:
    """Write an RGB uint8 sheet as PNG (cv2 wants BGR)."""
    ok = cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"The contact sheet could not be written to {path}.")
