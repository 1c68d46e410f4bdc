"""Ablation table: several training runs' last snapshots, measured side by side on the validation split.

Why: issue 17 asks for ablations one change at a time (supervised vs teacher-student, each
consistency term, with and without the vessel loss). Runs of equal budget are compared at their
last snapshot, never at a checkpoint chosen on test photos, and in one pass of
`core.evaluation.validation.measure`, so the shared parts (the degraded vessel rows, the photos as
read) are computed once and every run is judged on exactly the same photos. The reference (the
model the runs started from) is measured beside them; `fundus-studio select` still chooses the
checkpoint of the run that ships.

    python tools/compare_runs.py runs/mage23/supervised runs/mage23/ts runs/mage23/ts-no-vessel \
        --reference resources/models/mage-s-2.0.0.json --threads 2 --output ../runs/ablation23.json \
        --sheet ../runs/ablation23-worst.png   # input | each model | CLAHE-L*, worst real photos first
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import core.paths  # noqa: E402
from core.commands.phase_bar import phase_bar  # noqa: E402
from core.commands.evaluate import load_model  # noqa: E402
from core.evaluation import protocol, validation  # noqa: E402
from core.evaluation.baselines import clahe_lab  # noqa: E402
from core.evaluation.contact_sheet import make_contact_sheet, save_png  # noqa: E402
from core.training import snapshots  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="training run folders (config.json and snapshots/)")
    ap.add_argument("--reference", help="the model card the runs started from, measured beside them")
    ap.add_argument("--limit", type=int, help="only the first N clean and N real validation photos")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output", help="write the figures as JSON here (outside the repository)")
    ap.add_argument("--sheet", help="write a contact sheet of the worst real photos here (outside the repository)")
    args = ap.parse_args(argv)
    root = core.paths.shared_data_dir()
    if root is None:
        print("skipped: the research data folder (../shared/data/fundus) was not found")
        return 0
    torch.set_num_threads(args.threads)
    fns, steps = {}, {}
    if args.reference:
        module, card = load_model(args.reference)
        fns[f"reference {card.name} {card.version}"] = protocol.enhancer_fn(module)
    for run in map(Path, args.runs):
        cfg = snapshots.run_config(run)
        paths = snapshots.list_snapshots(run)
        if not paths:
            print(f"error: {run} has no snapshots (train with snapshot_minutes set)", file=sys.stderr)
            return 2
        if not cfg.data.hold_out_validation:
            print(f"error: {run} trained on the validation photos (data.hold_out_validation is false)", file=sys.stderr)
            return 2
        fns[run.name] = protocol.enhancer_fn(snapshots.load_snapshot(cfg, paths[-1]))
        steps[run.name] = snapshots.snapshot_step(paths[-1])
    photos = validation.load_validation(root, real_limit=args.limit, clean_limit=args.limit)
    print(f"{len(fns)} model(s); validation: {len(photos.clean)} clean, {len(photos.real)} real photos", file=sys.stderr)
    bar, progress = phase_bar()

    tables: dict = {}
    figures = validation.measure(fns, photos, protocol.clean_trained_segmenter(), progress=progress, tables=tables)
    bar.close()
    reference = next((n for n in fns if n.startswith("reference ")), None)
    choice = validation.choose(figures, reference)
    print("last snapshot steps: " + ", ".join(f"{k} {v}" for k, v in steps.items()))
    print(validation.markdown(figures, choice))
    worst = {name: validation.worst_photos(tables["real"], name) for name in fns}
    for name, w in worst.items():
        print(f"{name}: worst real photos by correlation "
              + ", ".join(f"{i} {v:.3f}" for i, v in w["correlation"])
              + "; by vessel ratio " + ", ".join(f"{i} {v:.3f}" for i, v in w["ratio"])
              + "; by blob ratio " + ", ".join(f"{i} {v:.2f}" for i, v in w["blobs"]))
    if args.sheet:
        save_png(args.sheet, worst_sheet(fns, photos, worst))
        print(f"contact sheet: {args.sheet}")
    if args.output:
        Path(args.output).write_text(json.dumps({"steps": steps, "figures": figures, "choice": choice, "worst": worst}, indent=2) + "\n")
    return 0


def worst_sheet(fns: dict, photos: validation.ValidationPhotos, worst: dict, cell: int = 320):
    """input | each model | CLAHE-L* for every photo that is some run's worst: by correlation, lowest
    first, then those worst only by vessel ratio, lowest first (the two measures are not on one scale)."""
    def lowest_first(measure: str) -> list[str]:
        low: dict[str, float] = {}
        for w in worst.values():
            for i, v in w[measure]:
                low[i] = min(low.get(i, v), v)
        return sorted(low, key=low.get)

    by_id = {ph.id: ph for ph in photos.real}
    rows, labels = [], []
    for image_id in dict.fromkeys(lowest_first("correlation") + lowest_first("ratio")):
        ph = by_id[image_id]
        outs = [ph.rgb] + [fn(ph.rgb, ph.fov) for fn in fns.values()] + [clahe_lab(ph.rgb, ph.fov)]
        rows.append([o * ph.fov[..., None] for o in outs])
        labels.append(image_id)
    return make_contact_sheet(rows, labels, ["input", *fns, "CLAHE-L*"], cell=cell,
                              title="validation real photos, worst first (band-pass correlation or vessel ratio)")


if __name__ == "__main__":
    raise SystemExit(main())
