"""`fundus-studio evaluate [--models LABEL=MODEL ...] [--quick] -o OUTDIR`: the evaluation protocol.

Prints the tables, writes report.json, report.md and contact sheets into OUTDIR (the do-no-harm
tables, docs/evaluation.md "Do no harm", included; report["do_no_harm"]["guard"][LABEL] is the
model's guard calibration for its card).
MODEL is a registry reference (NAME or NAME@VERSION), a model card (.json) or its
weights (.safetensors, card next to it). Without --models, the active enhancer.
The research photos are licensed for research only, so OUTDIR must lie outside
the repository (contact sheets made from them must never be committed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import core.paths
from core.commands.phase_bar import phase_bar
from core.errors import FundusError


RESERVED_LABELS = ("degraded input", "input", "clean")
"""Row names of the report that are not baselines but would collide with a model's label just the same."""


def label_clash(label: str, models: dict) -> str | None:
    """Why this model label cannot be used, or None: a label equal to a baseline's or another model's
    name would silently merge two rows of every table (a model called "structured" once replaced the
    classical structured baseline's row)."""
    from core.evaluation.baselines import BASELINES  # noqa: PLC0415 - the parser stays torch-free

    if label in BASELINES or label in RESERVED_LABELS:
        return f"the label {label!r} is the name of a baseline row; choose another (e.g. {label}-model)"
    if label in models:
        return f"the label {label!r} is given twice"
    return None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="run the evaluation protocol (synthetic, native, clean, real, vessels, do no harm)")
    p.add_argument("--models", nargs="*", metavar="LABEL=MODEL",
                   help="models to compare, e.g. supervised=runs/sup/model/mage-s-1.0.0.json teacher-student=mage-s@1.0.0")
    p.add_argument("--quick", action="store_true", help="7 test images, 8 real photos, no native or vessel tables")
    p.add_argument("--native", choices=["subset", "all", "none"], default="subset",
                   help="HRF native-resolution table: one combination per photo (default), all 7, or none")
    p.add_argument("--no-vessels", action="store_true", help="skip the vessel-recovery table")
    p.add_argument("--no-do-no-harm", action="store_true",
                   help="skip the do-no-harm tables (photometric, real-photo fidelity, lesions, guard calibration)")
    p.add_argument("--data", metavar="DIR", help="research data folder (default: ../shared/data/fundus)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--supervised", metavar="LABEL", help="which label is the supervised model (targets)")
    p.add_argument("--teacher-student", metavar="LABEL", help="which label is the teacher-student model (targets)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="report folder, outside the repository")
    p.set_defaults(handler=run)


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent.parent


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def load_model(spec: str):
    """(module, card) from a registry reference, a card .json or a .safetensors next to its card."""
    from core.models.registry import InstalledModel, ModelCard, ModelRegistry  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    registry = ModelRegistry()
    path = Path(spec)
    if path.suffix in (".json", ".safetensors") and path.exists():
        card_path = path if path.suffix == ".json" else path.with_suffix(".json")
        card = ModelCard.load(card_path)
        installed = InstalledModel(card, card_path.parent / card.weights_file, card_path, "file")
    else:
        name, _, version = spec.partition("@")
        installed = registry.get(name, version or None)
    return registry.load(installed, device="cpu"), installed.card


def run(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    from core.evaluation import protocol  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    out = Path(args.output)
    if _inside(out, _repo_root()):
        print("error: the output folder must be outside the repository (reports show research-only photos)",
              file=sys.stderr)
        return 2
    data = Path(args.data) if args.data else core.paths.shared_data_dir()
    if data is None or not data.exists():
        print("error: the research data folder was not found (use --data or set FUNDUS_DATA)", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    models, cards = {}, {}
    try:
        specs = args.models
        if not specs:
            from core.models.registry import ModelRegistry  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

            active = ModelRegistry().active("enhancer")
            if active is None:
                print("error: no enhancer model is installed; pass --models", file=sys.stderr)
                return 2
            specs = [f"{active.card.name}={active.card.ref}"]
        for item in specs:
            label, sep, spec = item.partition("=")
            if not sep:
                label, spec = Path(item).stem, item
            clash = label_clash(label, models)
            if clash:
                print(f"error: {clash}", file=sys.stderr)
                return 2
            models[label], cards[label] = load_model(spec)
    except FundusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    bar, progress = phase_bar(mininterval=0.1)

    t0 = time.perf_counter()
    opts = protocol.ProtocolOptions(quick=args.quick, native=args.native, vessels=not args.no_vessels,
                                    do_no_harm=not getattr(args, "no_do_no_harm", False))
    try:
        rep = protocol.run_protocol(models, data, opts, progress=progress)
    except FundusError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar.close()
    rep["wall_time_s"] = round(time.perf_counter() - t0, 1)
    rep["model_cards"] = {k: {"name": c.name, "version": c.version, "sha256": c.sha256,
                              "variant": (c.training or {}).get("variant")} for k, c in cards.items()}
    sup = args.supervised or next((k for k in models if "sup" in k.lower()), None)
    ts = args.teacher_student or next((k for k in models if "teacher" in k.lower() or k.lower() == "ts"), None)
    rep["targets"] = protocol.check_targets(rep, sup, ts)
    out.mkdir(parents=True, exist_ok=True)
    sheets = protocol.contact_sheets(rep, out)
    clean = protocol.strip_examples(rep)
    (out / "report.json").write_text(json.dumps(clean, indent=2, default=float) + "\n")
    md = protocol.markdown(clean)
    (out / "report.md").write_text(md)
    print(md)
    print(f"wall time {rep['wall_time_s']} s; written: {out / 'report.json'}, {out / 'report.md'}, "
          + ", ".join(str(s) for s in sheets))
    return 0
