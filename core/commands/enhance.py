"""`fundus-studio enhance INPUT... -o OUTDIR`: enhance photos at full resolution.

With --comparison, a comparison picture (core.export) is written beside each output.
Each output is checked by the do-no-harm guard (core.guard): a flagged one is still written,
with a WARNING line saying so, and the run's summary counts them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from core.batch.inputs import OUTPUT_TAG, output_suffix
from core.choices import DEVICE_PREFERENCES, MODES
from core.errors import FundusError
from core.export import write_comparison
from core.imaging import read, write
from core.imaging.suffixes import find_photos


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enhance", help="enhance photos with MAGE-Net at full resolution")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for enhanced images")
    p.add_argument("--model", help="NAME or NAME@VERSION (default: the active model)")
    p.add_argument("--device", default="auto", choices=DEVICE_PREFERENCES)
    p.add_argument("--mode", default="fast", choices=MODES, help="fast (guided) or tiled (high quality)")
    p.add_argument(
        "--format", default="auto", choices=["auto", "png", "tiff", "jpg"],
        help="output format; auto = 16-bit TIFF for 16-bit inputs, PNG otherwise",
    )
    p.add_argument("--comparison", choices=["side", "split"],
                   help="also write OUTDIR/<stem>_comparison.png: original and enhanced side by side or split, "
                        "marked \"Not for diagnostic use\" (and with the guard's warning when flagged)")
    p.set_defaults(handler=run)


def collect_inputs(inputs: list[str]) -> list[Path]:
    """Files as given, and the photos found in folders (core.imaging.suffixes.find_photos, recursive)."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(find_photos(path, recursive=True))
        else:
            found.append(path)
    return found


def output_path(outdir: Path, source: Path, bit_depth: int, fmt: str) -> Path:
    """OUTDIR/<stem>_enhanced<suffix>, the suffix chosen as the batch chooses it (core.batch.inputs)."""

    return outdir / f"{source.stem}{OUTPUT_TAG}{output_suffix(fmt, bit_depth)}"


def run(args: argparse.Namespace) -> int:
    from core.enhance import Enhancer  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    files = collect_inputs(args.inputs)
    if not files:
        print("No images found in the given inputs.", file=sys.stderr)
        return 2
    try:
        enhancer = Enhancer(model=args.model, device=args.device)
    except FundusError as err:
        print(f"Cannot enhance: {err}", file=sys.stderr)
        return 2
    info = enhancer.model_info
    print(f"Model {info['name']} {info['version']} on {enhancer.device_choice.label}, mode {args.mode}")
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[Path, str]] = []
    said_path = False
    flagged: list[Path] = []
    with tqdm(total=len(files), unit="image", file=sys.stderr, dynamic_ncols=True) as bar:
        for src in files:
            bar.set_description(src.name[:30])
            t0 = time.perf_counter()
            try:
                image = read(src)
                result = enhancer.enhance(image, mode=args.mode)
                if not said_path:
                    said_path = True
                    choice = enhancer.inference
                    bar.write(f"Inference path: {enhancer.inference_path}"
                              + (f" ({choice.reason})" if choice is not None else ""))
                dest = output_path(outdir, src, image.bit_depth, args.format)
                written = write(dest, result.pixels, provenance=result.provenance(image), input_path=src,
                                bit_depth=image.bit_depth)
                bar.write(f"ok      {src} -> {written.path} ({image.width}x{image.height}, "
                          f"{time.perf_counter() - t0:.1f} s)")
                if args.comparison:
                    comp = write_comparison(outdir / f"{src.stem}_comparison.png", image, result, args.comparison)
                    bar.write(f"        comparison -> {comp.path}")
                if result.guard_flagged:
                    flagged.append(src)
                    bar.write(guard_line(src, result))
            except FundusError as err:
                failures.append((src, str(err)))
                bar.write(f"FAILED  {src}: {err}")
            bar.update(1)
    done = len(files) - len(failures)
    print(f"{done} of {len(files)} enhanced into {outdir}" + (f", {len(failures)} failed:" if failures else "."))
    for src, reason in failures:
        print(f"  {src}: {reason}")
    if flagged:
        print(f"{len(flagged)} output(s) flagged by the do-no-harm guard: compare them with their originals.")
    return 1 if failures else 0


def guard_line(src: Path, result) -> str:
    """The CLI's line for an output the guard flagged (it was written all the same)."""
    return (f"WARNING {src}: {result.guard_message} (structure score {result.guard_score:.2f} < "
            f"threshold {result.guard_threshold:.2f})")
