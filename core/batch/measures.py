"""Per-photo measures and thumbnails for the batch report.

No-reference measures (illumination uniformity, vessel contrast-to-noise, sharpness...) come from
core.evaluation.noref and are taken on the original and the enhanced photo alike.
Vessel measures (Dice between the vessel maps before and after, hallucination warnings)
need an installed vessel model; without one those columns stay empty and the report says why.
Measures run at a reduced size (long side MEASURE_SIDE) so that a batch of 12-megapixel
photos is not slowed down by its own report.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from core.errors import FundusError
from core.evaluation import noref

MEASURE_SIDE = 1024
THUMB_SIDE = 200
NO_VESSEL_MODEL = "No vessel model is installed: vessel comparison not measured."
VESSELS_OFF = ("Vessel comparison was not requested (it segments every photo twice, tens of seconds "
               "per photo on a CPU): turn it on with --vessels on, or 'Compare vessels' in the batch panel.")


def _scaled(arr: np.ndarray, side: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = arr.shape[:2]
    f = side / max(h, w)
    if f >= 1.0:
        return arr
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(arr, size, interpolation=interpolation)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)


def thumbnail_jpeg(pixels: np.ndarray, side: int = THUMB_SIDE, quality: int = 85) -> bytes:
    """A small JPEG of the photo (for the report and the batch table)."""
    small = to_uint8(_scaled(pixels, side))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""


def _finite(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return round(v, 5) if np.isfinite(v) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


class Measurer:
    """Computes the report's per-photo measures; one instance per run (holds the vessel model)."""

    def __init__(self, segmenter: Any = None, side: int = MEASURE_SIDE, note: str = NO_VESSEL_MODEL) -> None:
        self.segmenter = segmenter
        self.side = side
        self.note = note  # why there are no vessel measures, when segmenter is None

    @classmethod
    def with_installed_models(cls, device: str = "cpu", vessels: bool = True, registry: Any = None) -> "Measurer":
        """Use the active vessel model (of `registry`, default the user's) when one is installed and asked for."""

        if not vessels:
            return cls(None, note=VESSELS_OFF)
        try:
            from core.models.registry import ModelRegistry  # noqa: PLC0415 - torch loads only when vessels are measured
            from core.vessels import VesselSegmenter  # noqa: PLC0415 - torch loads only when vessels are measured

            installed = (registry or ModelRegistry()).active("vessel")
            segmenter = VesselSegmenter(installed, device=device) if installed is not None else None
        except (FundusError, ImportError):
            segmenter = None
        return cls(segmenter)

    def measure(self, before: np.ndarray, after: np.ndarray, fov: np.ndarray) -> dict[str, Any]:
        """Measures of the original and the enhanced photo; {name: value}, None where not measured."""
        b = _scaled(before, self.side)
        a = _scaled(after, self.side)
        m = _scaled(fov.astype(np.uint8), self.side, cv2.INTER_NEAREST).astype(bool)
        out: dict[str, Any] = {}
        if m.any():
            out.update(noref_measures(b, a, m))
        out.update(self.vessel_measures(b, a, m))
        return {k: _finite(v) for k, v in out.items()}

    def vessel_measures(self, before: np.ndarray, after: np.ndarray, fov: np.ndarray) -> dict[str, Any]:
        if self.segmenter is None:
            return {"vessel_note": self.note}
        from core.vessels import compare_vessels  # noqa: PLC0415 - torch loads only when vessels are measured

        vb = self.segmenter.segment(before, fov)
        va = self.segmenter.segment(after, fov)
        cmp = compare_vessels(vb, va, fov, original_rgb=as_unit_float(before))
        return _comparison_fields(cmp, getattr(self.segmenter, "name", ""))


def _comparison_fields(cmp: Any, model_name: str) -> dict[str, Any]:
    """The report's columns from a core.vessels.VesselComparison."""
    regions = list(getattr(cmp, "hallucinations", []) or [])
    return {
        "vessel_dice": cmp.dice,
        "vessel_density_before": cmp.density_before,
        "vessel_density_after": cmp.density_after,
        "hallucination_warnings": len(regions),
        "vessel_note": (getattr(cmp, "warning", "") or "") + (f" (vessel model {model_name})" if model_name else ""),
    }


def as_unit_float(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype.kind == "f":
        return pixels.astype(np.float32, copy=False)
    return pixels.astype(np.float32) / float(np.iinfo(pixels.dtype).max)


def noref_measures(before: np.ndarray, after: np.ndarray, fov: np.ndarray) -> dict[str, Any]:
    """No-reference measures (core.evaluation.noref) of both photos: `<name>_before`, `<name>_after`,
    and `colour_shift` (how far the enhanced colours moved from the original's)."""

    b, a = as_unit_float(before), as_unit_float(after)
    out = {f"{k}_before": v for k, v in noref.measure_all(b, fov).items()}
    after_values = noref.measure_all(a, fov, reference=b)
    out["colour_shift"] = after_values.pop("colour_shift", None)
    out.update({f"{k}_after": v for k, v in after_values.items()})
    return out
