"""Export images people pass on: comparisons, vessel overlays, with the disclaimer burned in.

Drawn with numpy and OpenCV only (no Qt), so the GUI, `fundus-studio enhance --comparison`
and the batch write the same pictures:

- core.export.text: labels with cv2's Hershey fonts (ASCII; other characters are transliterated)
- core.export.compose: panels side by side or split, title row, guard warning and disclaimer bands
- core.export.files: the files themselves, through core.imaging.write (atomic, with sidecars)
"""

from core.export.compose import compose, guard_note, split_view, to_uint8
from core.export.files import (
    FORMATS,
    comparison_image,
    export_comparison,
    export_enhanced,
    export_vessel_overlay,
    footer_text,
    model_title,
    unique_path,
    vessel_overlay_image,
    write_comparison,
)

__all__ = [
    "FORMATS",
    "comparison_image",
    "compose",
    "export_comparison",
    "export_enhanced",
    "export_vessel_overlay",
    "footer_text",
    "guard_note",
    "model_title",
    "split_view",
    "to_uint8",
    "unique_path",
    "vessel_overlay_image",
    "write_comparison",
]
