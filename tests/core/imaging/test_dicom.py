"""DICOM ophthalmic photographs: RGB, YBR_FULL, JPEG baseline (YBR_FULL_422), RLE, multi-frame,
12-bit, and refusals; identifying tags never reach metadata."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    generate_uid,
)

from core.errors import ImageReadError, UnsupportedImageError
from core.imaging import read

OPHTHALMIC_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # Ophthalmic Photography 8 Bit Image Storage
OPHTHALMIC_16BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.2"


def colour(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 11.0)], axis=-1)
    return np.rint(np.clip(base + rng.normal(0, 0.01, (h, w, 3)), 0, 1) * 255).astype(np.uint8)


def make_ds(
    rows: int,
    cols: int,
    *,
    photometric: str = "RGB",
    samples: int = 3,
    bits: int = 8,
    stored: int | None = None,
    transfer: str = ExplicitVRLittleEndian,
    frames: int = 1,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = OPHTHALMIC_8BIT if bits == 8 else OPHTHALMIC_16BIT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SECRET-12345"
    ds.PatientBirthDate = "19600101"
    ds.Modality = "OP"
    ds.Manufacturer = "Acme Fundus"
    ds.ManufacturerModelName = "FC-1"
    ds.ImageLaterality = "R"
    ds.StudyDate = "20240115"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits
    ds.BitsStored = stored if stored is not None else bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def uncompressed(path: Path, arr: np.ndarray, **kw) -> Path:
    frames = arr.shape[0] if arr.ndim == 4 else 1
    rows, cols = arr.shape[-3], arr.shape[-2]
    bits = 16 if arr.dtype == np.uint16 else 8
    ds = make_ds(rows, cols, bits=bits, frames=frames, **kw)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    return save(ds, path)


def test_rgb_uncompressed_is_exact(tmp_path):
    rgb = colour()
    img = read(uncompressed(tmp_path / "eye.dcm", rgb))
    assert img.metadata["format"] == "DICOM"
    assert img.bit_depth == 8 and img.pixels.dtype == np.uint8
    np.testing.assert_array_equal(img.pixels, rgb)
    tags = img.metadata["dicom"]
    assert tags["Modality"] == "OP"
    assert tags["Manufacturer"] == "Acme Fundus"
    assert tags["StudyDate"] == "20240115"
    assert tags["PhotometricInterpretation"] == "RGB"
    assert img.metadata["laterality"] == "R"
    assert "Ophthalmic" in tags["SOPClass"]


def test_no_patient_data_in_metadata(tmp_path):
    img = read(uncompressed(tmp_path / "eye.dcm", colour()))
    text = json.dumps(img.metadata)
    for secret in ("Doe", "Jane", "SECRET-12345", "19600101"):
        assert secret not in text


def test_reads_without_dcm_suffix_by_content(tmp_path):
    path = uncompressed(tmp_path / "IM0001", colour())
    assert read(path).metadata["format"] == "DICOM"


def test_ybr_full_uncompressed_converted_to_rgb(tmp_path):
    rgb = colour()
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    img = read(uncompressed(tmp_path / "ybr.dcm", ybr, photometric="YBR_FULL"))
    assert img.metadata["original_mode"] == "YBR_FULL"
    assert np.abs(img.pixels.astype(int) - rgb).max() <= 2
    assert any("YBR_FULL" in n for n in img.metadata["notes"])


def _jpeg_dicom(path: Path, rgb: np.ndarray, frames: int = 1) -> Path:
    stream = io.BytesIO()
    # Pillow writes YCbCr JPEG; subsampling=1 is 4:2:2, matching YBR_FULL_422.
    Image.fromarray(rgb).save(stream, format="JPEG", quality=95, subsampling=1)
    ds = make_ds(rgb.shape[0], rgb.shape[1], photometric="YBR_FULL_422", transfer=JPEGBaseline8Bit, frames=frames)
    ds.PixelData = encapsulate([stream.getvalue()] * frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "01"
    return save(ds, path)


def test_jpeg_baseline_ybr_full_422(tmp_path):
    rgb = colour()
    img = read(_jpeg_dicom(tmp_path / "jpeg.dcm", rgb))
    assert img.pixels.shape == rgb.shape and img.pixels.dtype == np.uint8
    assert img.metadata["dicom"]["TransferSyntax"].startswith("JPEG Baseline")
    assert img.metadata["original_mode"] == "YBR_FULL_422"
    # Colours right (not left in YCbCr, not channel-swapped) and close to the source.
    assert np.abs(img.pixels.astype(int) - rgb).mean() < 4.0
    for c in range(3):
        assert abs(float(img.pixels[..., c].mean()) - float(rgb[..., c].mean())) < 3.0


def test_rle_lossless_is_exact(tmp_path):
    rgb = colour()
    ds = make_ds(rgb.shape[0], rgb.shape[1])
    ds.PixelData = rgb.tobytes()
    ds.compress(RLELossless, rgb)
    img = read(save(ds, tmp_path / "rle.dcm"))
    np.testing.assert_array_equal(img.pixels, rgb)


def test_multiframe_takes_first_frame_and_says_so(tmp_path):
    frames = np.stack([colour(seed=s) for s in range(3)])
    img = read(uncompressed(tmp_path / "multi.dcm", frames))
    np.testing.assert_array_equal(img.pixels, frames[0])
    assert img.metadata["frames"] == 3 and img.metadata["frame_used"] == 0
    assert any("first" in n for n in img.metadata["notes"])


def test_multiframe_jpeg(tmp_path):
    rgb = colour()
    img = read(_jpeg_dicom(tmp_path / "multi_jpeg.dcm", rgb, frames=2))
    assert img.metadata["frames"] == 2
    assert np.abs(img.pixels.astype(int) - rgb).mean() < 4.0


def test_12bit_scaled_to_full_16bit(tmp_path):
    rgb12 = (colour().astype(np.uint16) * 4095 // 255).astype(np.uint16)
    rgb12[0, 0] = (0, 2048, 4095)
    img = read(uncompressed(tmp_path / "12bit.dcm", rgb12, stored=12))
    assert img.bit_depth == 16 and img.pixels.dtype == np.uint16
    assert img.metadata["bits_stored"] == 12 and img.metadata["scaled_to_full_range"] is True
    assert tuple(img.pixels[0, 0]) == (0, round(2048 * 65535 / 4095), 65535)
    expected = (rgb12.astype(np.uint32) * 65535 + 2047) // 4095
    np.testing.assert_array_equal(img.pixels, expected.astype(np.uint16))


def test_16bit_full_range_is_exact(tmp_path):
    rgb16 = colour().astype(np.uint16) * 257
    img = read(uncompressed(tmp_path / "16bit.dcm", rgb16))
    assert img.bit_depth == 16 and "bits_stored" not in img.metadata
    np.testing.assert_array_equal(img.pixels, rgb16)


def test_monochrome_is_refused(tmp_path):
    gray = colour()[..., 0]
    ds = make_ds(gray.shape[0], gray.shape[1], photometric="MONOCHROME2", samples=1)
    ds.PixelData = gray.tobytes()
    with pytest.raises(UnsupportedImageError, match="grayscale"):
        read(save(ds, tmp_path / "mono.dcm"))


def test_no_pixel_data(tmp_path):
    ds = make_ds(96, 128)
    with pytest.raises(ImageReadError, match="contains no image"):
        read(save(ds, tmp_path / "report.dcm"))


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_dicom(tmp_path, keep):
    data = uncompressed(tmp_path / "full.dcm", colour()).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read(cut)


def test_truncated_jpeg_dicom(tmp_path):
    data = _jpeg_dicom(tmp_path / "full.dcm", colour(200, 240)).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read(cut)


def test_text_file_named_dcm(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("not a dicom file at all\n" * 10)
    with pytest.raises(ImageReadError, match="notes.dcm"):
        read(path)


def test_jpeg_misnamed_dcm_still_reads(tmp_path):
    path = tmp_path / "photo.dcm"
    Image.fromarray(colour()).save(path, format="JPEG", quality=95)
    assert read(path).metadata["format"] == "JPEG"


def test_huge_dimensions_refused_before_decoding(tmp_path):
    ds = make_ds(30000, 30000)
    ds.PixelData = b"\x00" * 300  # far too short: proves the header check comes first
    with pytest.raises(UnsupportedImageError, match="30000 x 30000"):
        read(save(ds, tmp_path / "huge.dcm"))


def test_too_small_dicom(tmp_path):
    with pytest.raises(UnsupportedImageError, match="at least 64"):
        read(uncompressed(tmp_path / "tiny.dcm", colour(32, 32)))


def test_signed_samples_refused(tmp_path):
    rgb = colour()
    ds = make_ds(rgb.shape[0], rgb.shape[1])
    ds.PixelRepresentation = 1
    ds.PixelData = rgb.tobytes()
    with pytest.raises(UnsupportedImageError, match="signed"):
        read(save(ds, tmp_path / "signed.dcm"))
