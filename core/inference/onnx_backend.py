"""ONNX Runtime on the CPU: the network exported once per model and input side, then run by ORT.

ORT keeps convolutions in a blocked memory layout across layers and fuses small
operations, with no C++ compiler needed on the user's machine. The export is the
legacy TorchScript exporter (opset 17, static spatial size, dynamic batch): it needs
the `onnx` package but not `onnxscript`. Exported files live in the user cache dir,
keyed by the model fingerprint, the side and the torch version, and are written
atomically so two processes never read half a file.
"""

from __future__ import annotations

import io
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.inference.backends import InferenceBackend
from core.inference.graph import ImageOnly, module_fingerprint
from core.paths import user_cache_dir

log = logging.getLogger(__name__)

OPSET = 17


def ort_version() -> str | None:
    try:
        import onnxruntime  # noqa: PLC0415 - optional extra (pip install .[onnx])

        return str(onnxruntime.__version__)
    except Exception:  # noqa: BLE001 - missing or broken install: the path is just unavailable
        return None


def onnx_cache_path(model_key: str, size: int) -> Path:
    torch_ver = torch.__version__.split("+")[0]
    return user_cache_dir() / "onnx" / f"{model_key[:24]}-{size}-torch{torch_ver}-op{OPSET}.onnx"


def export_onnx(module: nn.Module, size: int, path: Path) -> Path:
    """Export ImageOnly(module) for (B,3,size,size) + (B,1,size,size) inputs; atomic write."""
    graph = ImageOnly(module).eval().cpu()
    x = torch.rand(1, 3, size, size)
    m = torch.ones(1, 1, size, size)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python branches on shapes: sizes are static
        torch.onnx.export(
            graph, (x, m), buf, dynamo=False, opset_version=OPSET,
            input_names=["image", "fov"], output_names=["enhanced"],
            dynamic_axes={"image": {0: "batch"}, "fov": {0: "batch"}, "enhanced": {0: "batch"}},
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return path


class OnnxRuntimeBackend(InferenceBackend):
    """The exported network run by ONNX Runtime's CPU execution provider."""

    name = "onnxruntime"
    label = "ONNX Runtime float32"
    reference = False

    def __init__(self, threads: int | None = None, model_key: str | None = None) -> None:
        super().__init__(threads)
        self.model_key = model_key
        self.session = None
        self.exported_now = False
        self.onnx_path: Path | None = None

    def available(self) -> str | None:
        if ort_version() is None:
            return "onnxruntime is not installed"
        try:
            import onnx  # noqa: F401, PLC0415 - the exporter needs it
        except Exception:  # noqa: BLE001
            return "the onnx package (needed to export the model) is not installed"
        return None

    def with_threads(self, threads: int | None) -> "OnnxRuntimeBackend":
        other = super().with_threads(threads)
        other.session = None
        return other  # type: ignore[return-value]

    def prepare(self, module: nn.Module, size: int) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - optional extra (pip install .[onnx])

        t = time.perf_counter()
        key = self.model_key or module_fingerprint(module)
        path = onnx_cache_path(key, size)
        self.exported_now = not path.exists()
        if self.exported_now:
            export_onnx(module, size, path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(self.threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception:
            path.unlink(missing_ok=True)  # a damaged cache file must not fail every later start
            raise
        self.onnx_path = path
        self.size = size
        self.module = None
        self.prepare_seconds = time.perf_counter() - t

    def describe(self) -> str:
        return f"{self.label} (CPU, {self.threads or torch.get_num_threads()} threads)".replace(
            "(CPU, 1 threads)", "(CPU, 1 thread)"
        )

    def __call__(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        assert self.session is not None, "prepare() first"
        xs = np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)
        ms = np.ascontiguousarray(fov.detach().cpu().numpy(), np.float32)
        (y,) = self.session.run(None, {"image": xs, "fov": ms})
        return torch.from_numpy(y)
