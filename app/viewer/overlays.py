"""Vessel overlays as premultiplied BGRA layers (numpy only), drawn above the photos.

Opacity is applied by the canvas item (no pixel work), so the slider is instant.
Colours follow UI.md: both = light yellow, only after = cyan, only before = magenta.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from core.colours import COLOUR_BOTH, COLOUR_ONLY_AFTER, COLOUR_ONLY_BEFORE


def mask_layer(layers: Iterable[tuple[np.ndarray, tuple[int, int, int]]], shape: tuple[int, int]) -> np.ndarray:
    """HxWx4 BGRA premultiplied (opaque where a mask is set, later masks on top)."""
    out = np.zeros((shape[0], shape[1], 4), np.uint8)
    for mask, (r, g, b) in layers:
        if mask is None:
            continue
        m = np.asarray(mask, bool)
        out[m] = (b, g, r, 255)
    return out


def vessel_layer(binary: np.ndarray) -> np.ndarray:
    """One vessel map in light yellow."""
    return mask_layer([(binary, COLOUR_BOTH)], binary.shape[:2])


def difference_layer(comparison: Any) -> np.ndarray:
    """Three-colour difference from a core.vessels.VesselComparison."""
    both = np.asarray(comparison.both, bool)
    return mask_layer(
        [(both, COLOUR_BOTH), (comparison.only_after, COLOUR_ONLY_AFTER), (comparison.only_before, COLOUR_ONLY_BEFORE)],
        both.shape[:2],
    )


def warning_boxes(comparison: Any, pad: int = 6) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) boxes around core.vessels hallucination regions (bbox = x0, y0, x1, y1)."""
    boxes: list[tuple[int, int, int, int]] = []
    for region in getattr(comparison, "hallucinations", None) or []:
        x0, y0, x1, y1 = (int(v) for v in region.bbox)
        boxes.append((x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad))
    return boxes


def premultiplied_bgra(rgba: np.ndarray) -> np.ndarray:
    """A straight-alpha RGBA uint8 layer (e.g. core.what_changed.heat_layer) in the canvas's
    premultiplied BGRA: colours above their alpha would overflow into other hues."""
    a = rgba[..., 3:4].astype(np.uint16)
    out = np.empty_like(rgba)
    out[..., :3] = ((rgba[..., 2::-1].astype(np.uint16) * a + 127) // 255).astype(np.uint8)
    out[..., 3] = rgba[..., 3]
    return out
