"""Inference backends: different ways to run the same network, chosen by measurement.

Every backend takes CPU float32 tensors x (B,3,S,S) and fov (B,1,S,S) and returns the
enhanced image as a CPU float32 tensor (B,3,S,S). `available()` says why a backend
cannot run here (None when it can); `prepare(module, size)` builds what it needs for
one input side (an ONNX session, a compiled graph); `__call__` runs it.

Eager float32 is the reference: every other backend must stay within
core.inference.selector.MIN_PSNR_DB of its output to be used.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import time
from typing import Iterator

import torch
from torch import nn

from core.inference.graph import ImageOnly, inference_graph
from core.paths import user_cache_dir


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with `n` intra-op threads, then restore (torch's setting is process-wide)."""
    if not n:
        yield
        return
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class InferenceBackend:
    """Base: plain PyTorch on the CPU in float32, NCHW (the reference)."""

    name = "eager"
    label = "PyTorch float32"
    device = "cpu"
    max_batch = 1  # tiles per call (the GPU path batches)
    reference = True  # the output every other path is checked against

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self.module: nn.Module | None = None
        self.size: int | None = None
        self.prepare_seconds = 0.0

    def available(self) -> str | None:
        return None

    def describe(self) -> str:
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else ""
        return f"{self.label} ({self.device.upper()}{threads})"

    def with_threads(self, threads: int | None) -> "InferenceBackend":
        """A fresh, unprepared copy of this backend with another thread count."""
        other = copy.copy(self)
        other.threads = threads
        other.module = None
        other.size = None
        return other

    def prepare(self, module: nn.Module, size: int) -> None:
        t = time.perf_counter()
        self.module = self._build(module, size)
        self.size = size
        self.prepare_seconds = time.perf_counter() - t

    def _build(self, module: nn.Module, size: int) -> nn.Module:
        # the model's own forward, unchanged: what every faster path is compared with
        return ImageOnly(module.to(self.device), prune=False).eval()

    def __call__(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        assert self.module is not None, "prepare() first"
        with torch.inference_mode(), torch_threads(self.threads):
            return self.module(x, fov).float()


class ChannelsLastBackend(InferenceBackend):
    """float32 in channels-last (NHWC) layout: oneDNN convolutions skip their layout reorders;
    the graph is pruned to the image (no structure head)."""

    name = "channels_last"
    label = "PyTorch float32, channels-last"
    reference = False
    dtype: torch.dtype | None = None

    def _build(self, module: nn.Module, size: int) -> nn.Module:
        return inference_graph(module, self.dtype, channels_last=True, device=self.device)

    def __call__(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        assert self.module is not None, "prepare() first"
        with torch.inference_mode(), torch_threads(self.threads):
            y = self.module(x.contiguous(memory_format=torch.channels_last), fov)
            return y.float().contiguous()


def cpu_bf16_supported() -> bool:
    """True when oneDNN has native bfloat16 kernels on this CPU (AVX512-BF16 / AMX)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except Exception:  # noqa: BLE001 - an old build without the op: treat as unsupported
        return False


class CpuBF16Backend(ChannelsLastBackend):
    """bfloat16 weights and activations, channels-last: half the memory traffic, native on
    AVX512-BF16 CPUs. Weights are converted once (autocast would convert them on every call)
    and PReLU is re-expressed (its bfloat16 channels-last kernel is slow).

    The network predicts a residual added to the float32 input, so bfloat16 rounding of
    the residual moves the output far less than the 45 dB limit (checked, not assumed).
    """

    name = "cpu_bf16"
    label = "PyTorch bfloat16, channels-last"
    dtype = torch.bfloat16

    def available(self) -> str | None:
        if not cpu_bf16_supported():
            return "this CPU has no native bfloat16 instructions (AVX512-BF16 or AMX)"
        return None


def find_compiler() -> str | None:
    """A C++ compiler for torch.compile (inductor), or None (most clinical workstations)."""
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class CompiledBackend(ChannelsLastBackend):
    """torch.compile (inductor) with frozen weights, channels-last, optionally bfloat16.

    Fastest per image where a C++ compiler exists, but compiling costs tens of seconds in
    every new process (see docs/performance.md), so automatic selection leaves it out
    unless FUNDUS_STUDIO_COMPILE=1; the bench measures it with its compile time.
    """

    name = "compiled"
    label = "torch.compile float32, channels-last"
    bf16 = False

    def available(self) -> str | None:
        if find_compiler() is None:
            return "no C++ compiler found (torch.compile needs one)"
        if self.bf16 and not cpu_bf16_supported():
            return "this CPU has no native bfloat16 instructions"
        return None

    def _build(self, module: nn.Module, size: int) -> nn.Module:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(user_cache_dir() / "inductor"))
        import torch._inductor.config as inductor_config  # noqa: PLC0415 - torch._inductor takes seconds to import; only compiled paths need it

        inductor_config.freezing = True
        graph = inference_graph(module, torch.bfloat16 if self.bf16 else None, channels_last=True)
        compiled = torch.compile(graph, dynamic=False)
        x = torch.zeros(1, 3, size, size).contiguous(memory_format=torch.channels_last)
        m = torch.ones(1, 1, size, size)
        with torch.inference_mode(), torch_threads(self.threads):
            compiled(x, m)  # compiles now, so the first photo does not pay for it
        return compiled


class CompiledBF16Backend(CompiledBackend):
    name = "compiled_bf16"
    label = "torch.compile bfloat16, channels-last"
    bf16 = True
