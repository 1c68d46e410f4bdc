"""Diagnostic: the detail stage's mean band gains by degradation kind, for one or more model cards.

Why: a detail stage that never sharpens is invisible in the evaluate tables until vessel recovery
and vessel contrast stay low. This says directly what the gains are on clean and degraded DRIVE
test photos (fine band, local-contrast band), so a training run can be checked in a minute. It
reads the research data (skips with a message where it is absent); nothing is written.

    python tools/detail_gains.py resources/models/mage-s-2.0.0.json [MORE CARDS] [--images 03 08]
    python tools/detail_gains.py runs/mage23/ts/snapshots/step-000050.safetensors   # a run's snapshot
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import core.paths  # noqa: E402
from core.commands.evaluate import load_model  # noqa: E402
from core.data.vessel_samples import load_sample  # noqa: E402
from core.degrade import degrade  # noqa: E402
from core.training import snapshots  # noqa: E402

KINDS = ("none", "b", "sb", "i", "isb")
"""'none' is the clean photo itself; the rest are core.degrade combinations."""


def mean_gains(model: torch.nn.Module, root: Path, kind: str, images: list[str], seed: int) -> tuple[float, float]:
    """Mean (fine, contrast) detail gain inside the FOV over `images` degraded by `kind`."""
    fine, contrast = [], []
    for image_id in images:
        s = load_sample(root, "drive_test", image_id)
        clean = s.rgb * s.fov[..., None]
        photo = clean if kind == "none" else degrade(clean, s.fov, kind, seed=seed)[0]
        x = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))[None].float()
        m = torch.from_numpy(s.fov.astype(np.float32))[None, None]
        gains = model.fields(x, m).detail_gain[0][:, s.fov]
        fine.append(float(gains[0].mean()))
        contrast.append(float(gains[1].mean()))
    return float(np.mean(fine)), float(np.mean(contrast))


def load(path: str) -> torch.nn.Module:
    """A model card, or a snapshot of a training run (<run>/snapshots/step-N.safetensors, whose run
    config says which network it is): so a run can be checked while it trains."""
    p = Path(path)
    if p.suffix == ".safetensors" and p.parent.name == "snapshots":
        return snapshots.load_snapshot(snapshots.run_config(p.parent.parent), p)
    return load_model(path)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cards", nargs="+", help="model cards (.json) of structured MAGE-Nets, or run snapshots")
    ap.add_argument("--images", nargs="+", default=["03", "08"], help="DRIVE test image ids")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    root = core.paths.shared_data_dir()
    if root is None:
        print("skipped: the research data folder (../shared/data/fundus) was not found")
        return 0
    torch.set_num_threads(args.threads)
    print(f"{'card':40s} {'input':6s} {'fine':>7s} {'contrast':>9s}")
    for card in args.cards:
        model = load(card)
        model.eval()
        for kind in KINDS:
            f, c = mean_gains(model, root, kind, args.images, args.seed)
            print(f"{_label(card):40s} {kind:6s} {f:+7.3f} {c:+9.3f}", flush=True)
    return 0


def _label(path: str) -> str:
    p = Path(path)
    return f"{p.parent.parent.name}/{p.stem}" if p.parent.name == "snapshots" else p.name


if __name__ == "__main__":
    raise SystemExit(main())
