"""Checks shared by the Pillow, TIFF and DICOM decoders (core.imaging.pixel_checks)."""

import numpy as np
import pytest

from core.errors import ImageReadError, UnsupportedImageError
from core.imaging.pixel_checks import (
    MAX_PIXELS,
    MIN_SIDE,
    check_dimensions,
    damaged_error,
    grayscale_error,
    scale_to_container,
)


def test_dimensions_refused_outside_the_limits():
    check_dimensions(MIN_SIDE, MIN_SIDE, "ok.png")
    with pytest.raises(UnsupportedImageError, match="at least"):
        check_dimensions(MIN_SIDE - 1, 500, "small.png")
    with pytest.raises(UnsupportedImageError, match="megapixels"):
        check_dimensions(MAX_PIXELS // 100, 101, "huge.png")


def test_error_messages_name_the_file():
    assert isinstance(grayscale_error("g.png"), UnsupportedImageError)
    err = damaged_error("d.dcm", "DICOM")
    assert isinstance(err, ImageReadError) and "DICOM image 'd.dcm'" in str(err)


def test_twelve_bit_values_fill_sixteen_bits():
    meta: dict = {"notes": []}
    out = scale_to_container(np.array([0, 4095], dtype=np.uint16), 12, meta)
    assert out.tolist() == [0, 65535] and meta["scaled_to_full_range"] and meta["bits_stored"] == 12
    same = np.array([1, 2], dtype=np.uint16)
    assert scale_to_container(same, 16, {"notes": []}) is same
