"""Keep freed tensor memory in the process between network layers (glibc malloc settings).

A 512 px forward pass allocates a few hundred activation tensors of 4-16 MB. With glibc's
defaults such blocks are mmapped or trimmed back to the system as soon as they are freed,
so the next layer's tensor is fresh memory that the kernel must fault in and zero, again
and again: measured 30-40 % of the inference time on a 2-core workstation (both float32
and bfloat16; docs/performance.md). Raising the mmap threshold to glibc's maximum (32 MB)
and the trim threshold to 256 MB keeps those blocks in the heap for reuse. An explicit
malloc_trim (the batch runner's, after each photo) still returns memory to the system.

Linux/glibc only; elsewhere, or with FUNDUS_STUDIO_MALLOC_TUNE=0, nothing is changed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024

_state: dict[str, str] = {}


def tune_malloc() -> str:
    """Apply the settings once per process; returns what was done (for reports)."""
    if "result" in _state:
        return _state["result"]
    result = "unchanged (not Linux/glibc)"
    if os.environ.get("FUNDUS_STUDIO_MALLOC_TUNE", "1") in ("0", "false", "no"):
        result = "unchanged (FUNDUS_STUDIO_MALLOC_TUNE=0)"
    elif sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
            result = "glibc mmap threshold 32 MB, trim threshold 256 MB" if ok else "unchanged (mallopt refused)"
        except (OSError, AttributeError) as exc:  # musl or another libc: leave it alone
            result = f"unchanged ({exc})"
    log.info("malloc: %s", result)
    _state["result"] = result
    return result
