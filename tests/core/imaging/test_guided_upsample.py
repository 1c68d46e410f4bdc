"""The banded guided step gives the same picture as the full-size computation it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from core.imaging.guided_upsample import apply_to_photo, apply_upsampled
from tests.synthetic import guided_case


@pytest.mark.parametrize("shape,dtype", [((300, 420), np.uint8), ((410, 330), np.uint16), ((257, 260), np.uint8)])
def test_banded_apply_matches_full_size_apply(shape, dtype):
    photo, fov, frame, sq_mask, a, b, top = guided_case(shape, dtype, grid=64, seed=1)
    square = frame.to_square(photo).astype(np.float32) / top
    full = apply_upsampled(square, a, b) * sq_mask[..., None]
    expected = np.rint(frame.from_square(np.clip(full, 0, 1), fill=0.0) * top).astype(dtype)
    got = apply_to_photo(photo, frame, sq_mask, a, b, top, band=37)  # odd band: the seams are tested too
    assert got.dtype == dtype and got.shape == photo.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert not got[~fov.mask].any()
