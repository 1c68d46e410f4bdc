"""Export files: the enhanced photo, a comparison and the vessel overlay, each with a sidecar.

Everything goes through core.imaging.write (atomic, JSON provenance sidecar, refuses the
original). Comparison and overlay images carry the burned-in "Not for diagnostic use" band
(core.export.compose), because they are the images that travel in e-mails and slide decks.
The GUI exports into a folder without ever replacing an earlier file (unique_path); the CLI
and the batch write fixed names next to their enhanced outputs (write_comparison).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from core import DISCLAIMER, __version__
from core.errors import OutputError
from core.export.compose import compose, guard_note, split_view, to_uint8
from core.imaging import WrittenFile, write

FORMATS = {"png": (".png", None, "PNG"), "tiff16": (".tif", 16, "16-bit TIFF"), "jpeg": (".jpg", None, "JPEG")}
"""GUI export formats: key -> (suffix, bit depth or None for the photo's own, title)."""
LAYOUTS = ("side", "split")
"""Comparison layouts: original and enhanced side by side, or one picture split at a divider."""
VESSEL_KEY = "Vessels: yellow both - cyan only enhanced - magenta only original - amber box possible hallucination"


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """`stem+suffix`, or `stem-2+suffix`... so an export never replaces an earlier one."""
    p = folder / f"{stem}{suffix}"
    n = 2
    while p.exists():
        p = folder / f"{stem}-{n}{suffix}"
        n += 1
    return p


def out_folder(folder: str | os.PathLike[str]) -> Path:
    """The folder, created if needed; a folder that cannot be made is an OutputError, not a traceback."""
    out = Path(folder).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the output folder '{out}': {exc.strerror or exc}.") from exc
    return out


def model_title(result: Any) -> str:
    """'MAGE-Net-S 1.0' from an EnhancementResult's model_info."""
    info = getattr(result, "model_info", {}) or {}
    return f"{info.get('name', 'model')} {info.get('version', '')}".strip()


def mode_title(result: Any) -> str:
    return "high quality" if getattr(result, "mode", "") == "tiled" else str(getattr(result, "mode", ""))


def footer_text(image: Any, result: Any, when: datetime | None = None) -> str:
    """The line in the disclaimer band: which photo, which model, which software, when."""
    stamp = (when or datetime.now()).strftime("%Y-%m-%d %H:%M")
    return f"{image.name}  \u00b7  {model_title(result)} ({mode_title(result)})  \u00b7  Fundus Studio {__version__}  \u00b7  {stamp}"


def _provenance(image: Any, result: Any, kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    prov = result.provenance(image)
    prov["output_kind"] = kind
    if extra:
        prov.update(extra)
    return prov


def export_enhanced(image: Any, result: Any, folder: str | os.PathLike[str], fmt: str = "png") -> WrittenFile:
    """The enhanced photo at full resolution; 16-bit TIFF keeps 16-bit inputs exact."""
    suffix, depth, _title = FORMATS[fmt]
    out = unique_path(out_folder(folder), f"{Path(image.name).stem}_enhanced", suffix)
    return write(out, result.pixels, provenance=_provenance(image, result, "enhanced"),
                 input_path=image.source_path, bit_depth=depth)


def comparison_image(image: Any, result: Any, layout: str = "side", divider: float = 0.5,
                     when: datetime | None = None) -> np.ndarray:
    """The comparison picture of one enhancement: "side" (two panels) or "split" (one, divided)."""
    enhanced = f"Enhanced \u00b7 {model_title(result)} ({mode_title(result)})"
    if layout == "side":
        panels = [(image.pixels, "Original"), (result.pixels, enhanced)]
    elif layout == "split":
        panels = [(split_view(image.pixels, result.pixels, divider), f"Original (left) | {enhanced} (right)")]
    else:
        raise ValueError(f"unknown comparison layout {layout!r} (one of {', '.join(LAYOUTS)})")
    return compose(panels, footer_text(image, result, when), warning=guard_note(result))


def write_comparison(dest: str | os.PathLike[str], image: Any, result: Any, layout: str = "side",
                     divider: float = 0.5, protected: Iterable[str | os.PathLike[str]] = ()) -> WrittenFile:
    """Write comparison_image to `dest` (a PNG) with its sidecar."""
    rgb = comparison_image(image, result, layout, divider)
    extra = {"burned_in": DISCLAIMER, "layout": layout}
    if guard_note(result):
        extra["burned_in_warning"] = guard_note(result)
    return write(dest, rgb, provenance=_provenance(image, result, "comparison", extra),
                 input_path=image.source_path, protected=protected)


def export_comparison(image: Any, result: Any, folder: str | os.PathLike[str], layout: str = "side",
                      divider: float = 0.5) -> WrittenFile:
    """The comparison into `folder`, never replacing an earlier export."""
    tag = "_comparison" if layout == "side" else "_split"
    return write_comparison(unique_path(out_folder(folder), f"{Path(image.name).stem}{tag}", ".png"),
                            image, result, layout, divider)


def vessel_overlay_image(image: Any, result: Any, comparison: Any, opacity: float = 0.7,
                         when: datetime | None = None) -> np.ndarray:
    """The enhanced photo with the three-colour vessel comparison and suspect-region boxes, under
    its colour key, with the bands."""
    # core.vessels needs torch; a VesselComparison to draw exists only once torch is loaded.
    from core.vessels import difference_overlay  # noqa: PLC0415

    over = np.asarray(difference_overlay(to_uint8(result.pixels), comparison, opacity))
    return compose([(over, VESSEL_KEY)], footer_text(image, result, when), warning=guard_note(result))


def export_vessel_overlay(image: Any, result: Any, payload: Any, folder: str | os.PathLike[str],
                          opacity: float = 0.7) -> WrittenFile:
    """The vessel overlay (payload: the engine's VesselPayload) into `folder`, with the vessel
    model and measures in its sidecar."""
    comparison = payload.comparison
    rgb = vessel_overlay_image(image, result, comparison, opacity)
    extra = {
        "burned_in": DISCLAIMER,
        "vessel_model": payload.model_name,
        "vessel_measures": {
            k: float(getattr(comparison, k))
            for k in ("density_before", "density_after", "dice")
            if getattr(comparison, k, None) is not None
        },
    }
    out = unique_path(out_folder(folder), f"{Path(image.name).stem}_vessels", ".png")
    return write(out, rgb, provenance=_provenance(image, result, "vessel_overlay", extra), input_path=image.source_path)
