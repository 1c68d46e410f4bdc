"""core.imaging.read: every format round trip, orientation, and every kind of bad input."""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from core.errors import FundusError, ImageReadError, UnsupportedImageError
from core.imaging import FundusImage, read
from core.imaging.pixel_checks import MAX_PIXELS, MIN_SIDE
from core.imaging.reader import apply_orientation


def colour(h: int = 96, w: int = 128, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """Random RGB with distinct channels (smooth enough that JPEG keeps it close)."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 9.0)], axis=-1)
    noise = rng.normal(0, 0.02, size=(h, w, 3))
    return np.rint(np.clip(base + noise, 0, 1) * top).astype(dtype)


def save_pil(path: Path, arr: np.ndarray, **kw) -> Path:
    Image.fromarray(arr).save(path, **kw)
    return path


def png16(path: Path, rgb: np.ndarray) -> Path:
    code = cv2.COLOR_RGBA2BGRA if rgb.shape[2] == 4 else cv2.COLOR_RGB2BGR
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, code))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ good input


def test_png8_round_trip_is_exact(tmp_path):
    rgb = colour()
    path = save_pil(tmp_path / "eye.png", rgb)
    img = read(path)
    assert isinstance(img, FundusImage)
    assert img.pixels.dtype == np.uint8 and img.bit_depth == 8
    np.testing.assert_array_equal(img.pixels, rgb)
    assert img.source_sha256 == sha(path)
    assert img.source_path == path
    assert img.metadata["format"] == "PNG"
    assert img.metadata["original_mode"] == "RGB"
    assert (img.metadata["width"], img.metadata["height"]) == (128, 96)
    assert img.metadata["exif_orientation"] == 1
    assert "looks_grayscale" not in img.metadata


def test_png16_keeps_all_16_bits(tmp_path):
    rgb = colour(dtype=np.uint16)
    rgb[0, 0] = (1, 2, 65535)  # values no 8-bit path could keep
    img = read(png16(tmp_path / "eye16.png", rgb))
    assert img.pixels.dtype == np.uint16 and img.bit_depth == 16
    np.testing.assert_array_equal(img.pixels, rgb)
    assert img.metadata["original_mode"] == "RGB;16"
    assert img.as_float().max() == pytest.approx(1.0)


def test_jpeg_reads_close_to_source(tmp_path):
    rgb = colour()
    path = save_pil(tmp_path / "eye.jpg", rgb, quality=95)
    img = read(path)
    assert img.metadata["format"] == "JPEG" and img.bit_depth == 8
    with Image.open(path) as im:
        np.testing.assert_array_equal(img.pixels, np.asarray(im))
    assert np.abs(img.pixels.astype(int) - rgb).mean() < 6.0


def test_bmp_round_trip_is_exact(tmp_path):
    rgb = colour()
    img = read(save_pil(tmp_path / "eye.bmp", rgb))
    assert img.metadata["format"] == "BMP"
    np.testing.assert_array_equal(img.pixels, rgb)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_uncompressed_round_trip(tmp_path, dtype):
    rgb = colour(dtype=dtype)
    path = tmp_path / "eye.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    img = read(path)
    assert img.metadata["format"] == "TIFF"
    assert img.bit_depth == (8 if dtype == np.uint8 else 16)
    assert img.pixels.dtype == dtype
    np.testing.assert_array_equal(img.pixels, rgb)


def test_tiff_lzw_8bit_goes_through_libtiff(tmp_path):
    rgb = colour()
    img = read(save_pil(tmp_path / "eye.tif", rgb, compression="tiff_lzw"))
    np.testing.assert_array_equal(img.pixels, rgb)


def test_tiff_lzw_16bit(tmp_path):
    rgb = colour(dtype=np.uint16)
    path = tmp_path / "eye16.tif"
    assert cv2.imwrite(str(path), rgb[..., ::-1].copy())  # OpenCV writes LZW
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].compression == 5  # LZW
    img = read(path)
    assert img.bit_depth == 16
    np.testing.assert_array_equal(img.pixels, rgb)


def test_tiff_separate_planes(tmp_path):
    rgb = colour(dtype=np.uint16)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read(path).pixels, rgb)


def test_tiff_rgb_with_opaque_alpha(tmp_path):
    rgba = np.dstack([colour(), np.full((96, 128), 255, np.uint8)])
    path = tmp_path / "alpha.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=["unassalpha"])
    img = read(path)
    np.testing.assert_array_equal(img.pixels, rgba[..., :3])


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_pixels_are_a_writable_contiguous_copy(tmp_path, suffix):
    path = save_pil(tmp_path / f"eye{suffix}", colour(), **({"quality": 95} if suffix == ".jpg" else {}))
    img = read(path)
    assert img.pixels.flags.writeable and img.pixels.flags.c_contiguous
    img.pixels[0, 0] = 0  # downstream code may edit in place


# ------------------------------------------------------------------ orientation


def jpeg_with_orientation(path: Path, rgb: np.ndarray, orientation: int) -> Path:
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, quality=95, exif=exif.tobytes())
    return path


def test_exif_orientation_6_rotates_clockwise(tmp_path):
    rgb = np.zeros((80, 120, 3), np.uint8)
    rgb[..., 1] = 60
    rgb[:20, :30] = (255, 0, 0)  # red block at the stored top-left
    img = read(jpeg_with_orientation(tmp_path / "rot.jpg", rgb, 6))
    assert img.metadata["exif_orientation"] == 6
    assert img.pixels.shape == (120, 80, 3)  # portrait after rotation
    # 90 degrees clockwise: the stored top-left corner ends up top-right.
    assert img.pixels[5, -5, 0] > 200 and img.pixels[5, -5, 1] < 80
    assert img.pixels[5, 5, 0] < 50


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, orientation):
    rgb = colour(72, 104, seed=orientation)
    path = jpeg_with_orientation(tmp_path / f"o{orientation}.jpg", rgb, orientation)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    img = read(path)
    np.testing.assert_array_equal(img.pixels, expected)
    assert img.metadata["exif_orientation"] == orientation


@pytest.mark.parametrize("orientation", [3, 6, 7])
@pytest.mark.parametrize("lzw", [False, True])
def test_tiff_orientation_tag_is_applied(tmp_path, orientation, lzw):
    """Same answer from the tifffile path and the libtiff (OpenCV) path."""
    rgb = colour(64, 80, seed=orientation)
    path = tmp_path / "o.tif"
    if lzw:
        save_pil(path, rgb, compression="tiff_lzw", tiffinfo={274: orientation})
    else:
        tifffile.imwrite(path, rgb, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    img = read(path)
    np.testing.assert_array_equal(img.pixels, apply_orientation(rgb, orientation))
    assert img.metadata["exif_orientation"] == orientation


def test_png16_exif_orientation(tmp_path):
    rgb = colour(64, 90, dtype=np.uint16)
    path = png16(tmp_path / "o16.png", rgb)
    # add an eXIf chunk before IDAT with orientation 8
    exif = Image.Exif()
    exif[0x0112] = 8
    payload = exif.tobytes()
    if payload.startswith(b"Exif\x00\x00"):
        payload = payload[6:]
    data = path.read_bytes()
    chunk = struct.pack(">I", len(payload)) + b"eXIf" + payload
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + payload) & 0xFFFFFFFF)
    path.write_bytes(data[:33] + chunk + data[33:])
    img = read(path)
    assert img.metadata["exif_orientation"] == 8
    np.testing.assert_array_equal(img.pixels, np.rot90(rgb, 1))


# ------------------------------------------------------------------ alpha, palette, modes


def test_rgba_opaque_alpha_is_dropped(tmp_path):
    rgb = colour()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    img = read(save_pil(tmp_path / "a.png", rgba))
    np.testing.assert_array_equal(img.pixels, rgb)
    assert "dropped" in img.metadata["alpha"]


def test_rgba16_opaque_alpha_is_dropped(tmp_path):
    rgb = colour(dtype=np.uint16)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 65535, np.uint16)])
    img = read(png16(tmp_path / "a16.png", rgba))
    assert img.bit_depth == 16
    np.testing.assert_array_equal(img.pixels, rgb)


def test_rgba_transparent_background_becomes_black(tmp_path):
    rgb = colour()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :20] = 0  # cut-away background left of the retina
    img = read(save_pil(tmp_path / "cut.png", np.dstack([rgb, alpha])))
    assert (img.pixels[:, :20] == 0).all()
    np.testing.assert_array_equal(img.pixels[:, 20:], rgb[:, 20:])
    assert "black" in img.metadata["alpha"]
    assert any("black" in n for n in img.metadata["notes"])


def test_rgba_semi_transparent_is_refused(tmp_path):
    rgb = colour()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[10:20, 10:20] = 128
    with pytest.raises(UnsupportedImageError, match="semi-transparent"):
        read(save_pil(tmp_path / "semi.png", np.dstack([rgb, alpha])))


def test_colour_palette_is_converted(tmp_path):
    rgb = colour()
    pal = Image.fromarray(rgb).quantize(colors=64)
    path = tmp_path / "pal.png"
    pal.save(path)
    img = read(path)
    np.testing.assert_array_equal(img.pixels, np.asarray(pal.convert("RGB")))
    assert img.metadata["original_mode"] == "P"


def test_gray_palette_is_refused(tmp_path):
    gray = Image.fromarray(colour()[..., 0]).convert("P")
    path = tmp_path / "graypal.png"
    gray.save(path)
    with Image.open(path) as im:
        assert im.mode == "P"
    with pytest.raises(UnsupportedImageError, match="grayscale"):
        read(path)


def test_cmyk_jpeg_is_converted(tmp_path):
    rgb = colour()
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    img = read(path)
    assert img.metadata["original_mode"] == "CMYK"
    assert img.pixels.shape == rgb.shape and img.pixels.dtype == np.uint8


def test_rgb_with_identical_channels_is_flagged(tmp_path):
    g = colour()[..., 0]
    img = read(save_pil(tmp_path / "grey_rgb.png", np.dstack([g, g, g])))
    assert img.metadata["looks_grayscale"] is True


@pytest.mark.parametrize(
    "maker",
    [
        lambda p, a: save_pil(p / "l.png", a[..., 0]),
        lambda p, a: save_pil(p / "la.png", np.dstack([a[..., 0], a[..., 1]]), format="PNG"),
        lambda p, a: save_pil(p / "l.jpg", a[..., 0]),
        lambda p, a: save_pil(p / "l.bmp", a[..., 0]),
        lambda p, a: save_pil(p / "1.png", a[..., 0] > 128),
        lambda p, a: (cv2.imwrite(str(p / "l16.png"), a[..., 0].astype(np.uint16) * 257), p / "l16.png")[1],
        lambda p, a: (tifffile.imwrite(p / "l.tif", a[..., 0]), p / "l.tif")[1],
        lambda p, a: (tifffile.imwrite(p / "l16.tif", a[..., 0].astype(np.uint16)), p / "l16.tif")[1],
    ],
    ids=["L-png", "LA-png", "L-jpeg", "L-bmp", "1bit-png", "L16-png", "L-tiff", "L16-tiff"],
)
def test_grayscale_is_refused_with_clear_message(tmp_path, maker):
    path = maker(tmp_path, colour())
    with pytest.raises(UnsupportedImageError) as info:
        read(path)
    assert "grayscale" in str(info.value) and "colour" in str(info.value)
    assert path.name in str(info.value)


# ------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        read(tmp_path / "nope.jpg")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="folder"):
        read(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read(path)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".bmp"])
def test_text_file_renamed_is_not_an_image(tmp_path, suffix):
    path = tmp_path / f"notes{suffix}"
    path.write_text("Patient seen today, fundus photo to follow.\n" * 20)
    with pytest.raises(ImageReadError) as info:
        read(path)
    assert "notes" in str(info.value)


def test_random_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError, match="does not contain an image"):
        read(path)


def _truncations(data: bytes) -> list[int]:
    return [len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 2]


@pytest.mark.parametrize("fraction", range(4))
def test_truncated_jpeg_is_detected(tmp_path, fraction):
    data = save_pil(tmp_path / "full.jpg", colour(200, 240), quality=90).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: _truncations(data)[fraction]])
    # OpenCV would have returned a half-grey picture here; we must not.
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read(path)


@pytest.mark.parametrize("fraction", range(3))
def test_truncated_png_is_detected(tmp_path, fraction):
    data = save_pil(tmp_path / "full.png", colour(200, 240)).read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: _truncations(data)[fraction]])
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read(path)


def test_truncated_png16_is_detected(tmp_path):
    data = png16(tmp_path / "full.png", colour(200, 240, dtype=np.uint16)).read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read(path)


@pytest.mark.parametrize("kind", ["plain8", "plain16", "lzw"])
def test_truncated_tiff_is_detected(tmp_path, kind):
    full = tmp_path / "full.tif"
    if kind == "lzw":
        save_pil(full, colour(200, 240), compression="tiff_lzw")
    else:
        tifffile.imwrite(full, colour(200, 240, dtype=np.uint8 if kind == "plain8" else np.uint16), photometric="rgb")
    data = full.read_bytes()
    path = tmp_path / "cut.tif"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read(path)


def test_truncated_bmp_is_detected(tmp_path):
    data = save_pil(tmp_path / "full.bmp", colour(200, 240)).read_bytes()
    path = tmp_path / "cut.bmp"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read(path)


@pytest.mark.parametrize("size", [(1, 1), (63, 200), (200, 63)])
def test_too_small_is_refused(tmp_path, size):
    h, w = size
    path = save_pil(tmp_path / "tiny.png", colour(h, w))
    with pytest.raises(UnsupportedImageError, match=f"at least {MIN_SIDE} pixels"):
        read(path)


def test_smallest_allowed_size_reads(tmp_path):
    assert read(save_pil(tmp_path / "ok.png", colour(MIN_SIDE, MIN_SIDE))).width == MIN_SIDE


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _huge_png(path: Path, w: int, h: int) -> Path:
    """A few hundred bytes whose header claims w x h pixels (decoding it would need GBs)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def _huge_jpeg(path: Path, tmp_path: Path, w: int, h: int) -> Path:
    data = bytearray(save_pil(tmp_path / "small.jpg", colour(64, 64)).read_bytes())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, h, w)
    path.write_bytes(bytes(data))
    return path


