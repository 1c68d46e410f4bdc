"""DICOM ophthalmic photographs (pydicom + pylibjpeg): first frame as RGB, patient-free metadata.

RGB and YCbCr (YBR_FULL, YBR_FULL_422, and the JPEG 2000 YBR_ICT/RCT where a decoder is
installed) come out as RGB; palette colour goes through its lookup table. Only technical
tags are kept: nothing identifying the patient enters metadata, logs or sidecars.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

from core.errors import ImageReadError, UnsupportedImageError
from core.imaging.pixel_checks import check_dimensions, damaged_error, grayscale_error, scale_to_container

_COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "PALETTE COLOR"}

# Technical tags only (no PatientName, PatientID, birth date, accession number, ...).
_SAFE_TAGS = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "ImageLaterality",
    "Laterality",
    "StudyDate",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "NumberOfFrames",
    "HorizontalFieldOfView",
)
_INT_TAGS = {"BitsAllocated", "BitsStored", "NumberOfFrames"}


def _not_dicom(name: str) -> ImageReadError:
    return ImageReadError(f"'{name}' is not a readable DICOM file (it may be damaged or another kind of file).")


def read_dicom(data: bytes, name: str, meta: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Decode the first frame of a colour DICOM to H x W x 3 RGB; fills `meta` in place."""
    import pydicom  # noqa: PLC0415 - kept out of what the GUI imports at start-up
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415 - kept out of what the GUI imports at start-up

    meta["format"] = "DICOM"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # pydicom warns on oddities; we only look for a cut-off file
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise _not_dicom(name) from exc
    cut_off = any("end of file" in str(w.message).lower() for w in caught)
    has_preamble = data[128:132] == b"DICM"
    if "PixelData" not in ds:
        if cut_off or (has_preamble and len(ds) == 0):
            raise damaged_error(name, "DICOM")
        if "SOPClassUID" not in ds and "Rows" not in ds:
            raise _not_dicom(name)
        raise ImageReadError(f"The DICOM file '{name}' contains no image.")
    meta["dicom"] = _safe_tags(ds)
    if "Laterality" in meta["dicom"] or "ImageLaterality" in meta["dicom"]:
        meta["laterality"] = meta["dicom"].get("ImageLaterality") or meta["dicom"].get("Laterality")

    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1))
        allocated = int(ds.BitsAllocated)
        stored = int(ds.get("BitsStored", allocated))
        signed = int(ds.get("PixelRepresentation", 0))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageReadError(f"The DICOM file '{name}' lacks the size information of its image.") from exc
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    transfer = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    meta.update(original_mode=photometric or "unknown", channels=samples)
    if transfer is not None:
        meta["dicom"]["TransferSyntax"] = getattr(transfer, "name", str(transfer))

    check_dimensions(cols, rows, name)
    if photometric.startswith("MONOCHROME") or (samples == 1 and photometric != "PALETTE COLOR"):
        raise grayscale_error(name)
    if photometric not in _COLOUR:
        raise UnsupportedImageError(
            f"The DICOM file '{name}' uses the colour encoding {photometric or 'unknown'}, "
            "which Fundus Studio cannot read."
        )
    if allocated not in (8, 16) or signed:
        raise UnsupportedImageError(
            f"The DICOM file '{name}' stores {allocated}-bit {'signed ' if signed else ''}samples; "
            "Fundus Studio reads unsigned 8- and 16-bit colour photographs."
        )
    if frames > 1:
        meta["frames"] = frames
        meta["frame_used"] = 0
        meta["notes"].append(f"The DICOM file holds {frames} frames; only the first was used.")

    arr = _decode_first_frame(ds, name)
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut  # noqa: PLC0415 - kept out of what the GUI imports at start-up

        arr = apply_color_lut(arr, ds)
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            raise grayscale_error(name)
        meta["notes"].append("Palette colour DICOM converted to RGB.")
    elif photometric.startswith("YBR"):
        meta["notes"].append(f"{photometric} colour encoding converted to RGB.")
    if arr.ndim != 3 or arr.shape[:2] != (rows, cols) or arr.shape[2] != 3:
        raise UnsupportedImageError(f"The DICOM file '{name}' does not hold a single colour image.")
    if arr.dtype not in (np.uint8, np.uint16):
        raise UnsupportedImageError(
            f"The DICOM file '{name}' stores {arr.dtype} samples, which Fundus Studio cannot read."
        )
    if photometric != "PALETTE COLOR" and stored < arr.dtype.itemsize * 8:
        arr = scale_to_container(arr, stored, meta)
    return np.ascontiguousarray(arr), 8 if arr.dtype == np.uint8 else 16


def _decode_first_frame(ds: Any, name: str) -> np.ndarray:
    from pydicom.pixels import get_decoder, pixel_array  # noqa: PLC0415 - kept out of what the GUI imports at start-up

    transfer = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if transfer is not None and getattr(transfer, "is_compressed", False):
        ts = getattr(transfer, "name", str(transfer))
        try:
            available = get_decoder(transfer).is_available
        except (NotImplementedError, ValueError):
            available = False
        if not available:
            raise UnsupportedImageError(
                f"The DICOM file '{name}' is compressed as '{ts}', which Fundus Studio cannot decode."
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pixel_array(ds, index=0, as_rgb=True)
    except Exception as exc:  # decoders raise many types on damaged data
        raise damaged_error(name, "DICOM") from exc


def _safe_tags(ds: Any) -> dict[str, Any]:
    """Whitelisted technical tags as plain JSON values."""
    out: dict[str, Any] = {}
    for keyword in _SAFE_TAGS:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        try:
            out[keyword] = int(value) if keyword in _INT_TAGS else str(value)
        except (TypeError, ValueError):
            out[keyword] = str(value)
    sop = ds.get("SOPClassUID")
    if sop is not None:
        out["SOPClass"] = getattr(sop, "name", str(sop))
    return out
