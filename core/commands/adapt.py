"""`fundus-studio adapt SITE_DIR --minutes N --name NAME`: adapt MAGE-Net to a site's own photos.

The same engine as the training wizard (core.training.site_scan / site_adapt /
site_eval): scan the folder, hold out photos, fine-tune the active model with
teacher-student consistency, synthetic pairs from the site's best photos and an
anchor to the starting model, evaluate against the starting model, install the
result as a new model version with its card. `--resume RUN_DIR` continues a run
that was interrupted. `--activate` makes the new version active unless the
evaluation found it worse (then only with --activate-even-if-worse). With fewer than 5
held-out photos the verdict is "inconclusive"; a measure that got worse still needs
--activate-even-if-worse. The hold-out rule (about a fifth, at least 3; at least 6 usable
photos) is core.training.site_adapt.holdout_count, the wizard's too.
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from core.errors import Cancelled, FundusError
from core.training.site_scan import scan_site


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adapt", help="adapt MAGE-Net to a site's own unlabelled photos (resumable)")
    p.add_argument("site_dir", nargs="?", metavar="SITE_DIR", help="folder of the site's photos (searched recursively)")
    p.add_argument("--minutes", type=float, default=None, help="training time budget (default 20 without --steps)")
    p.add_argument("--steps", type=int, help="step budget (instead of, or as well as, minutes)")
    p.add_argument("--name", help="name of the adapted model (default: <starting model>-site)")
    p.add_argument("--version", help="version of the adapted model (default: the next free number)")
    p.add_argument("--holdout", type=int, default=None,
                   help="photos kept out of training for the evaluation (default: about a fifth, at least 3)")
    p.add_argument("--notes", default="", help="notes stored in the model card")
    p.add_argument("--activate", action="store_true", help="make the adapted model active (not if it got worse)")
    p.add_argument("--activate-even-if-worse", action="store_true",
                   help="activate it even if a measure got worse (also when the verdict is inconclusive)")
    p.add_argument("--start", metavar="NAME[@VERSION]", help="model to start from (default: the active one)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="training device")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--run-dir", metavar="DIR", help="folder for this run (default: <user data>/site_runs/...)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run in RUN_DIR")
    p.add_argument("--no-vessels", action="store_true", help="skip vessel-map stability in the evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=run)


def _bar(desc: str, unit: str):
    return tqdm(total=0, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30.0)


def _progress(bar):
    def cb(done: int, total: int, message: str) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(message[:60], refresh=False)
        bar.update(0)

    return cb


def _print_scan(scan) -> None:
    c = scan.counts()
    print(f"site photos: {c['found']} found, {c['readable']} readable, {c['usable']} usable, {c['excluded']} excluded")
    for cat, n in sorted(scan.reasons().items()):
        print(f"  excluded ({cat}): {n}")


def _print_eval(ev) -> None:
    print(f"evaluation on {len(ev.photos)} held-out photos, against {ev.starting_model}:")
    print(f"  {'measure':40s} {'photo':>9s} {'starting':>9s} {'adapted':>9s}  verdict")
    for m in ev.measures:
        inp = "" if m.input is None else f"{m.input:9.4f}"
        print(f"  {m.label:40s} {inp:>9s} {m.starting:9.4f} {m.adapted:9.4f}  {m.verdict}")
    for n in ev.notes:
        print(f"  note: {n}")
    if ev.guard:
        g = ev.guard
        rate = "" if g.get("catch_rate") is None else f", catches {100 * g['catch_rate']:.0f} % of < {g['bad_db']} dB"
        print(f"guard threshold of the adapted model: {g['threshold']:.3f} ({g['n']} shifted photos{rate}; "
              f"{g['source']})")
    print(f"overall: {ev.overall} ({ev.explanation})")


def run(args: argparse.Namespace) -> int:
    from core.models.registry import ModelRegistry  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.training.site_adapt import AdaptSettings, SiteAdaptation  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.training.site_eval import default_segmenter, evaluate_run  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    registry = ModelRegistry()
    try:
        if args.resume:
            adapt = SiteAdaptation.open(args.resume, registry)
            print(f"resuming {adapt.run_dir} (status {adapt.status})")
        else:
            if not args.site_dir:
                print("error: give SITE_DIR (or --resume RUN_DIR)", file=sys.stderr)
                return 2
            minutes = args.minutes if args.minutes is not None else (None if args.steps else 20.0)
            try:
                settings = AdaptSettings(minutes=minutes, steps=args.steps, holdout=args.holdout, device=args.device,
                                         threads=args.threads, seed=args.seed)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            start = registry.get(args.start) if args.start else None
            bar = _bar("scanning", "photo")
            scan = scan_site(args.site_dir, progress=_progress(bar))
            bar.close()
            _print_scan(scan)
            adapt = SiteAdaptation.create(scan, settings, run_dir=args.run_dir, start=start, registry=registry)
            print(f"run folder: {adapt.run_dir}")
        plan = adapt.plan
        print(f"starting model: {adapt.start_model.ref}; training on {len(plan.train)} photos "
              f"({len(plan.best)} best give synthetic pairs), {len(plan.holdout)} held out")
        if adapt.status not in ("trained", "installed"):
            bar = _bar("adapting", "step")
            adapt.prepare(progress=None)
            result = adapt.train(progress=_progress(bar))
            bar.close()
            print(f"{result.status}: {result.step} steps, {result.elapsed_s / 60:.1f} min of training")
        bar = _bar("evaluating", "photo")
        seg = None if args.no_vessels else default_segmenter()
        ev = evaluate_run(adapt, segmenter=seg, progress=_progress(bar))
        bar.close()
        _print_eval(ev)
        name = args.name or f"{adapt.start_model.card.name}-site"
        installed, activated = adapt.install(
            name, args.version, notes=args.notes, evaluation=ev,
            activate=args.activate or args.activate_even_if_worse, allow_worse=args.activate_even_if_worse,
        )
    except Cancelled as exc:
        print(f"stopped: {exc} Continue with: fundus-studio adapt --resume {adapt.run_dir}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted: continue with --resume RUN_DIR (the last checkpoint is kept)", file=sys.stderr)
        return 130
    except FundusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"installed {installed.ref} (card {installed.card_path})")
    if ev.needs_confirmation:
        print("WARNING: a measure got worse on the held-out photos; the model is flagged in its card.")
        if (args.activate or args.activate_even_if_worse) and not activated:
            print("It was NOT made active. Use --activate-even-if-worse, or the model manager, to choose it anyway.")
    if activated:
        print(f"{installed.ref} is now the active enhancer")
    return 0
