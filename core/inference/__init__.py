"""Inference paths for the enhancement network (eager, channels-last, bfloat16, ONNX Runtime,
torch.compile, CUDA) and the measured choice between them; see docs/performance.md."""

from core.inference.backends import InferenceBackend
from core.inference.selector import (
    MIN_PSNR_DB,
    PATHS,
    InferenceChoice,
    Measurement,
    default_candidates,
    fixed_backend,
    make_backend,
    psnr_db,
    select_backend,
)

__all__ = [
    "MIN_PSNR_DB", "PATHS", "InferenceBackend", "InferenceChoice", "Measurement",
    "default_candidates", "fixed_backend", "make_backend", "psnr_db", "select_backend",
]
