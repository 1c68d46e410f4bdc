"""Checks and messages shared by every image decoder (Pillow, TIFF, DICOM): size limits,
grayscale and damaged-file errors, and stretching n-bit values to their container.

One module below both core.imaging.reader and core.imaging.dicom, so neither imports the other
for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import ImageReadError, UnsupportedImageError

MIN_SIDE = 64
"""Smallest side (pixels) we accept: below this there is no retina to enhance."""

MAX_PIXELS = 100_000_000
"""Largest image (pixels) we open; checked from the header before decoding."""


def check_dimensions(width: int, height: int, name: str) -> None:
    """Refuse images too small to hold a retina, or too large to decode safely (header values)."""
    if width < MIN_SIDE or height < MIN_SIDE:
        raise UnsupportedImageError(
            f"'{name}' is only {width} x {height} pixels. A fundus photograph needs at least "
            f"{MIN_SIDE} pixels on each side."
        )
    if width * height > MAX_PIXELS:
        raise UnsupportedImageError(
            f"'{name}' is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"Fundus Studio opens photographs up to {MAX_PIXELS // 1_000_000} megapixels."
        )


def grayscale_error(name: str) -> UnsupportedImageError:
    return UnsupportedImageError(
        f"'{name}' is a black-and-white (grayscale) image. Fundus Studio enhances colour fundus "
        "photographs; please open the colour original."
    )


def damaged_error(name: str, what: str = "") -> ImageReadError:
    kind = f" {what}" if what else ""
    return ImageReadError(
        f"The{kind} image '{name}' is damaged or incomplete (it may have been cut off while copying "
        "or downloading). Try copying the original again."
    )


def scale_to_container(arr: np.ndarray, bits_stored: int, meta: dict[str, Any]) -> np.ndarray:
    """Stretch e.g. 12-bit values (0..4095) in a uint16 array linearly to 0..65535.

    Downstream code assumes the full 8/16-bit range; the original figure stays in metadata.
    """
    container = arr.dtype.itemsize * 8
    if bits_stored >= container or bits_stored <= 0:
        return arr
    top = (1 << bits_stored) - 1
    full = (1 << container) - 1
    wide = np.minimum(arr.astype(np.uint32), top)
    scaled = (wide * full + top // 2) // top
    meta["bits_stored"] = bits_stored
    meta["scaled_to_full_range"] = True
    meta["notes"].append(f"{bits_stored}-bit values were scaled linearly to the full {container}-bit range.")
    return scaled.astype(arr.dtype)
