"""Give freed memory back to the operating system between photos (glibc only).

A long batch allocates and frees the same large arrays (photo, network activations,
upsampling buffers) hundreds of times from three threads. glibc keeps freed blocks in
per-thread arenas and raises its mmap threshold after big frees, so the process's
resident memory creeps up although nothing is leaked. `malloc_trim(0)` returns free
pages of every arena; elsewhere (macOS, Windows, musl) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Callable

_trim: Callable[[int], int] | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _trim = getattr(_libc, "malloc_trim", None)
    except OSError:
        _trim = None


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True when the C library could do it."""
    if _trim is None:
        return False
    return bool(_trim(0))
