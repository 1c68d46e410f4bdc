"""Heat maps of what a structured MAGE-Net did to a photo (the viewer's "What changed" overlay).

Plain numpy, no Qt: the GUI draws these RGBA layers, and export or a report could too.
Colours stay clear of the vessel overlay's (white/yellow, cyan, magenta, amber boxes) and of
blood and lesion colours as far as a heat map can:

- illumination gain: diverging on a log scale, blue where the photo was darkened, orange where
  it was brightened, transparent where it was left alone (gain 1);
- veil removed: violet; detail gain: green where sharpened, pale grey-blue where softened;
  both transparent at zero.

Opacity grows with the size of the change, so an untouched region shows the photo itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.structured_bounds import MAX_DETAIL_GAIN, MAX_GAIN, MIN_DETAIL_GAIN, MIN_GAIN

KINDS = ("gain", "veil", "detail_gain")
LABELS = {
    "gain": "Illumination gain",
    "veil": "Veil removed",
    "detail_gain": "Detail gain (sharpening)",
}
_DARKER = np.array([40, 110, 230], np.float32)  # blue
_BRIGHTER = np.array([245, 140, 20], np.float32)  # orange
_VEIL = np.array([150, 70, 220], np.float32)  # violet
_DETAIL = np.array([40, 200, 90], np.float32)  # green
_SMOOTHED = np.array([170, 170, 200], np.float32)  # pale grey-blue: detail softened (noise)
MAX_VEIL_SHOWN = 0.3
"""Veil (image units) drawn at full strength; more is shown the same."""


@dataclass(frozen=True)
class LegendStop:
    value: float
    rgba: tuple[int, int, int, int]
    label: str


def _strength(kind: str, values: np.ndarray) -> np.ndarray:
    """-1..1 for the gain (log scale, negative = darkened), 0..1 for the others."""
    if kind == "gain":
        lg = np.log(np.clip(values, MIN_GAIN, MAX_GAIN))
        return np.where(lg >= 0, lg / math.log(MAX_GAIN), lg / -math.log(MIN_GAIN))
    if kind == "veil":
        return np.clip(values / MAX_VEIL_SHOWN, 0.0, 1.0)
    if kind == "detail_gain":  # signed: negative = smoothed
        return np.where(values >= 0, values / MAX_DETAIL_GAIN, values / -MIN_DETAIL_GAIN).clip(-1.0, 1.0)
    raise ValueError(f"unknown field {kind!r}; choose one of {', '.join(KINDS)}")


def _colour(kind: str, s: np.ndarray) -> np.ndarray:
    """RGBA float for strengths s (same rule as the layer)."""
    a = np.abs(s)
    if kind == "gain":
        rgb = np.where((s >= 0)[..., None], _BRIGHTER, _DARKER)
    elif kind == "detail_gain":
        rgb = np.where((s >= 0)[..., None], _DETAIL, _SMOOTHED)
    else:
        rgb = np.broadcast_to(_VEIL if kind == "veil" else _DETAIL, (*s.shape, 3))
    alpha = 255.0 * np.sqrt(a)  # small changes stay visible
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def heat_layer(values: np.ndarray, fov: np.ndarray, kind: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """RGBA uint8 layer of one field map (HxW), transparent outside the FOV, resized to `shape` (H, W)."""
    s = _strength(kind, values.astype(np.float32))
    rgba = _colour(kind, s)
    rgba[..., 3] *= fov.astype(np.float32)
    out = np.clip(rgba + 0.5, 0, 255).astype(np.uint8)
    if shape is not None and out.shape[:2] != tuple(shape):
        out = cv2.resize(out, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
    return out


def legend(kind: str) -> list[LegendStop]:
    """Stops from the lowest to the highest value, for a legend beside the overlay."""
    if kind == "gain":
        values = [MIN_GAIN, 0.75, 1.0, 1.5, MAX_GAIN]
        labels = [f"\u00d7{v:g}" for v in values]
    elif kind == "veil":
        values = [0.0, 0.1, 0.2, MAX_VEIL_SHOWN]
        labels = ["0", "0.1", "0.2", f"\u2265{MAX_VEIL_SHOWN:g}"]
    else:
        values = [MIN_DETAIL_GAIN, 0.0, 0.5, 1.0, 2.0, MAX_DETAIL_GAIN]
        labels = [f"{v:g}" for v in values]
    rgba = _colour(kind, _strength(kind, np.asarray(values, np.float32)))
    return [LegendStop(float(v), tuple(int(round(c)) for c in rgba[i]), lab) for i, (v, lab) in enumerate(zip(values, labels))]
