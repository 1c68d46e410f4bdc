"""The GPU guided step (run here on torch's CPU device) gives the CPU step's picture."""

from __future__ import annotations

import numpy as np
import pytest

from core.imaging.guided_upsample import apply_to_photo
from core.inference.gpu_upsample import apply_to_photo_torch
from tests.synthetic import guided_case


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gpu_guided_step_matches_the_cpu_one(dtype):
    photo, _, frame, sq, a, b, top = guided_case((260, 330), dtype, grid=48, seed=2)
    ref = apply_to_photo(photo, frame, sq, a, b, top)
    got = apply_to_photo_torch(photo, frame, sq, a, b, top, device="cpu")
    assert got.dtype == dtype and np.abs(got.astype(int) - ref.astype(int)).max() <= 1
