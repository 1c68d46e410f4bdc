"""The GPU path: CUDA inference with pinned host memory, non-blocking copies and batched tiles.

Tiles (and, in Enhancer.enhance_many, the working-size inputs of several photos) are
stacked into one batch. Host buffers are page-locked (pinned) so the copies to and from
the GPU run asynchronously with the computation; half precision (float16 or bfloat16
autocast) halves the memory traffic and uses the tensor cores. As on the CPU, a
reduced-precision path is used only when its output is within 45 dB of float32 on the
same GPU (core.inference.selector).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from core.inference.backends import InferenceBackend
from core.inference.graph import ImageOnly, inference_graph

CUDA_MAX_BATCH = 8


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


class CudaBackend(InferenceBackend):
    """CUDA float32 (the GPU reference), channels-last, pinned staging buffers."""

    name = "cuda_fp32"
    label = "CUDA float32"
    device = "cuda"
    max_batch = CUDA_MAX_BATCH
    reference = True
    dtype: torch.dtype | None = None  # autocast dtype; None = float32

    def __init__(self, threads: int | None = None) -> None:
        super().__init__(threads)
        self._pinned_bufs: dict[tuple, torch.Tensor] = {}

    def available(self) -> str | None:
        if not cuda_available():
            return "no CUDA GPU available"
        return None

    def with_threads(self, threads: int | None) -> "CudaBackend":
        other = super().with_threads(threads)
        other._pinned_bufs = {}
        return other  # type: ignore[return-value]

    def _build(self, module: nn.Module, size: int) -> nn.Module:
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
        if self.reference:  # the model's own forward in float32, the GPU reference
            return ImageOnly(copy.deepcopy(module).to("cuda", memory_format=torch.channels_last), prune=False).eval()
        return inference_graph(module, None, channels_last=True, device="cuda")

    def _pinned(self, shape: tuple, dtype: torch.dtype, tag: str) -> torch.Tensor:
        key = (tag, tuple(shape), dtype)
        buf = self._pinned_bufs.get(key)
        if buf is None:
            buf = torch.empty(tuple(shape), dtype=dtype, pin_memory=True)
            self._pinned_bufs[key] = buf
        return buf

    def to_device(self, t: torch.Tensor, tag: str) -> torch.Tensor:
        """Host tensor -> GPU through a reused pinned buffer (asynchronous copy)."""
        if t.is_cuda:
            return t
        host = self._pinned(tuple(t.shape), t.dtype, tag)
        host.copy_(t)
        return host.to("cuda", non_blocking=True)

    def __call__(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        assert self.module is not None, "prepare() first"
        xg = self.to_device(x, "x").contiguous(memory_format=torch.channels_last)
        mg = self.to_device(fov, "m")
        with torch.inference_mode():
            if self.dtype is None:
                y = self.module(xg, mg)
            else:
                with torch.autocast("cuda", dtype=self.dtype):
                    y = self.module(xg, mg)
            y = y.float().contiguous()
            out = self._pinned(tuple(y.shape), torch.float32, "y")
            out.copy_(y, non_blocking=True)
            torch.cuda.current_stream().synchronize()
        return out.clone()


class CudaFP16Backend(CudaBackend):
    name = "cuda_fp16"
    label = "CUDA float16 autocast"
    reference = False
    dtype = torch.float16


class CudaBF16Backend(CudaBackend):
    name = "cuda_bf16"
    label = "CUDA bfloat16 autocast"
    reference = False
    dtype = torch.bfloat16

    def available(self) -> str | None:
        if not cuda_available():
            return "no CUDA GPU available"
        if not torch.cuda.is_bf16_supported():
            return "this GPU has no native bfloat16"
        return None
