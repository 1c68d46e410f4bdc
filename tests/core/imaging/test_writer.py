"""core.imaging.write: round trips, depth conversion, atomicity, refusal to overwrite, sidecars."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from core.errors import FundusError, OutputError
from core.imaging import WrittenFile, read, write
from core.provenance import build_provenance, sha256_file


def colour(h: int = 80, w: int = 96, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 7.0)], axis=-1)
    return np.rint(np.clip(base + rng.normal(0, 0.01, (h, w, 3)), 0, 1) * top).astype(dtype)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith("."))


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip_keeps_depth(tmp_path, dtype):
    rgb = colour(dtype=dtype)
    out = write(tmp_path / "out.png", rgb)
    assert isinstance(out, WrittenFile)
    assert out.format == "PNG" and out.bit_depth == (8 if dtype == np.uint8 else 16)
    assert out.sidecar_path is None
    back = read(out.path)
    assert back.pixels.dtype == dtype
    np.testing.assert_array_equal(back.pixels, rgb)
    assert out.sha256 == sha256_file(out.path) == back.source_sha256


def test_png16_to_8_rounds_exactly(tmp_path):
    rgb16 = colour(dtype=np.uint16)
    out = write(tmp_path / "o.png", rgb16, bit_depth=8)
    assert out.bit_depth == 8
    expected = np.rint(rgb16 / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(read(out.path).pixels, expected)


def test_png8_to_16_scales_by_257(tmp_path):
    rgb = colour()
    out = write(tmp_path / "o.png", rgb, bit_depth=16)
    np.testing.assert_array_equal(read(out.path).pixels, rgb.astype(np.uint16) * 257)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".JPG"])
def test_jpeg_round_trip(tmp_path, suffix):
    rgb = colour()
    out = write(tmp_path / f"o{suffix}", rgb, quality=95)
    assert out.format == "JPEG" and out.bit_depth == 8
    back = read(out.path)
    assert back.metadata["format"] == "JPEG"
    assert np.abs(back.pixels.astype(int) - rgb).mean() < 2.0


def test_jpeg_quality_changes_size(tmp_path):
    rgb = colour(256, 256, seed=3)
    small = write(tmp_path / "q30.jpg", rgb, quality=30)
    big = write(tmp_path / "q98.jpg", rgb, quality=98)
    assert small.path.stat().st_size < big.path.stat().st_size


def test_jpeg_from_16bit_converts_to_8(tmp_path):
    rgb16 = colour(dtype=np.uint16)
    out = write(tmp_path / "o.jpg", rgb16)
    assert out.bit_depth == 8
    back = read(out.path).pixels.astype(int)
    assert np.abs(back - np.rint(rgb16 / 257.0)).mean() < 2.0


@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_tiff_is_16bit_and_scales_8bit_by_257(tmp_path, suffix):
    rgb = colour()
    out = write(tmp_path / f"o{suffix}", rgb)
    assert out.format == "TIFF" and out.bit_depth == 16
    back = read(out.path)
    assert back.bit_depth == 16
    np.testing.assert_array_equal(back.pixels, rgb.astype(np.uint16) * 257)
    assert back.pixels.max() <= 65535 and (rgb == 255).any() == (back.pixels == 65535).any()


def test_tiff_16bit_exact(tmp_path):
    rgb16 = colour(dtype=np.uint16)
    out = write(tmp_path / "o.tif", rgb16)
    np.testing.assert_array_equal(read(out.path).pixels, rgb16)
    # A standard RGB TIFF other tools can open.
    with tifffile.TiffFile(out.path) as tif:
        assert tif.pages[0].photometric == 2 and tif.pages[0].dtype == np.uint16


def test_float_input_in_unit_range(tmp_path):
    rgb = colour(dtype=np.uint16)
    f = rgb.astype(np.float32) / 65535.0
    out = write(tmp_path / "f.png", f, bit_depth=16)
    np.testing.assert_array_equal(read(out.path).pixels, rgb)
    clipped = write(tmp_path / "clip.png", np.full((70, 70, 3), 1.7, np.float32))
    assert clipped.bit_depth == 8 and (read(clipped.path).pixels == 255).all()


def test_single_channel_mask_png(tmp_path):
    mask = (colour()[..., 0] > 128).astype(np.uint8) * 255
    out = write(tmp_path / "mask.png", mask)
    import cv2

    np.testing.assert_array_equal(cv2.imread(str(out.path), cv2.IMREAD_UNCHANGED), mask)


def test_overwrites_an_earlier_output(tmp_path):
    first = write(tmp_path / "o.png", colour(seed=1))
    second = write(tmp_path / "o.png", colour(seed=2))
    assert first.sha256 != second.sha256
    np.testing.assert_array_equal(read(tmp_path / "o.png").pixels, colour(seed=2))
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"path_suffix": ".bmp"}, "unknown file type"),
        ({"path_suffix": ""}, "unknown file type"),
        ({"bit_depth": 12}, "8 or 16"),
        ({"path_suffix": ".jpg", "bit_depth": 16}, "JPEG stores 8 bits"),
        ({"path_suffix": ".jpg", "quality": 0}, "quality"),
        ({"pixels": np.zeros((10, 10, 4), np.uint8)}, "shape"),
        ({"pixels": np.zeros((10, 10, 3), np.int32)}, "not supported"),
        ({"pixels": np.full((10, 10, 3), np.nan, np.float32)}, "NaN"),
    ],
)
def test_bad_requests_raise_output_error(tmp_path, bad, match):
    bad = dict(bad)
    path = tmp_path / ("o" + bad.pop("path_suffix", ".png"))
    pixels = bad.pop("pixels", colour())
    with pytest.raises(OutputError, match=match):
        write(path, pixels, **bad)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write(tmp_path / "nope" / "o.png", colour())


def test_refuses_to_overwrite_input(tmp_path):
    src = tmp_path / "photo.png"
    write(src, colour())
    before = src.read_bytes()
    for target in (src, tmp_path / "sub" / ".." / "photo.png", Path(os.path.relpath(src))):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="never overwritten"):
            write(target, colour(seed=5), input_path=src)
    assert src.read_bytes() == before


def test_refuses_symlink_and_hardlink_to_input(tmp_path):
    src = tmp_path / "photo.png"
    write(src, colour())
    before = src.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(src)
    hard = tmp_path / "hard.png"
    os.link(src, hard)
    for target in (link, hard):
        with pytest.raises(OutputError, match="never overwritten"):
            write(target, colour(seed=5), input_path=src)
    assert src.read_bytes() == before


def test_refuses_protected_paths(tmp_path):
    keep = tmp_path / "keep.tif"
    write(keep, colour())
    before = keep.read_bytes()
    with pytest.raises(OutputError, match="keep.tif"):
        write(keep, colour(seed=9), protected={keep, tmp_path / "other.png"})
    assert keep.read_bytes() == before
    write(tmp_path / "fine.tif", colour(), protected={keep})  # other names are fine


# ------------------------------------------------------------------ atomicity


def test_failed_write_leaves_no_temp_file_and_old_output_intact(tmp_path, monkeypatch):
    target = tmp_path / "o.png"
    write(target, colour(seed=1))
    before = target.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        write(target, colour(seed=2))
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]


def test_failed_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError, match="Permission denied"):
        write(tmp_path / "o.tif", colour())
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_cleans_up(tmp_path, monkeypatch):
    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "o.png", colour())
    assert list(tmp_path.iterdir()) == []


def test_output_errors_are_fundus_errors():
    assert issubclass(OutputError, FundusError)


# ------------------------------------------------------------------ sidecar


def test_sidecar_records_matching_hashes(tmp_path):
    src = tmp_path / "in.png"
    write(src, colour())
    image = read(src)
    prov = build_provenance(
        input_sha256=image.source_sha256,
        input_path=src,
        model={"name": "mage-s", "version": "1.0", "weights_sha256": "ab" * 32},
        device="cpu",
        parameters={"mode": "fast", "tile": np.int64(512), "strength": np.float32(0.5)},
    )
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = write(outdir / "in_enhanced.png", image.pixels, provenance=prov, input_path=src)
    assert out.sidecar_path == outdir / "in_enhanced.png.json"
    record = json.loads(out.sidecar_path.read_text())
    assert record["output"]["sha256"] == out.sha256 == sha256_file(out.path)
    assert record["output"]["name"] == "in_enhanced.png"
    assert record["input"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert record["model"]["name"] == "mage-s" and record["device"] == "cpu"
    assert record["parameters"] == {"mode": "fast", "tile": 512, "strength": 0.5}
    assert leftovers(outdir) == []


def test_sidecar_names_do_not_clash_between_formats(tmp_path):
    prov = build_provenance(input_sha256="0" * 64, input_path=None, model=None, device=None, parameters={})
    a = write(tmp_path / "o.png", colour(), provenance=prov)
    b = write(tmp_path / "o.tif", colour(), provenance=prov)
    assert a.sidecar_path != b.sidecar_path
    assert json.loads(a.sidecar_path.read_text())["output"]["sha256"] == a.sha256
    assert json.loads(b.sidecar_path.read_text())["output"]["sha256"] == b.sha256


def test_sidecar_rewritten_with_output(tmp_path):
    prov = build_provenance(input_sha256="1" * 64, input_path=None, model=None, device=None, parameters={})
    write(tmp_path / "o.png", colour(seed=1), provenance=prov)
    second = write(tmp_path / "o.png", colour(seed=2), provenance=prov)
    assert json.loads(second.sidecar_path.read_text())["output"]["sha256"] == sha256_file(tmp_path / "o.png")
