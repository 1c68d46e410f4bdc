"""`fundus-studio bench-batch`: what the batch queue costs, and whether memory stays flat.

Throughput: the same photos enhanced (a) by calling the Enhancer in a bare loop
(read, enhance, write) and (b) through the batch queue and runner, in the same process,
on DRIVE-size (565 x 584) and HRF-size (3504 x 2336) photos. Memory: resident memory after
the first 20 photos of a 200-photo batch and at its end. It prints figures and ratios
against the targets (batch >= 90 % of the bare loop; growth < 10 %); it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import core.paths
from core.batch import BatchQueue, BatchRunner, Measurer, batch_settings, enqueue
from core.choices import MODES
from core.imaging import read, write
from core.imaging.synthetic import synthetic_photo
from core.memory import rss_mb


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench-batch", help="benchmark the batch queue against a bare Enhancer loop, and its memory")
    p.add_argument("--model", help="NAME[@VERSION]; default the active model, else an untrained mage-s "
                                   "(timing does not depend on the weights)")
    p.add_argument("--mode", default="fast", choices=MODES)
    p.add_argument("--drive", type=int, default=8, help="DRIVE-size photos per round (default 8)")
    p.add_argument("--hrf", type=int, default=2, help="HRF-size photos per round (default 2)")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds of bare loop and batch (order swapped each round), so load "
                        "from other programs falls on both alike (default 3)")
    p.add_argument("--memory-images", type=int, default=200, help="photos in the memory run (0 = skip)")
    p.add_argument("--memory-size", default="drive", choices=["drive", "hrf"])
    p.add_argument("--measures", action="store_true", help="also time the batch with per-photo measures on")
    p.set_defaults(handler=run)


def photo_set(kind: str, n: int, folder: Path) -> tuple[list[Path], str]:
    """n photos of one size: research photos (temporary copies, outside the repository) when present,
    else synthetic ones."""

    data = core.paths.shared_data_dir()
    pattern = {"drive": ("drive/test/images", "*.tif"), "hrf": ("hrf/images", "*.*")}[kind]
    found = sorted(p for p in (data / pattern[0]).glob(pattern[1]) if p.is_file()) if data else []
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        if found:  # a temporary copy (deleted with the benchmark's folder): n distinct files
            src = found[i % len(found)]
            copy = folder / f"{i:04d}_{src.name}"
            shutil.copyfile(src, copy)
            out.append(copy)
        else:
            p = folder / f"{i:04d}.png"
            synthetic_photo(p, (584, 565) if kind == "drive" else (2336, 3504), seed=i)
            out.append(p)
    origin = f"{kind.upper()} research photos" if found else f"synthetic {kind.upper()}-size photos"
    return out, origin


def _enhancer(model: str | None, mode: str) -> tuple[Any, str]:
    from core.enhance import Enhancer, EnhanceSettings  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.models.magenet import PRESETS, MageNet  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.models.registry import ModelRegistry  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    registry = ModelRegistry()
    if model or registry.active("enhancer") is not None:
        return Enhancer(model=model, device="cpu", registry=registry), "installed"
    net = MageNet(PRESETS["mage-s"])
    return Enhancer.from_module(net, device="cpu", settings=EnhanceSettings(mode=mode)), \
        "untrained mage-s: no model installed; timing does not depend on the weights"


def bare_loop(enhancer: Any, photos: list[Path], outdir: Path, mode: str) -> float:
    """Seconds for read -> enhance -> write of every photo, one after the other (the baseline)."""

    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for p in photos:
        image = read(p)
        result = enhancer.enhance(image, mode=mode)
        write(outdir / f"{p.stem}_enhanced.png", result.pixels, provenance=result.provenance(image), input_path=p)
    return time.perf_counter() - t0


BUSY: list[tuple[float, float]] = []
"""(seconds inside Enhancer.enhance, wall seconds) of each batch run: the pipeline's efficiency."""


def batch_run(enhancer: Any, photos: list[Path], workdir: Path, mode: str, measures: bool = False,
              job_finished: Any = None) -> float:
    """Seconds for every photo through the queue and runner (thumbnails on; measures as asked)."""

    queue = BatchQueue(workdir / "queue.sqlite3")
    batch_id, _ = enqueue(queue, [str(p) for p in photos], workdir / "out", batch_settings(mode, "png"),
                          allow_inside_input=True)
    measurer = Measurer() if measures else None
    t0 = time.perf_counter()
    BatchRunner(queue, batch_id, enhancer, measurer=measurer, job_finished=job_finished).run()
    elapsed = time.perf_counter() - t0
    counts = queue.counts(batch_id)
    busy = sum(j.enhance_s or 0.0 for j in queue.jobs(batch_id))
    BUSY.append((busy, elapsed))
    queue.close()
    if counts["done"] != len(photos) or sum(counts.values()) != len(photos):
        raise RuntimeError(f"the benchmark batch did not finish every photo: {counts}")
    return elapsed


