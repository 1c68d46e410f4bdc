"""Vessel overlays as premultiplied BGRA layers (numpy only), drawn above the photos.

Opacity is applied by the canvas item (no pixel work), so the slider is instant.
Colours follow UI.md: both = light yellow, only after = cyan, only before = magenta.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from app.style import COLOR_BOTH, COLOR_ONLY_AFTER, COLOR_ONLY_BEFORE


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
    return mask_layer([(binary, COLOR_BOTH)], binary.shape[:2])


def difference_layer(comparison: Any) -> np.ndarray:
    """Three-colour difference from a core.vessels.VesselComparison."""
    both = np.asarray(comparison.both, bool)
    return mask_layer(
        [(both, COLOR_BOTH), (comparison.only_after, COLOR_ONLY_AFTER), (comparison.only_before, COLOR_ONLY_BEFORE)],
        both.shape[:2],
    )


def warning_boxes(comparison: Any, pad: int = 6) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) boxes around hallucination regions, whatever form the engine gives them."""
    boxes: list[tuple[int, int, int, int]] = []
    for region in getattr(comparison, "hallucination_regions", None) or getattr(comparison, "regions", None) or []:
        box = getattr(region, "bbox", region)
        if isinstance(box, dict):
            x, y, w, h = box["x"], box["y"], box["w"], box["h"]
        else:
            x, y, w, h = (int(v) for v in box[:4])
        boxes.append((int(x) - pad, int(y) - pad, int(w) + 2 * pad, int(h) + 2 * pad))
    return boxes
