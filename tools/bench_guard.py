"""Benchmark of core.imaging.measures.guard_score (the Enhancer's per-output guard): must stay < 50 ms
on a 3504 x 2336 photo. A benchmark, not a test: timings depend on the machine and its load.

    python tools/bench_guard.py [PHOTO]      # default: a synthetic 3504 x 2336 fundus, uint8 and float32
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.imaging import measures as M  # noqa: E402


def main() -> int:
    if len(sys.argv) > 1:
        from core.imaging import read  # noqa: PLC0415
        from core.imaging.fov import detect_fov  # noqa: PLC0415

        px = read(sys.argv[1]).pixels
        px = px if px.dtype == np.uint8 else (px >> 8).astype(np.uint8)
        fov = detect_fov(px).mask
    else:
        from tests.synthetic import make_fundus  # noqa: PLC0415

        px = make_fundus(2336, 3504, radius=1700)
        fov = px.max(axis=2) > 0
    out = np.clip(px.astype(np.int16) + 10, 0, 255).astype(np.uint8)
    for label, a, b in (("uint8", px, out), ("float32", px.astype(np.float32) / 255, out.astype(np.float32) / 255)):
        M.guard_score(a, b, fov)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            score = M.guard_score(a, b, fov)
            times.append(time.perf_counter() - t)
        print(f"{label:8s} {px.shape[1]}x{px.shape[0]}: median {np.median(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms, score {score:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
