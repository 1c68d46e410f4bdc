"""Read a fundus photograph from disk into a FundusImage, or fail with a clear typed error.

The format is taken from the file's content, not its name, so a text file renamed
`.jpg` is reported as "not an image". Sizes are checked from the header before any
pixels are decoded, so a huge or hostile file cannot exhaust memory. Truncated files
are rejected (Pillow with LOAD_TRUNCATED_IMAGES off, libpng/libtiff errors, TIFF strip
bounds), never silently returned half grey.

Output: H x W x 3 RGB, uint8 (bit_depth 8) or uint16 (bit_depth 16), orientation applied.
Data stored with fewer bits in a 16-bit container (e.g. 12-bit DICOM) is scaled linearly
to the full 16-bit range; `metadata["bits_stored"]` keeps the original figure.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from core.errors import ImageReadError, UnsupportedImageError
from core.imaging.dicom import read_dicom
from core.imaging.pixel_checks import MAX_PIXELS, check_dimensions, damaged_error, grayscale_error, scale_to_container
from core.imaging.suffixes import DICOM_SUFFIXES
from core.imaging.types import FundusImage
from core.provenance import sha256_bytes

MAX_FILE_BYTES = 2 * 1024**3
"""Largest file we read into memory (2 GiB)."""

SUPPORTED_TEXT = "PNG, JPEG, TIFF, BMP and DICOM"

# Pillow's own decompression-bomb guard then agrees with ours (it warns above this figure,
# and refuses above twice it); we check first, so the user sees our message.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False

_PIL_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP", "DIB": "BMP"}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_EXIF_ORIENTATION = 0x0112
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def read(path: str | os.PathLike[str]) -> FundusImage:
    """Read a colour fundus photograph (PNG, JPEG, TIFF 8/16-bit, BMP, DICOM).

    Raises ImageReadError (missing, empty, damaged, not an image) or
    UnsupportedImageError (too small/large, grayscale, transparency, other formats).

    metadata always holds: format, original_mode, channels, width, height, bit_depth,
    exif_orientation, file_size, notes (plain-language remarks for the user); and where
    they apply: alpha, icc_profile, pages, frames/frame_used, bits_stored +
    scaled_to_full_range, looks_grayscale, laterality, dicom (technical tags only).
    """
    src = Path(path)
    name = src.name or str(src)
    data = _read_bytes(src, name)
    meta: dict[str, Any] = {"file_size": len(data), "notes": []}

    if _looks_like_dicom(data, src.suffix):
        rgb, bit_depth = read_dicom(data, name, meta)
        meta["exif_orientation"] = 1
    elif data[:4] in _TIFF_MAGIC:
        rgb, bit_depth = _read_tiff(data, name, meta)
    else:
        rgb, bit_depth = _read_with_pillow(data, name, meta)

    if not (rgb.flags.writeable and rgb.flags.c_contiguous and rgb.flags.owndata):
        rgb = np.array(rgb, order="C", copy=True)  # callers may edit pixels in place
    meta["height"], meta["width"] = int(rgb.shape[0]), int(rgb.shape[1])
    meta["bit_depth"] = bit_depth
    if _channels_identical(rgb):
        meta["looks_grayscale"] = True
        meta["notes"].append("All three colour channels are identical: this looks like a black-and-white photo.")
    return FundusImage(
        pixels=rgb,
        bit_depth=bit_depth,
        source_sha256=sha256_bytes(data),
        source_path=src,
        metadata=meta,
    )


# ---------------------------------------------------------------- shared checks


def _read_bytes(src: Path, name: str) -> bytes:
    """Read the whole file once (it is hashed and decoded from the same bytes)."""
    try:
        if not src.exists():
            raise ImageReadError(f"The file '{name}' was not found. It may have been moved, renamed or deleted.")
        if src.is_dir():
            raise ImageReadError(f"'{name}' is a folder, not an image file.")
        size = src.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UnsupportedImageError(
                f"'{name}' is {size / 1024**3:.1f} GB; Fundus Studio opens files up to "
                f"{MAX_FILE_BYTES // 1024**3} GB."
            )
        data = src.read_bytes()
    except PermissionError as exc:
        raise ImageReadError(f"'{name}' could not be opened: permission denied.") from exc
    except OSError as exc:
        raise ImageReadError(f"'{name}' could not be read: {exc.strerror or exc}.") from exc
    if not data:
        raise ImageReadError(f"The file '{name}' is empty (0 bytes). It may not have finished copying.")
    return data


def resolve_alpha(rgba: np.ndarray, name: str, meta: dict[str, Any]) -> np.ndarray:
    """RGBA -> RGB without inventing colours.

    Opaque alpha is dropped; fully transparent areas (e.g. a background cut away around
    the retina) become black, like a fundus camera's border; semi-transparent pixels would
    need a colour we do not know, so they are refused.
    """
    top = np.iinfo(rgba.dtype).max
    alpha = rgba[..., 3]
    rgb = rgba[..., :3]
    if bool((alpha == top).all()):
        meta["alpha"] = "opaque alpha channel dropped"
        return rgb
    if bool(((alpha != 0) & (alpha != top)).any()):
        raise UnsupportedImageError(
            f"'{name}' has semi-transparent areas, so its true colours are unknown. Save the photograph "
            "without transparency (for example as JPEG or an RGB PNG) and open it again."
        )
    clear = alpha == 0
    rgb = rgb.copy()
    rgb[clear] = 0
    share = float(clear.mean()) * 100.0
    meta["alpha"] = f"transparent areas ({share:.1f}% of pixels) shown as black"
    meta["notes"].append(f"Transparent areas ({share:.1f}% of the image) were treated as black background.")
    return rgb


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF/TIFF orientation tag (1..8) so the photo is upright, as viewers show it."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1, :]
    if orientation == 5:
        return arr.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(arr, k=-1)
    if orientation == 7:
        return arr[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(arr, k=1)
    return arr


def _channels_identical(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _looks_like_dicom(data: bytes, suffix: str) -> bool:
    """DICOM by its 'DICM' marker, or by name when the content is no other known image."""
    if data[128:132] == b"DICM":
        return True
    other = data[:4] in _TIFF_MAGIC or data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff"
    return suffix.lower() in DICOM_SUFFIXES and not other


def _valid_orientation(value: Any, meta: dict[str, Any]) -> int:
    try:
        orientation = int(value)
    except (TypeError, ValueError):
        return 1
    if 1 <= orientation <= 8:
        return orientation
    meta["notes"].append(f"Ignored an invalid orientation tag ({orientation}).")
    return 1


# ---------------------------------------------------------------- PNG / JPEG / BMP


def _png_header(data: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG IHDR, or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 26:
        return data[24], data[25]
    return None


def _open_pillow(data: bytes, name: str) -> Image.Image:
    """Open (header only) with Pillow; map its errors and bomb guard to ours."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"about {int(found.group(1)) / 1e6:.0f} megapixels" if found else "too large"
        raise UnsupportedImageError(
            f"'{name}' is {size}; Fundus Studio opens photographs up to {MAX_PIXELS // 1_000_000} megapixels."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            f"'{name}' does not contain an image Fundus Studio can read. It may be another kind of file, "
            f"or damaged. Supported formats: {SUPPORTED_TEXT}."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise damaged_error(name) from exc


def _read_with_pillow(data: bytes, name: str, meta: dict[str, Any]) -> tuple[np.ndarray, int]:
    """PNG, JPEG, BMP: upright RGB and its bit depth; `meta` filled in place."""
    im = _open_pillow(data, name)
    fmt = _PIL_FORMATS.get(im.format or "")
    if fmt is None:
        raise UnsupportedImageError(
            f"'{name}' is a {im.format or 'unknown'} image; Fundus Studio reads {SUPPORTED_TEXT}."
        )
    width, height = im.size
    meta.update(format=fmt, original_mode=im.mode, channels=len(im.getbands()))
    if "icc_profile" in im.info:
        meta["icc_profile"] = True
    check_dimensions(width, height, name)
    try:
        orientation = _valid_orientation(im.getexif().get(_EXIF_ORIENTATION, 1), meta)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not stop the photo from opening
        orientation = 1
        meta["notes"].append("The EXIF block could not be read; orientation left as stored.")
    meta["exif_orientation"] = orientation

    png = _png_header(data)
    if fmt == "PNG" and png is not None and png[0] == 16 and png[1] in (2, 6):
        meta["original_mode"] = "RGBA;16" if png[1] == 6 else "RGB;16"
        return apply_orientation(_decode_png16(data, name, meta), orientation), 16

    mode = im.mode
    if mode in _GRAY_MODES:
        raise grayscale_error(name)
    if fmt == "JPEG" and mode == "RGB":
        fast = _decode_jpeg_cv2(data, width, height)
        if fast is not None:
            return apply_orientation(fast, orientation), 8
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnsupportedImageError(f"'{name}' is too large to open safely.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise damaged_error(name, fmt) from exc

    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in im.info
        converted = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
        if _channels_identical(converted[..., :3]):
            raise grayscale_error(name)
        meta["notes"].append("Palette (indexed-colour) image converted to RGB.")
        rgb = resolve_alpha(converted, name, meta) if has_alpha else converted
    elif mode == "RGBA":
        rgb = resolve_alpha(np.asarray(im), name, meta)
    elif mode == "RGB":
        rgb = np.asarray(im)
    elif mode in ("CMYK", "YCbCr", "RGBX"):
        meta["notes"].append(f"{mode} image converted to RGB.")
        rgb = np.asarray(im.convert("RGB"))
    else:
        raise UnsupportedImageError(f"'{name}' uses the colour mode {mode}, which Fundus Studio cannot read.")
    return apply_orientation(rgb, orientation), 8


def _decode_jpeg_cv2(data: bytes, width: int, height: int) -> np.ndarray | None:
    """A complete colour JPEG decoded by OpenCV's libjpeg-turbo (about twice as fast as Pillow
    on a 3504 x 2336 photo); None leaves it to Pillow.

    Only for files that end with the JPEG end-of-image marker: OpenCV decodes a cut-off file
    with grey where the data stops, and Pillow is the one that reports it as damaged.
    """
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return None
    flags = getattr(cv2, "IMREAD_COLOR_RGB", None)
    try:
        if flags is not None:
            arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
        else:
            arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
            arr = None if arr is None else cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    except cv2.error:
        return None
    if arr is None or arr.shape != (height, width, 3) or arr.dtype != np.uint8:
        return None
    return arr


def _decode_png16(data: bytes, name: str, meta: dict[str, Any]) -> np.ndarray:
    """16-bit colour PNG: Pillow would cut it to 8 bits, so libpng (OpenCV) decodes it."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 3 or arr.dtype != np.uint16:
        raise damaged_error(name, "PNG")
    meta["channels"] = int(arr.shape[2])
    if arr.shape[2] == 4:
        return resolve_alpha(cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA), name, meta)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------- TIFF


def _read_tiff(data: bytes, name: str, meta: dict[str, Any]) -> tuple[np.ndarray, int]:
    """TIFF: upright RGB and its bit depth; sizes, grayscale and strip bounds checked first."""
    import tifffile  # noqa: PLC0415 - kept out of what the GUI imports at start-up

    meta["format"] = "TIFF"
    try:
        tif = tifffile.TiffFile(io.BytesIO(data))
    except Exception as exc:  # tifffile raises many types on a broken header
        raise damaged_error(name, "TIFF") from exc
    with tif:
        if not tif.pages:
            raise damaged_error(name, "TIFF")
        page = tif.pages[0]
        if len(tif.pages) > 1:
            meta["pages"] = len(tif.pages)
            meta["notes"].append(f"The TIFF holds {len(tif.pages)} pages; only the first was used.")
        height, width = int(page.imagelength), int(page.imagewidth)
        samples = int(page.samplesperpixel)
        photometric = int(page.photometric)
        bits = page.bitspersample
        bits = int(bits[0] if isinstance(bits, tuple) else bits)
        meta.update(original_mode=f"{page.photometric.name} {bits}-bit", channels=samples)
        check_dimensions(width, height, name)
        if photometric in (0, 1) and samples < 3:  # MINISWHITE / MINISBLACK
            raise grayscale_error(name)
        if page.dtype is None or np.dtype(page.dtype) not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise UnsupportedImageError(
                f"'{name}' stores {page.dtype} samples; Fundus Studio reads 8- and 16-bit colour TIFF."
            )
        ends = [int(o) + int(c) for o, c in zip(page.dataoffsets, page.databytecounts)]
        if not ends or max(ends) > len(data):
            raise damaged_error(name, "TIFF")
        tag = page.tags.get("Orientation")
        orientation = _valid_orientation(tag.value if tag is not None else 1, meta)
        meta["exif_orientation"] = orientation
        arr, upright = _tiff_pixels(page, data, name)
    if not upright:
        arr = apply_orientation(arr, orientation)
    expected = (width, height) if orientation >= 5 else (height, width)
    if arr.ndim != 3 or arr.shape[:2] != expected or arr.shape[2] not in (3, 4):
        raise UnsupportedImageError(f"'{name}' is not an RGB TIFF; Fundus Studio reads colour photographs.")
    if arr.dtype not in (np.uint8, np.uint16):
        raise UnsupportedImageError(f"'{name}' stores {arr.dtype} samples; Fundus Studio reads 8- and 16-bit TIFF.")
    if arr.shape[2] == 4:
        arr = resolve_alpha(arr, name, meta)
    if bits not in (8, 16):
        arr = scale_to_container(arr, bits, meta)
    return arr, 8 if arr.dtype == np.uint8 else 16


def _tiff_pixels(page: Any, data: bytes, name: str) -> tuple[np.ndarray, bool]:
    """(pixels, already upright). tifffile decodes plain RGB as stored; LZW/JPEG and unusual
    layouts go through libtiff (OpenCV), which applies the Orientation tag itself (tested)."""
    if int(page.photometric) == 2:  # RGB
        try:
            arr = page.asarray()
            if int(page.planarconfig) == 2 and arr.ndim == 3:  # separate planes: (S, H, W)
                arr = np.moveaxis(arr, 0, -1)
            return arr, False
        except Exception:  # noqa: BLE001 - any decoder failure: libtiff below tries
            pass  # e.g. "LZW requires imagecodecs": libtiff below handles it
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise damaged_error(name, "TIFF")
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA), True
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB), True
    if arr.ndim == 2:
        raise grayscale_error(name)
    return arr, True
