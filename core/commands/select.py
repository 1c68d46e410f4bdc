"""`fundus-studio select RUN [--reference CARD]`: choose a run's checkpoint on the validation split.

Scores every snapshot of the run (TrainConfig.snapshot_minutes) and the model it started from on
core.data.validation's photos (never a test split): vessel recovery with the clean-trained
segmenter plus evaluate's do-no-harm measures (core.evaluation.validation). Writes
<run>/validation.json and validation.md, and the chosen snapshot as a registry model in
<run>/selected/ (ready for `fundus-studio ship`). Reports stay inside the run folder, which is
ignored by git: they name research photos.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import core.paths
from core.errors import FundusError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("select", help="choose a training run's checkpoint on the validation split")
    p.add_argument("run", metavar="RUN", help="the training run folder (its config.json and snapshots/)")
    p.add_argument("--reference", metavar="CARD",
                   help="the model a snapshot must not be worse than (default: the run's init_from card)")
    p.add_argument("--data", metavar="DIR", help="research data folder (default: ../shared/data/fundus)")
    p.add_argument("--limit", type=int, help="use only the first N clean and N real validation photos (quick checks)")
    p.add_argument("--no-vessels", action="store_true", help="skip vessel recovery (no clean-trained segmenter)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(handler=run)


def _reference_card(arg: str | None, init_from: str | None) -> Path | None:
    if arg:
        return Path(arg)
    if init_from and Path(init_from).suffix == ".safetensors" and Path(init_from).with_suffix(".json").exists():
        return Path(init_from).with_suffix(".json")
    return None


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.commands.phase_bar import phase_bar  # noqa: PLC0415 - tqdm: only when the command runs

    from core.commands.evaluate import load_model  # noqa: PLC0415 - needs torch: loaded when the command runs
    from core.evaluation import protocol, validation  # noqa: PLC0415 - needs torch: loaded when the command runs
    from core.training import snapshots  # noqa: PLC0415 - needs torch: loaded when the command runs

    run_dir = Path(args.run)
    data = Path(args.data) if args.data else core.paths.shared_data_dir()
    if data is None or not data.exists():
        print("error: the research data folder was not found (use --data or set FUNDUS_DATA)", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = snapshots.run_config(run_dir)
        if not cfg.data.hold_out_validation:
            print("error: this run trained on the validation photos (its config's data.hold_out_validation is "
                  "false), so they cannot choose among its checkpoints", file=sys.stderr)
            return 2
        paths = snapshots.list_snapshots(run_dir)
        if not paths:
            print(f"error: {run_dir} has no snapshots (train with snapshot_minutes set)", file=sys.stderr)
            return 2
        candidates = {f"step {snapshots.snapshot_step(p)}": p for p in paths}
        fns = {name: protocol.enhancer_fn(snapshots.load_snapshot(cfg, p)) for name, p in candidates.items()}
        ref_card = _reference_card(args.reference, cfg.init_from)
        reference = None
        if ref_card is not None:
            module, card = load_model(str(ref_card))
            reference = f"reference {card.name} {card.version}"
            fns = {reference: protocol.enhancer_fn(module), **fns}
        segmenter = None if args.no_vessels else protocol.clean_trained_segmenter()
        if segmenter is None and not args.no_vessels:
            print("warning: no clean-trained segmenter in resources/evaluation: vessel recovery is skipped",
                  file=sys.stderr)
        photos = validation.load_validation(data, real_limit=args.limit, clean_limit=args.limit)
        print(f"{len(candidates)} snapshot(s); validation: {len(photos.clean)} clean, {len(photos.real)} real photos"
              + (f" ({len(photos.skipped)} unreadable, skipped)" if photos.skipped else ""), file=sys.stderr)
        bar, progress = phase_bar()

        figures = validation.measure(fns, photos, segmenter, progress=progress)
        bar.close()
        choice = validation.choose(figures, reference)
        report = {"run": str(run_dir), "figures": figures, "choice": choice,
                  "validation_photos": {"clean": [p.id for p in photos.clean], "real": [p.id for p in photos.real],
                                        "skipped": photos.skipped}}
        (run_dir / "validation.json").write_text(json.dumps(report, indent=2) + "\n")
        table = validation.markdown(figures, choice)
        (run_dir / "validation.md").write_text(table)
        print(table)
        if choice["chosen"] is None:
            print("no snapshot passes the do-no-harm gates: nothing selected (see validation.md)")
            return 1
        installed = snapshots.export_selected(run_dir, cfg, candidates[choice["chosen"]],
                                              {"chosen": choice["chosen"], "reference": reference,
                                               "beats_reference": choice["beats_reference"],
                                               "figures": figures[choice["chosen"]],
                                               "reference_figures": figures.get(reference) if reference else None})
        print(f"chosen: {choice['chosen']} -> {installed.card_path}"
              + ("" if choice["beats_reference"] is not False else " (its vessel recovery is not above the reference's)"))
    except FundusError as exc:  # Cancelled included
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing selected", file=sys.stderr)
        return 130
    return 0