def compare(enhancer: Any, photos: list[Path], root: Path, mode: str, rounds: int, measures: bool) -> dict:
    """Alternate bare loop and batch on the same photos; wall and CPU seconds of each."""
    tot = {"bare": [0.0, 0.0], "batch": [0.0, 0.0], "measures": [0.0, 0.0]}
    ratios = []
    for r in range(max(1, rounds)):
        order = ["bare", "batch"] if r % 2 == 0 else ["batch", "bare"]
        if measures:
            order.append("measures")
        wall = {}
        for what in order:
            c0 = time.process_time()
            if what == "bare":
                wall[what] = bare_loop(enhancer, photos, root / f"bare{r}", mode)
            else:
                wall[what] = batch_run(enhancer, photos, root / f"{what}{r}", mode, measures=what == "measures")
            tot[what][0] += wall[what]
            tot[what][1] += time.process_time() - c0
        ratios.append(wall["batch"] and wall["bare"] / wall["batch"])
    n = len(photos) * max(1, rounds)
    return {k: (60.0 * n / w if w else 0.0, c / n if c else 0.0) for k, (w, c) in tot.items()} | {
        "ratios": ratios, "n": n}


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    enhancer, which = _enhancer(args.model, args.mode)
    info = enhancer.model_info
    print(f"model {info['name']} {info['version']} ({which}); device {enhancer.device_choice.label}; "
          f"torch threads {torch.get_num_threads()}; CPU cores {os.cpu_count()}; mode {args.mode}")
    with tempfile.TemporaryDirectory(prefix="fundus-bench-batch-") as tmp:
        root = Path(tmp)
        for kind, n in (("drive", args.drive), ("hrf", args.hrf)):
            if n <= 0:
                continue
            photos, origin = photo_set(kind, n, root / kind / "in")
            first = read(photos[0])
            enhancer.enhance(first, mode=args.mode)  # warm-up (allocations, kernels)
            del first
            BUSY.clear()
            load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            res = compare(enhancer, photos, root / kind, args.mode, args.rounds, args.measures)
            busy = sum(b for b, _ in BUSY[: args.rounds * (2 if args.measures else 1)])
            wall_b = sum(w for _, w in BUSY[: args.rounds * (2 if args.measures else 1)])
            (bare, bare_cpu), (batch, batch_cpu) = res["bare"], res["batch"]
            rounds = ", ".join(f"{100 * x:.0f}%" for x in res["ratios"])
            print(f"{kind.upper()}-size, {origin}, {len(photos)} photos x {args.rounds} rounds:\n"
                  f"  bare Enhancer loop {bare:.2f} photos/min ({bare_cpu:.2f} CPU-s/photo); "
                  f"batch queue {batch:.2f} photos/min ({batch_cpu:.2f} CPU-s/photo)\n"
                  f"  batch = {100 * batch / bare:.0f}% of the bare loop (per round: {rounds}, median "
                  f"{100 * sorted(res['ratios'])[len(res['ratios']) // 2]:.0f}%; target >= 90%)\n"
                  f"  the enhancer was busy {100 * busy / wall_b:.0f}% of the batch's wall-clock time "
                  f"(the rest is the queue's own cost: pipeline fill and drain, waiting on reads/writes)\n"
                  f"  machine load average {load0:.1f} at the start on {os.cpu_count()} cores "
                  f"(other programs running make these figures noisy)")
            if args.measures:
                with_m, m_cpu = res["measures"]
                print(f"  batch with per-photo measures: {with_m:.2f} photos/min ({100 * with_m / bare:.0f}%, "
                      f"{m_cpu:.2f} CPU-s/photo)")
        if args.memory_images > 0:
            n = args.memory_images
            photos, origin = photo_set(args.memory_size, n, root / "mem" / "in")
            gc.collect()
            marks: dict[int, float] = {}
            count = [0]

            def finished(job: Any) -> None:
                count[0] += 1
                if count[0] in (1, 20, n // 2, n):
                    marks[count[0]] = rss_mb()

            rate = 60.0 * n / batch_run(enhancer, photos, root / "mem", args.mode, job_finished=finished)
            a, b = marks.get(20), marks.get(n)
            if a and b:
                print(f"memory over {n} {origin} ({rate:.1f} photos/min): RSS {marks.get(1, 0):.0f} MB after 1, "
                      f"{a:.0f} MB after 20, {marks.get(n // 2, 0):.0f} MB after {n // 2}, {b:.0f} MB at the end: "
                      f"growth after the first 20 {100 * (b - a) / a:+.1f}% (target < 10%)")
    return 0
