"""`fundus-studio optimise`: compile the enhancement model for this computer, once.

Builds AOTInductor packages (core.inference.aot) for the sides the Enhancer runs the
network at (the fast mode's working size and the tiled mode's tile size), then measures
the inference paths again so the automatic choice can take the compiled one. Needs a C++
compiler; workstations without one keep the paths that need none. `--clear` deletes the
packages (they are also safe to delete by hand: the cache dir only holds derived files).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from core.errors import FundusError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optimise",
        help="compile the enhancement model for this computer (once; needs a C++ compiler)",
    )
    p.add_argument("--model", help="NAME or NAME@VERSION (default: the active model)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="auto: bfloat16 where the CPU has native bfloat16 instructions, else float32")
    p.add_argument("--threads", type=int, help="threads the compiled code uses (default: all cores)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="PX",
                   help="network input sides (default: the working size and the tile size)")
    p.add_argument("--clear", action="store_true", help="delete every compiled package instead")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from core.inference.aot import package_dir  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    if args.clear:
        folder = package_dir()
        removed = list(folder.glob("*.pt2"))
        for f in removed:
            f.unlink(missing_ok=True)
        print(f"Removed {len(removed)} compiled package(s) from {folder}.")
        return 0

    from core.inference.aot import why_cannot_build  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.inference.backends import cpu_bf16_supported  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    why = why_cannot_build()
    if why:
        print(f"The model cannot be compiled here: {why}. "
              "Fundus Studio still picks the fastest path that needs no compiler.", file=sys.stderr)
        return 2
    bf16 = args.precision == "bf16" or (args.precision == "auto" and cpu_bf16_supported())
    if args.precision == "bf16" and not cpu_bf16_supported():
        print("This CPU has no native bfloat16 instructions: use --precision fp32.", file=sys.stderr)
        return 2
    threads = args.threads or max(1, os.cpu_count() or 1)
    return _build_and_select(args.model, bf16, threads, args.sizes)


def _build_and_select(model: str | None, bf16: bool, threads: int, sizes: list[int] | None) -> int:
    from core.enhance import Enhancer  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.inference import select_backend  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.inference.aot import AotBackend, AotBF16Backend  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.inference.sample import synthetic_input  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    try:
        enhancer = Enhancer(model=model, device="cpu")
    except FundusError as err:
        print(f"Cannot load the model: {err}", file=sys.stderr)
        return 2
    info = enhancer.model_info
    key = enhancer.model_key
    sides = sorted(set(sizes or [enhancer.settings.working_size, enhancer.settings.tile_size]))
    kind = AotBF16Backend if bf16 else AotBackend
    print(f"{len(sides)} size(s) to compile: {', '.join(str(side) for side in sides)} px", flush=True)
    for side in sides:
        backend = kind(threads=threads, model_key=key, build=True)
        print(f"Compiling {info['name']}@{info['version']} for {side} px, "
              f"{'bfloat16' if bf16 else 'float32'}, {threads} thread(s) (about a minute, once)...", flush=True)
        t = time.perf_counter()
        try:
            backend.prepare(enhancer.model, side)
        except Exception as exc:  # noqa: BLE001 - report and stop: nothing is half-written
            print(f"  failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        what = f"built in {backend.build_seconds:.0f} s" if backend.built_now else "already built"
        print(f"  {what}: {backend.package}", flush=True)
        x, fov = synthetic_input(side)
        choice = select_backend(enhancer.model, x, fov, device="cpu", model_key=key)
        print(f"  inference path at {side} px: {choice.label}; {choice.reason}  [{time.perf_counter() - t:.0f} s]")
    return 0
