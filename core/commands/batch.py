"""`fundus-studio batch INPUT... -o OUTDIR`: enhance whole folders through the persistent queue.

Runs on the same engine as the desktop batch panel (core.batch). Interrupt it (Ctrl+C),
or lose power, and `--resume` continues where it stopped; photos already enhanced with
the same model and settings are skipped, never done twice.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tqdm import tqdm

from core.batch import BatchQueue, BatchRunner, Measurer, batch_settings, enqueue, write_reports
from core.choices import DEVICE_PREFERENCES, MODES
from core.errors import FundusError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="enhance folders of photos in a resumable batch queue, with a report")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="output folder; sub-folders of the inputs are mirrored in it")
    p.add_argument("--resume", action="store_true",
                   help="continue the last batch writing into OUTDIR (interrupted jobs are redone)")
    p.add_argument("--report", action="store_true",
                   help="write OUTDIR/batch_report.csv and batch_report.html at the end")
    p.add_argument("--include", action="append", default=[], metavar="PATTERN",
                   help="only files whose name matches, e.g. '*.tif' or '*_h.*' (repeatable)")
    p.add_argument("--mode", default="fast", choices=MODES, help="fast (guided) or tiled (high quality)")
    p.add_argument("--device", default="auto", choices=DEVICE_PREFERENCES)
    p.add_argument("--model", help="NAME or NAME@VERSION (default: the active model)")
    p.add_argument("--format", default="auto", choices=["auto", "png", "tiff", "jpg"],
                   help="output format; auto = 16-bit TIFF for 16-bit photos, PNG otherwise")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: try failed and cancelled photos again")
    p.add_argument("--no-measures", action="store_true", help="skip per-photo quality measures (faster)")
    p.add_argument("--vessels", default="auto", choices=["auto", "on", "off"],
                   help="compare vessel maps before/after for the report (needs a vessel model; slow on a CPU: "
                        "tens of seconds per photo). auto = on with a GPU, off on a CPU")
    p.add_argument("--comparison", action="store_true",
                   help="also write <stem>_comparison.png beside each output (original | enhanced, marked "
                        "\"Not for diagnostic use\")")
    p.add_argument("--allow-inside-input", action="store_true",
                   help="allow OUTDIR inside an input folder (off by default: originals stay apart)")
    p.set_defaults(handler=run)


def _print_failures(queue, batch_id: int) -> None:
    failed = queue.jobs(batch_id, ["failed"])
    if failed:
        print(f"{len(failed)} failed:")
        for j in failed:
            print(f"  {j.input_path}: {j.error}")


def run(args: argparse.Namespace) -> int:
    from core.enhance import Enhancer  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    outdir = Path(args.output)
    queue = BatchQueue()
    recovered = queue.recover_interrupted()
    batch = queue.latest_batch(outdir) if args.resume else None
    if args.resume and batch is None:
        print(f"No earlier batch writes into {outdir}; give the inputs to start one.", file=sys.stderr)
        return 2
    if not args.resume and not args.inputs:
        print("Give at least one INPUT file or folder (or --resume).", file=sys.stderr)
        return 2
    try:
        enhancer = Enhancer(model=args.model, device=args.device)
    except FundusError as err:
        print(f"Cannot enhance: {err}", file=sys.stderr)
        return 2
    try:
        if batch is not None:
            batch_id = batch.id
            settings = batch.settings
            if args.retry_failed:
                queue.retry_failed(batch_id)
            opts = batch.options
            inputs = args.inputs or opts.get("inputs", [])
            existing = [i for i in inputs if Path(i).exists()]
            if existing:  # photos added to the folders since the batch was made join it
                enqueue(queue, existing, outdir, settings, include=args.include or opts.get("include", []),
                        allow_inside_input=args.allow_inside_input or opts.get("allow_inside_input", False),
                        batch_id=batch_id)
        else:
            settings = batch_settings(args.mode, args.format)
            batch_id, _ = enqueue(queue, args.inputs, outdir, settings, include=args.include,
                                  allow_inside_input=args.allow_inside_input)
    except FundusError as err:
        print(f"Cannot start the batch: {err}", file=sys.stderr)
        return 2

    counts = queue.counts(batch_id)
    info = enhancer.model_info
    print(f"Batch {batch_id} into {outdir}: {sum(counts.values())} photos ({counts['pending']} to do"
          + (f", {counts['done']} already done" if counts["done"] else "")
          + (f", {recovered} interrupted earlier and redone" if recovered else "") + ")")
    print(f"Model {info['name']} {info['version']} on {enhancer.device_choice.label}, "
          f"mode {settings.get('enhance', {}).get('mode')}")
    vessels = args.vessels == "on" or (args.vessels == "auto" and enhancer.device != "cpu")
    measurer = None if args.no_measures else Measurer.with_installed_models(enhancer.device, vessels=vessels)

    interrupted = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl+C: stop cleanly; second: default behaviour
        interrupted.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_sigint)
    bar = tqdm(total=counts["pending"], unit="photo", file=sys.stderr, dynamic_ncols=True)

    def finished(job) -> None:
        bar.update(1)
        bar.set_postfix_str(job.name[:30])
        if job.status == "failed":
            bar.write(f"FAILED   {job.input_path}: {job.error}")
        elif job.status == "skipped":
            bar.write(f"skipped  {job.input_path} (already enhanced, same model and settings)")

    runner = BatchRunner(queue, batch_id, enhancer, measurer=measurer, job_finished=finished,
                         should_stop=interrupted.is_set, comparisons=args.comparison)
    try:
        summary = runner.run()
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)
    counts = queue.counts(batch_id)
    print(f"{counts['done']} enhanced, {counts['skipped']} skipped, {counts['failed']} failed, "
          f"{counts['pending']} still to do ({summary.images_per_min:.1f} photos/min this run).")
    _print_failures(queue, batch_id)
    if args.report:
        csv_path, html_path = write_reports(queue, batch_id)
        print(f"Report: {html_path} (table: {csv_path.name})")
    if summary.stopped:
        print(f"Stopped. Continue with: fundus-studio batch -o {outdir} --resume")
        return 130
    return 1 if counts["failed"] else 0
