"""Enhancer behaviour: full-resolution output, FOV handling, tiles, progress, cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.enhance import EnhanceSettings, Enhancer
from core.errors import Cancelled, FieldOfViewError
from core.imaging.types import FundusImage
from tests.synthetic import GainModel, make_fundus


def image_of(pixels: np.ndarray) -> FundusImage:
    bits = 16 if pixels.dtype == np.uint16 else 8
    return FundusImage(pixels=pixels, bit_depth=bits, source_sha256="0" * 64)


def fov_disc(shape: tuple[int, int], shrink: float = 0.9) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return np.hypot(yy - h / 2, xx - w / 2) <= shrink * 0.45 * min(h, w)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_fast_mode_full_resolution_matches_pointwise_correction(dtype):
    pixels = make_fundus(331, 417, dtype=dtype)
    enhancer = Enhancer.from_module(GainModel(), settings=EnhanceSettings(working_size=128))
    result = enhancer.enhance(image_of(pixels))
    assert result.pixels.shape == pixels.shape and result.pixels.dtype == pixels.dtype
    maxv = np.iinfo(dtype).max
    expected = np.clip(pixels / maxv * 0.6 + 0.15, 0, 1)
    inside = fov_disc(pixels.shape[:2])
    err = np.abs(result.pixels / maxv - expected)[inside]
    assert np.median(err) < 0.01 and np.percentile(err, 99) < 0.06
    assert not result.pixels[~result.fov.mask].any(), "outside the FOV must stay black"


def test_tiled_mode_is_seamless_for_a_pointwise_model():
    pixels = make_fundus(500, 520)
    settings = EnhanceSettings(mode="tiled", working_size=128, tiled_scale=3.0, tile_size=96, tile_overlap=24)
    enhancer = Enhancer.from_module(GainModel(), settings=settings)
    assert enhancer.tile_count(500) > 4
    tiled = enhancer.enhance(image_of(pixels)).pixels.astype(float)
    fast = enhancer.enhance(image_of(pixels), mode="fast").pixels.astype(float)
    inside = fov_disc(pixels.shape[:2])
    assert np.abs(tiled - fast)[inside].mean() < 2.0


class WholeImageMean(torch.nn.Module):
    """Pulls the mean brightness inside the FOV to 0.5: a decision only the whole image can make.

    Has a `global_head` like MAGE-Net with the colour head, so tiled mode takes its shading
    from one whole-image pass."""

    def __init__(self, head: bool = True) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        if head:
            self.global_head = torch.nn.Identity()

    def forward(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        mean = (x * fov).sum((2, 3), keepdim=True) / fov.sum((2, 3), keepdim=True).clamp_min(1.0)
        return ((x - mean) * self.scale + 0.5).clamp(0, 1) * fov


def test_tiled_mode_takes_whole_image_colour_from_one_pass_at_the_working_size():
    pixels = make_fundus(500, 520)
    settings = EnhanceSettings(mode="tiled", working_size=128, tiled_scale=3.0, tile_size=96, tile_overlap=24)
    inside = fov_disc(pixels.shape[:2])
    diffs = {}
    for head in (True, False):
        enhancer = Enhancer.from_module(WholeImageMean(head), settings=settings)
        assert enhancer.has_colour_head is head
        calls: list[tuple[int, int, str]] = []
        tiled = enhancer.enhance(image_of(pixels), progress=lambda d, t, m: calls.append((d, t, m))).pixels  # noqa: B023 - used at once
        fast = enhancer.enhance(image_of(pixels), mode="fast").pixels
        diffs[head] = np.abs(tiled.astype(float) - fast)[inside].mean()
        assert calls[-1][0] == calls[-1][1] == enhancer.tile_count(500) + 2 + int(head)
        assert any(m == "whole-image colour" for *_, m in calls) is head
    # each tile alone pulls its own mean to 0.5; the whole-image pass restores the photo's shading
    assert diffs[True] < 1.0 < diffs[False]


def test_deterministic_and_reports_progress_in_order():
    pixels = make_fundus(256, 256)
    enhancer = Enhancer.from_module(GainModel(), settings=EnhanceSettings(working_size=64))
    calls: list[tuple[int, int]] = []
    a = enhancer.enhance(image_of(pixels), progress=lambda d, t, m: calls.append((d, t)))
    b = enhancer.enhance(image_of(pixels))
    assert np.array_equal(a.pixels, b.pixels)
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    assert {"prepare", "inference", "upsample", "total"} <= set(a.timings)


def test_cancel_stops_the_work():
    enhancer = Enhancer.from_module(GainModel(), settings=EnhanceSettings(working_size=64))
    with pytest.raises(Cancelled):
        enhancer.enhance(image_of(make_fundus(200, 200)), should_stop=lambda: True)


def test_enhance_many_fails_one_item_and_goes_on():
    enhancer = Enhancer.from_module(GainModel(), settings=EnhanceSettings(working_size=64))
    black = np.zeros((200, 200, 3), np.uint8)
    results = list(enhancer.enhance_many([image_of(make_fundus(200, 200)), image_of(black),
                                          image_of(make_fundus(220, 240, seed=2))]))
    assert isinstance(results[1], FieldOfViewError)
    assert results[0].pixels.shape == (200, 200, 3) and results[2].pixels.shape == (220, 240, 3)


def test_provenance_names_model_device_and_settings():
    enhancer = Enhancer.from_module(GainModel(), settings=EnhanceSettings(working_size=64))
    image = image_of(make_fundus(200, 200))
    prov = enhancer.enhance(image).provenance(image)
    text = repr(prov)
    assert "cpu" in text and "working_size" in text and image.source_sha256 in text
