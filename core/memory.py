"""Process memory: read it (resident now, peak), and give freed memory back to the OS (glibc only).

A long batch allocates and frees the same large arrays (photo, network activations,
upsampling buffers) hundreds of times from three threads. glibc keeps freed blocks in
per-thread arenas and raises its mmap threshold after big frees, so the process's
resident memory creeps up although nothing is leaked. `malloc_trim(0)` returns free
pages of every arena; elsewhere (macOS, Windows, musl) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
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


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), else its peak (the best the standard library offers)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Highest resident memory of this process so far (ru_maxrss is bytes on macOS, KiB elsewhere)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024
