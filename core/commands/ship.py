"""`fundus-studio ship CARD --report REPORT.json --label LABEL [--dest DIR] [--allow-worse]`.

Copies a trained model (card + sha256-checked weights) into the shipped models folder with its
do-no-harm figures and guard calibration from `fundus-studio evaluate`'s report.json, and refuses
it when it is worse than the currently shipped model's card on the photometric or real-photo
table beyond the stated tolerances (core.training.ship.TOLERANCES), unless --allow-worse.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import paths
from core.errors import FundusError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ship", help="ship a trained model with its do-no-harm figures (refuses a worse one)")
    p.add_argument("card", metavar="CARD", help="the trained model's card (.json, weights next to it)")
    p.add_argument("--report", required=True, metavar="REPORT", help="report.json of `fundus-studio evaluate`")
    p.add_argument("--label", required=True, help="the model's label in that report (LABEL=MODEL of --models)")
    p.add_argument("--dest", metavar="DIR", help="shipped models folder (default: resources/models)")
    p.add_argument("--compare-with", metavar="CARD", help="the card to compare with (default: newest in --dest)")
    p.add_argument("--notes", help="replace the card's notes")
    p.add_argument("--allow-worse", action="store_true",
                   help="ship even if it is worse than the shipped model on the do-no-harm tables (recorded in the card)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from core.models.registry import ModelCard  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.training.ship import ship_model  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    try:
        report = json.loads(Path(args.report).read_text())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the report {args.report}: {exc}", file=sys.stderr)
        return 2
    if not (report.get("do_no_harm") or {}):
        print("error: the report has no do-no-harm tables; run `fundus-studio evaluate` with them", file=sys.stderr)
        return 2
    dest = Path(args.dest) if args.dest else paths.resources_dir() / "models"
    try:
        metrics = ModelCard.load(args.card).metrics
        installed = ship_model(args.card, dest, metrics, notes=args.notes, report=report, label=args.label,
                               shipped_card=args.compare_with or "current", allow_worse=args.allow_worse)
    except FundusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    card = installed.card
    print(f"shipped {card.ref} to {installed.card_path}")
    guard = (card.extra or {}).get("guard") or {}
    if guard:
        rate = guard.get("catch_rate")
        print(f"guard threshold {guard.get('threshold'):.3f}"
              + (f", catches {100 * rate:.0f} % of outputs below {guard.get('bad_db', 30)} dB" if rate is not None else ""))
    despite = (card.training or {}).get("shipped_despite_do_no_harm")
    if despite:
        print("WARNING: shipped although it is worse than " + str(card.training.get("compared_with")) + ":")
        for r in despite:
            print(f"  - {r}")
    return 0
