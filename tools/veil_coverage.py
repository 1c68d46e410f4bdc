"""Diagnostic: do the synthetic cataract veils reach the colours of the real low-quality photos?

Why: every 2.3 run's worst real vessel ratio came from one yellow-green cataract photo (csdi/ZHF2).
A degradation the network never sees is one it cannot learn to undo, and a clean photo under the
default haze is never greener than a median G/R of about 0.8, where about a fifth of the real
low-quality photos lie above it. This prints the median-G/R distribution of the real photos beside
that of hazed clean training photos, under core.degrade's default ranges and under a training
config's `data.degrade_ranges`. It reads the research data (skips with a message where it is
absent); nothing is written.

    python tools/veil_coverage.py [--config configs/mage-s-2.3-supervised-green-veil.json] [--draws 6]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import core.paths  # noqa: E402
from core.data import sources  # noqa: E402
from core.degrade import DEFAULT_RANGES, DegradeRanges, degrade, ranges_with  # noqa: E402
from core.training.config import TrainConfig  # noqa: E402

SIDE = 512
"""Photos are framed and read at this side (core.data.sources, as training reads them): the median
colour does not depend on it, the time does."""


def median_green_red(rgb: np.ndarray, fov: np.ndarray) -> float:
    """Median G over median R inside the FOV: how green-yellow the photo is (a clean fundus ~0.4-0.6)."""
    med = np.median(rgb[fov], axis=0)
    return float(med[1] / max(float(med[0]), 1e-3))


def real_ratios(root: Path) -> list[float]:
    """The real low-quality photos training sees (evaluate's real subset left out)."""
    photos = sources.load_sources(sources.real_training_specs(root), max_side=SIDE, skip_unreadable=True)
    return [median_green_red(ph.image.astype(np.float32) / 255.0, ph.fov) for ph in photos]


def synthetic_ratios(root: Path, ranges: DegradeRanges, draws: int) -> list[float]:
    """Hazed (haze probability 1) blur-family degradations of 8 clean training photos."""
    ranges = ranges_with({"haze_probability": 1.0}, ranges)
    out = []
    for i, ph in enumerate(sources.load_sources(sources.train_clean_specs(root)[:8], max_side=SIDE)):
        rgb = ph.image.astype(np.float32) / 255.0
        for d in range(draws):
            hazed, _ = degrade(rgb, ph.fov.astype(np.float32), "b", seed=100 * i + d, ranges=ranges)
            out.append(median_green_red(hazed, ph.fov))
    return out


def summary(name: str, ratios: list[float], above: float) -> str:
    r = np.asarray(ratios)
    p50, p90, p97 = np.percentile(r, [50, 90, 97])
    return (f"{name:<36} n={len(r):>4}  median G/R p50 {p50:.2f}  p90 {p90:.2f}  p97 {p97:.2f}  "
            f"max {r.max():.2f}  share above {above:.2f}: {np.mean(r > above):.1%}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, help="training config whose data.degrade_ranges to compare")
    ap.add_argument("--draws", type=int, default=6, help="haze draws per clean photo")
    args = ap.parse_args(argv)
    root = core.paths.shared_data_dir()
    if root is None or not (root / "real_lowquality").is_dir() or not (root / "drive").is_dir():
        print("skipped: the research data (../shared/data/fundus or FUNDUS_DATA) is absent")
        return 0
    default = synthetic_ratios(root, DEFAULT_RANGES, args.draws)
    reach = max(default)
    print(summary("real low-quality photos", real_ratios(root), reach))
    print(summary("synthetic haze, default ranges", default, reach))
    if args.config is not None:
        ranges = ranges_with(TrainConfig.load(args.config).data.degrade_ranges)
        print(summary("synthetic haze, the config's ranges", synthetic_ratios(root, ranges, args.draws), reach))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
