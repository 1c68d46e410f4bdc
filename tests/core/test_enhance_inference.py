"""The Enhancer and its inference paths: automatic choice reported, batched tiles and photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.enhance import EnhanceSettings, Enhancer
from core.inference import InferenceBackend, InferenceChoice, selector
from core.imaging.types import FundusImage
from core.models.magenet import MageNet, MageNetConfig
from tests.synthetic import TINY_MAGENET, make_fundus


def tiny() -> MageNet:
    torch.manual_seed(0)
    return MageNet(MageNetConfig.from_dict(TINY_MAGENET)).eval()


def photo(seed: int = 0, h: int = 180, w: int = 200) -> FundusImage:
    return FundusImage(pixels=make_fundus(h, w, seed=seed), bit_depth=8, source_sha256=f"{seed:064d}")


class CountingBatchBackend(InferenceBackend):
    """Eager float32 that takes several inputs per call, as the GPU path does; counts calls."""

    name = "eager"
    max_batch = 3

    def __init__(self, threads=None):
        super().__init__(threads)
        self.calls: list[int] = []

    def __call__(self, x, fov):
        self.calls.append(int(x.shape[0]))
        return super().__call__(x, fov)


def with_batching(enh: Enhancer, size: int) -> CountingBatchBackend:
    backend = CountingBatchBackend()
    backend.prepare(enh.model, size)
    enh._inference[size] = InferenceChoice(backend, "test")
    return backend


def test_auto_path_is_chosen_reported_and_recorded(monkeypatch):
    monkeypatch.setattr(selector, "thread_options", lambda: [1])
    monkeypatch.setattr(selector, "default_candidates", lambda device: ["eager", "channels_last"])
    enh = Enhancer.from_module(tiny(), settings=EnhanceSettings(working_size=64), backend="auto")
    assert "first photo" in enh.inference_path
    img = photo()
    result = enh.enhance(img)
    assert result.inference_path in ("eager", "channels_last")
    assert enh.inference is not None and enh.inference.name == result.inference_path
    assert "CPU" in enh.inference_path
    assert result.provenance(img)["extra"]["inference_path"] == result.inference_path
    assert result.pixels.shape == img.pixels.shape


def test_reference_by_default_for_wrapped_modules_and_unknown_paths_refused():
    enh = Enhancer.from_module(tiny(), settings=EnhanceSettings(working_size=64))
    assert enh.enhance(photo()).inference_path == "eager"
    with pytest.raises(ValueError):
        Enhancer.from_module(tiny(), backend="warp-drive")


def test_prepare_inference_without_a_photo_uses_a_stand_in():
    enh = Enhancer.from_module(tiny(), settings=EnhanceSettings(working_size=64), backend="channels_last")
    choice = enh.prepare_inference()
    assert choice.name == "channels_last" and enh.inference is choice


def test_batched_tiles_give_the_same_picture_as_one_at_a_time():
    settings = EnhanceSettings(mode="tiled", working_size=64, tiled_scale=2.0, tile_size=48, tile_overlap=12)
    single = Enhancer.from_module(tiny(), settings=settings)
    batched = Enhancer.from_module(tiny(), settings=settings)
    backend = with_batching(batched, 48)
    img = photo(h=240, w=260)
    a = single.enhance(img).pixels.astype(int)
    b = batched.enhance(img).pixels.astype(int)
    assert max(backend.calls) > 1, "tiles went through in groups"
    assert np.abs(a - b).max() <= 1


def test_enhance_many_batches_photos_on_a_batching_path():
    settings = EnhanceSettings(working_size=64)
    single = Enhancer.from_module(tiny(), settings=settings)
    batched = Enhancer.from_module(tiny(), settings=settings)
    backend = with_batching(batched, 64)
    imgs = [photo(seed=s) for s in range(4)]
    one = [single.enhance(i).pixels.astype(int) for i in imgs]
    many = list(batched.enhance_many(imgs))
    assert [type(r).__name__ for r in many] == ["EnhancementResult"] * 4
    assert backend.calls == [3, 1]
    for a, r in zip(one, many):
        assert np.abs(a - r.pixels.astype(int)).max() <= 1