def _huge_tiff(path: Path, w: int, h: int) -> Path:
    tifffile.imwrite(path, np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(w)
        tif.pages[0].tags["ImageLength"].overwrite(h)
    return path


@pytest.mark.parametrize("kind", ["png", "jpeg", "tiff"])
def test_huge_header_is_refused_before_decoding(tmp_path, kind):
    path = tmp_path / f"huge.{kind}"
    if kind == "png":
        _huge_png(path, 30000, 30000)
    elif kind == "jpeg":
        _huge_jpeg(path, tmp_path, 30000, 30000)
    else:
        _huge_tiff(path, 30000, 30000)
    assert path.stat().st_size < 20_000
    start = time.perf_counter()
    with pytest.raises(UnsupportedImageError, match="900 megapixels.*up to 100 megapixels"):
        read(path)
    assert time.perf_counter() - start < 2.0  # nothing was decoded


def test_just_over_limit_also_refused(tmp_path):
    # 10001 x 10000 is above MAX_PIXELS but below Pillow's default hard limit: still our error.
    with pytest.raises(UnsupportedImageError, match="megapixels"):
        read(_huge_png(tmp_path / "big.png", 10001, 10000))
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS


def test_gif_is_unsupported_format(tmp_path):
    path = save_pil(tmp_path / "anim.gif", colour())
    with pytest.raises(UnsupportedImageError, match="GIF"):
        read(path)


def test_every_error_is_a_fundus_error_with_the_file_name(tmp_path):
    cases = {
        "missing.png": None,
        "empty.png": b"",
        "text.jpg": b"hello",
        "cut.jpg": save_pil(tmp_path / "src.jpg", colour()).read_bytes()[:500],
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(FundusError) as info:
            read(path)
        assert name in str(info.value)


# ------------------------------------------------------------------ real data


@pytest.mark.data
def test_reads_every_research_photo(fundus_data):
    patterns = [
        "drive/*/images/*.tif",
        "hrf/images/*",
        "real_lowquality/**/images/*.png",
        "real_lowquality/**/images/*.jpg",
        "real_lowquality/eyepacs_fullres/*.jpeg",
    ]
    files = sorted({p for pat in patterns for p in fundus_data.glob(pat) if p.is_file()})
    assert len(files) >= 100
    for path in files:
        img = read(path)
        assert img.pixels.ndim == 3 and img.pixels.shape[2] == 3, path
        assert img.pixels.dtype == np.uint8 and img.bit_depth == 8, path
        assert min(img.width, img.height) >= MIN_SIDE, path
        assert len(img.source_sha256) == 64
    hrf = read(fundus_data / "hrf" / "images" / "01_h.jpg")
    assert (hrf.width, hrf.height) == (3504, 2336)
