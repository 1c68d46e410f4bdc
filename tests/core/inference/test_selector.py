"""Inference paths: same picture as float32, measured choice, fallbacks, cache invalidation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.inference import InferenceBackend, fixed_backend, make_backend, psnr_db, select_backend
from core.inference import selector
from core.inference.graph import ImageOnly, module_fingerprint
from core.inference.sample import synthetic_input
from core.models.magenet import MageNet, MageNetConfig
from tests.synthetic import TINY_MAGENET, tiny_magenet_with_live_head

SIZE = 64


def tiny(seed: int = 0) -> MageNet:
    torch.manual_seed(seed)
    return MageNet(MageNetConfig.from_dict(TINY_MAGENET)).eval()


def tiny_structured(seed: int = 0, cues: bool = False) -> MageNet:
    """The structured output form with its heads moved off the identity (fields and detail gains live)."""
    torch.manual_seed(seed)
    cfg = {**TINY_MAGENET, "output_form": "structured", "field_cell": 32, "detail_cues": cues}
    net = MageNet(MageNetConfig.from_dict(cfg))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def tiny_structured_with_cues(seed: int = 0) -> MageNet:
    return tiny_structured(seed, cues=True)


WITH_AND_WITHOUT_HEAD = pytest.mark.parametrize(
    "make", [tiny, tiny_magenet_with_live_head, tiny_structured, tiny_structured_with_cues],
    ids=["plain", "colour-head", "structured", "structured-cues"])


@WITH_AND_WITHOUT_HEAD
def test_pruned_graph_gives_the_same_image_as_the_full_forward(make):
    net = make()
    x, m = synthetic_input(SIZE)
    with torch.no_grad():
        full = net(x, m).image
        pruned = ImageOnly(net)(x, m)
    assert torch.equal(full, pruned)


@WITH_AND_WITHOUT_HEAD
def test_onnx_runtime_output_within_45_db_of_eager(make):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = make()
    x, m = synthetic_input(SIZE)
    eager = make_backend("eager")
    eager.prepare(net, SIZE)
    ort = make_backend("onnxruntime", threads=1)
    assert ort.available() is None
    ort.prepare(net, SIZE)
    ref, out = eager(x, m), ort(x, m)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert psnr_db(out, ref, m) >= 45.0
    # batch dimension is dynamic: two inputs in one call give the same as one at a time
    two = ort(torch.cat([x, x.flip(-1)]), torch.cat([m, m.flip(-1)]))
    assert torch.allclose(two[0], out[0], atol=1e-5)


def test_selector_picks_a_path_that_passes_the_fidelity_check(monkeypatch):
    monkeypatch.setattr(selector, "thread_options", lambda: [1, 2])
    net = tiny()
    x, m = synthetic_input(SIZE)
    choice = select_backend(net, x, m, candidates=["eager", "channels_last", "onnxruntime"], repeats=1)
    assert choice.name in ("eager", "channels_last", "onnxruntime")
    ok = [r for r in choice.measurements if r.ok]
    assert ok and all(r.psnr_db >= selector.MIN_PSNR_DB for r in ok)
    chosen = [r for r in ok if r.path == choice.name and r.threads == choice.backend.threads]
    assert chosen, "the chosen path was measured and passed"
    assert torch.allclose(choice.backend(x, m), ImageOnly(net)(x, m).detach(), atol=1e-3)


class NoisyBackend(InferenceBackend):
    """Fast but wrong: adds visible noise; must be refused however fast it is."""

    name = "noisy"
    reference = False

    def __call__(self, x, fov):
        return (super().__call__(x, fov) + 0.05 * torch.randn_like(x)).clamp(0, 1)


class BrokenBackend(InferenceBackend):
    name = "broken"
    reference = False

    def prepare(self, module, size):
        raise RuntimeError("export failed")


@pytest.fixture
def fake_paths(monkeypatch):
    monkeypatch.setattr(selector, "thread_options", lambda: [1])  # one thread count keeps these quick
    monkeypatch.setitem(selector._FACTORIES, "noisy", NoisyBackend)
    monkeypatch.setitem(selector._FACTORIES, "broken", BrokenBackend)


def test_unfaithful_and_failing_paths_are_skipped_with_reasons(fake_paths):
    net = tiny()
    x, m = synthetic_input(SIZE)
    choice = select_backend(net, x, m, candidates=["eager", "noisy", "broken"], repeats=1, use_cache=False)
    assert choice.name == "eager"
    notes = {r.path: r.note for r in choice.measurements}
    assert notes["noisy"].startswith("refused") and "dB" in notes["noisy"]
    assert notes["broken"].startswith("failed") and "export failed" in notes["broken"]


def test_named_path_that_cannot_run_falls_back_to_float32(monkeypatch, fake_paths):
    net = tiny()
    choice = fixed_backend("broken", net, SIZE)
    assert choice.name == "eager" and "broken unavailable" in choice.reason
    monkeypatch.setattr("core.inference.onnx_backend.ort_version", lambda: None)
    choice = fixed_backend("onnxruntime", net, SIZE)
    assert choice.name == "eager" and "onnxruntime is not installed" in choice.reason


def test_choice_is_cached_and_measured_again_for_other_weights(fake_paths):
    x, m = synthetic_input(SIZE)
    first = select_backend(tiny(0), x, m, candidates=["eager", "channels_last"], repeats=1)
    assert not first.from_cache
    again = select_backend(tiny(0), x, m, candidates=["eager", "channels_last"], repeats=1)
    assert again.from_cache and again.name == first.name
    other = select_backend(tiny(1), x, m, candidates=["eager", "channels_last"], repeats=1)
    assert not other.from_cache, "new weights (another model sha) must be measured again"
    assert module_fingerprint(tiny(0)) != module_fingerprint(tiny(1))
    records = json.loads(selector.cache_file().read_text())
    assert len(records) == 2 and all(r["path"] in ("eager", "channels_last") for r in records.values())


def test_a_cached_path_that_no_longer_works_is_measured_again(fake_paths):
    x, m = synthetic_input(SIZE)
    net = tiny()
    key = selector.cache_key(module_fingerprint(net), SIZE, "cpu", ["eager", "broken"])
    selector._write_cache(selector.cache_file(), key, {"path": "broken", "threads": 1,
                                                        "model_key": module_fingerprint(net)})
    choice = select_backend(net, x, m, candidates=["eager", "broken"], repeats=1)
    assert not choice.from_cache and choice.name == "eager"


def test_gpu_paths_say_why_they_cannot_run_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    for name in ("cuda_fp32", "cuda_fp16", "cuda_bf16"):
        assert "CUDA" in (make_backend(name).available() or "")
    assert selector.default_candidates("cuda") == ["cuda_fp32", "cuda_fp16", "cuda_bf16"]
    assert "compiled" not in selector.default_candidates("cpu")


def test_psnr_is_measured_inside_the_fov_only():
    a = torch.zeros(1, 3, 8, 8)
    b = a.clone()
    b[..., :, :4] = 1.0  # differs only outside the FOV
    fov = torch.zeros(1, 1, 8, 8)
    fov[..., :, 4:] = 1
    assert psnr_db(a, b, fov) == float("inf")
    assert np.isfinite(psnr_db(a, b))


@WITH_AND_WITHOUT_HEAD
def test_fast_graphs_keep_the_picture(make):
    from core.inference.graph import ClampPReLU, inference_graph

    net = make()
    x, m = synthetic_input(SIZE)
    with torch.no_grad():
        ref = net(x, m).image
        fp32 = inference_graph(net, None)(x.contiguous(memory_format=torch.channels_last), m)
        bf16_graph = inference_graph(net, torch.bfloat16)
        bf16 = bf16_graph(x, m)
    assert psnr_db(fp32, ref, m) >= 100.0
    assert bf16.dtype == torch.float32 and psnr_db(bf16, ref, m) >= selector.MIN_PSNR_DB
    assert any(isinstance(mod, ClampPReLU) for mod in bf16_graph.modules())
    assert not any(isinstance(mod, ClampPReLU) for mod in net.modules()), "the original model is untouched"
    if net.global_head is not None:  # the colour head's gain multiplies everything: it stays float32
        assert bf16_graph.model.global_head.to_field.weight.dtype == torch.float32
    p = torch.nn.PReLU(4)
    t = torch.randn(2, 4, 5, 5)
    assert torch.equal(ClampPReLU(p)(t), p(t).detach())


class CountingBackend(InferenceBackend):
    """Eager float32 that counts its runs, so a test can ask to stop after the n-th."""

    name = "counting"
    reference = True  # stands in for eager float32
    runs = 0

    def __call__(self, x, fov):
        CountingBackend.runs += 1
        return super().__call__(x, fov)


@pytest.mark.parametrize("after", [0, 1, 3])  # before the first run, after the warm-up, between repeats
def test_a_stop_request_ends_the_measurement_between_runs_and_caches_nothing(fake_paths, monkeypatch, after):
    """Closing the window mid-measurement: Cancelled within one run, and no choice is recorded."""
    from core.errors import Cancelled

    monkeypatch.setattr(selector, "thread_options", lambda: [1, 2])
    monkeypatch.setitem(selector._FACTORIES, "counting", CountingBackend)
    monkeypatch.setattr(selector, "reference_for", lambda device: "counting")
    CountingBackend.runs = 0
    net = tiny()
    x, m = synthetic_input(SIZE)
    with pytest.raises(Cancelled):
        select_backend(net, x, m, candidates=["counting", "channels_last", "noisy"], repeats=2,
                       should_stop=lambda: CountingBackend.runs >= after)
    assert CountingBackend.runs == after  # not one run more than asked
    assert not selector.cache_file().exists()
    full = select_backend(net, x, m, candidates=["counting", "channels_last", "noisy"], repeats=2)
    assert CountingBackend.runs > after + 3 and not full.from_cache  # the whole measurement has more runs


def test_the_enhancer_passes_its_stop_request_to_the_measurement(fake_paths):
    from core.enhance import EnhanceSettings, Enhancer
    from core.errors import Cancelled

    enh = Enhancer.from_module(tiny(), settings=EnhanceSettings(working_size=SIZE), backend="auto")
    with pytest.raises(Cancelled):
        enh.prepare_inference(should_stop=lambda: True)
    assert enh.inference is None, "a stopped measurement chooses nothing"
    assert enh.prepare_inference().name in selector.PATHS
