"""Write enhanced images safely: atomic replace, never over the original, with a provenance sidecar.

Format from the suffix: .png (8 or 16 bit), .jpg/.jpeg (8 bit), .tif/.tiff (16 bit by
default; 8-bit input is scaled by 257 so 255 -> 65535 exactly). The image is encoded in
memory, written to a temporary file in the target folder, fsynced and renamed over the
target, so a crash never leaves half a file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import OutputError
from core.provenance import atomic_write_bytes, sha256_bytes, write_sidecar

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
_DEFAULT_DEPTH = {"PNG": None, "JPEG": 8, "TIFF": 16}

# Lossless either way, so only speed and size matter. zlib level 1 with the run-length strategy
# and the Sub filter encodes a 3504 x 2336 photo about 3x faster than level 3 with adaptive
# filters, and the file is smaller (long black runs outside the field of view); measured in
# docs/performance.md.
PNG_PARAMS = [
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB,
]


@dataclass(frozen=True)
class WrittenFile:
    """What was written: the image, its hash, and its sidecar (None without provenance)."""

    path: Path
    sha256: str
    sidecar_path: Path | None
    bit_depth: int
    format: str


def write(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    provenance: dict[str, Any] | None = None,
    input_path: str | os.PathLike[str] | None = None,
    bit_depth: int | None = None,
    quality: int = 95,
    protected: Iterable[str | os.PathLike[str]] = (),
) -> WrittenFile:
    """Encode `pixels` (H x W x 3 RGB or H x W; uint8, uint16, or float in [0, 1]) to `path`.

    Refuses (OutputError) to write over `input_path` or any path in `protected`.
    With `provenance`, also writes `<path>.json` holding it plus the output's sha256.
    """
    out = Path(path)
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"Cannot save '{out.name}': unknown file type '{out.suffix or '(none)'}'. "
            "Use .png, .jpg or .tif."
        )
    _refuse_protected(out, [p for p in [input_path, *protected] if p is not None])
    depth = _target_depth(fmt, pixels, bit_depth, out.name)
    arr = _to_depth(_check_pixels(pixels, out.name), depth)
    data = _encode(fmt, arr, quality, out.name)
    digest = sha256_bytes(data)
    atomic_write_bytes(out, data)
    sidecar = write_sidecar(out, provenance, digest) if provenance is not None else None
    return WrittenFile(path=out, sha256=digest, sidecar_path=sidecar, bit_depth=depth, format=fmt)


def _same_file(a: Path, b: Path) -> bool:
    """True when both names lead to one file (symlinks, '..', hard links)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_protected(out: Path, protected: list[str | os.PathLike[str]]) -> None:
    for item in protected:
        if _same_file(out, Path(item)):
            raise OutputError(
                f"Refusing to save over '{Path(item).name}': originals are never overwritten. "
                "Choose another file name or folder."
            )


def _check_pixels(pixels: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(pixels)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or arr.size == 0:
        raise OutputError(f"Cannot save '{name}': expected an RGB or single-channel image, got shape {arr.shape}.")
    if arr.dtype not in (np.uint8, np.uint16) and arr.dtype.kind != "f":
        raise OutputError(f"Cannot save '{name}': pixel type {arr.dtype} is not supported.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise OutputError(f"Cannot save '{name}': the image contains invalid (NaN or infinite) values.")
    return arr


def _target_depth(fmt: str, pixels: np.ndarray, requested: int | None, name: str) -> int:
    if requested is not None and requested not in (8, 16):
        raise OutputError(f"Cannot save '{name}': bit depth must be 8 or 16, not {requested}.")
    if fmt == "JPEG":
        if requested == 16:
            raise OutputError(f"Cannot save '{name}' with 16 bits: JPEG stores 8 bits. Use .png or .tif.")
        return 8
    if requested is not None:
        return requested
    default = _DEFAULT_DEPTH[fmt]
    if default is not None:
        return default
    return 16 if np.asarray(pixels).dtype == np.uint16 else 8


def _to_depth(arr: np.ndarray, depth: int) -> np.ndarray:
    """Convert exactly: 8 -> 16 multiplies by 257, 16 -> 8 rounds v / 257, floats clip to [0, 1]."""
    top = (1 << depth) - 1
    dtype = np.uint8 if depth == 8 else np.uint16
    if arr.dtype.kind == "f":
        return np.rint(np.clip(arr, 0.0, 1.0) * top).astype(dtype)
    if arr.dtype == dtype:
        return arr
    if arr.dtype == np.uint8:  # up to 16 bits
        return arr.astype(np.uint16) * np.uint16(257)
    return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _encode(fmt: str, arr: np.ndarray, quality: int, name: str) -> bytes:
    if fmt == "PNG":
        img = arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", img, PNG_PARAMS)
        if not ok:
            raise OutputError(f"Cannot save '{name}': PNG encoding failed.")
        return buf.tobytes()
    if fmt == "JPEG":
        from PIL import Image  # noqa: PLC0415

        if not 1 <= int(quality) <= 100:
            raise OutputError(f"Cannot save '{name}': JPEG quality must be between 1 and 100, not {quality}.")
        stream = io.BytesIO()
        # 4:4:4 (no chroma subsampling): fine vessels and haemorrhages keep their colour edges.
        Image.fromarray(arr).save(stream, format="JPEG", quality=int(quality), subsampling=0)
        return stream.getvalue()
    import tifffile  # noqa: PLC0415

    stream = io.BytesIO()
    photometric = "minisblack" if arr.ndim == 2 else "rgb"
    tifffile.imwrite(stream, arr, photometric=photometric, compression="zlib", software="Fundus Studio")
    return stream.getvalue()
