"""`fundus-studio bench`: speed and memory of every way to enhance a photo, on this computer.

A thin command over core.evaluation.speed: prints the tables and optionally writes JSON.
It asserts nothing (targets belong to people reading the numbers, not to timed tests).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from core.errors import FundusError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark enhancement on this computer: baselines, every inference path, stages, memory",
    )
    p.add_argument("--images", nargs="+", metavar="IMAGE",
                   help="photos to use, or any of drive / sample / hrf (default: all three; research data "
                        "where present, else sample-derived photos of the same sizes)")
    p.add_argument("--model", help="NAME[@VERSION]; default the active model, else an untrained mage-s "
                                   "(timing does not depend on the weights)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per measurement after a warm-up (default 3)")
    p.add_argument("--paths", nargs="+", metavar="PATH",
                   help="inference paths to measure (default: all for the device; see docs/performance.md)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", metavar="OUT", help="also write the full report as JSON to this file")
    p.add_argument("--no-baselines", action="store_true", help="skip the classical baselines")
    p.add_argument("--no-tiles", action="store_true", help="skip the tile size / overlap sweep")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from core.evaluation import speed  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.inference import PATHS  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    bad = [p for p in args.paths or [] if p not in PATHS]
    if bad:
        print(f"Unknown inference path(s) {', '.join(bad)}; choose from {', '.join(PATHS)}.", file=sys.stderr)
        return 2
    if args.device == "cuda":
        import torch  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

        if not torch.cuda.is_available():
            print("No CUDA GPU is available on this computer.", file=sys.stderr)
            return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="fundus-bench-") as work:
        try:
            keys = [i for i in args.images or [] if i in speed.IMAGE_SIZES]
            files = [i for i in args.images or [] if i not in speed.IMAGE_SIZES]
            images = None
            if args.images:
                images = (speed.default_images(Path(work), keys) if keys else []) + speed.given_images(files)
            report = speed.run_bench(
                images, model=args.model, paths=args.paths, repeat=max(1, args.repeat), device=args.device,
                baselines=not args.no_baselines, tiles=not args.no_tiles, log=log, workdir=Path(work),
            )
        except FundusError as err:
            print(f"Cannot run the benchmark: {err}", file=sys.stderr)
            return 2
    print(speed.format_table(report))
    if args.json:
        speed.save_json(report, args.json)
        print(f"JSON written to {args.json}")
    return 0
