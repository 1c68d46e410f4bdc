"""`fundus-studio bench`: measured speed and memory of full-resolution enhancement.

Prints figures and ratios against a baseline run in the same process; it asserts
nothing (targets belong to people reading the numbers, not to timed tests).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark full-resolution enhancement (speed, peak memory)")
    p.add_argument("--image", help="photo to use (default: an HRF photo from the research data, "
                                   "else the bundled sample upscaled to 3504x2336)")
    p.add_argument("--model", help="NAME[@VERSION]; default the active model, else an untrained mage-s "
                                   "(timing does not depend on the weights)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--mode", default="fast", choices=["fast", "tiled"])
    p.set_defaults(handler=run)


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _load_image(arg: str | None):
    import cv2  # noqa: PLC0415

    from core.imaging import read  # noqa: PLC0415
    from core.imaging.types import FundusImage  # noqa: PLC0415
    from core.paths import resources_dir, shared_data_dir  # noqa: PLC0415

    if arg:
        return read(arg)
    data = shared_data_dir()
    if data is not None:
        candidates = sorted((data / "hrf" / "images").glob("*_h.jpg"))
        if candidates:
            return read(candidates[0])
    sample = read(resources_dir() / "samples" / "fundus_normal_left_eye_cc0.jpg")
    big = cv2.resize(sample.pixels, (2336, 2336), interpolation=cv2.INTER_CUBIC)
    canvas = np.zeros((2336, 3504, 3), np.uint8)
    canvas[:, 584:2920] = big
    return FundusImage(pixels=canvas, bit_depth=8, source_sha256=sample.source_sha256,
                       source_path=Path("sample-upscaled-3504x2336"), metadata={})


def _enhancer(model: str | None, mode: str):
    from core.enhance import EnhanceSettings, Enhancer  # noqa: PLC0415
    from core.models.magenet import PRESETS, MageNet  # noqa: PLC0415
    from core.models.registry import ModelRegistry  # noqa: PLC0415

    registry = ModelRegistry()
    if model or registry.active("enhancer") is not None:
        return Enhancer(model=model, device="cpu", registry=registry), "installed"
    net = MageNet(PRESETS["mage-s"])
    return Enhancer.from_module(net, device="cpu", settings=EnhanceSettings(mode=mode)), "untrained mage-s"


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from core.imaging.fov import SquareFrame, detect_fov  # noqa: PLC0415

    image = _load_image(args.image)
    enhancer, which = _enhancer(args.model, args.mode)
    size = enhancer.settings.working_size
    print(f"image {image.name}: {image.width}x{image.height}; model {enhancer.model_info['name']} ({which}); "
          f"device {enhancer.device_choice.label}; torch threads {torch.get_num_threads()}")
    rss0 = _peak_rss_mb()

    # Baseline: the network alone at working resolution, on the same photo's FOV.
    fov = detect_fov(image.pixels)
    frame = SquareFrame.from_fov(fov, image.pixels.shape)
    import cv2  # noqa: PLC0415

    square = frame.to_square(image.pixels).astype(np.float32) / image.max_value
    small = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(frame.to_square(fov.mask).astype(np.float32), (size, size)) > 0.5
    enhancer._run(small, mask)  # warm-up
    base = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        enhancer._run(small, mask)
        base.append(time.perf_counter() - t)
    enhancer.enhance(image, mode=args.mode)  # warm-up
    full, parts = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = enhancer.enhance(image, mode=args.mode)
        full.append(time.perf_counter() - t)
        parts.append(result.timings)
    b, f = statistics.median(base), statistics.median(full)
    print(f"working-resolution inference alone ({size}x{size}): {b:.3f} s (median of {args.repeat})")
    print(f"full-resolution {args.mode} enhancement ({image.width}x{image.height}): {f:.3f} s "
          f"(prepare {statistics.median(p['prepare'] for p in parts):.3f}, "
          f"inference {statistics.median(p['inference'] for p in parts):.3f}, "
          f"upsample {statistics.median(p['upsample'] for p in parts):.3f})")
    print(f"ratio full / working-resolution inference: {f / b:.2f}x (target <= 2x in fast mode)")
    print(f"peak resident memory of this process: {_peak_rss_mb():.0f} MB (before the runs {rss0:.0f} MB; "
          f"target < 3072 MB)")
    return 0
