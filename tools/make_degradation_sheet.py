"""Contact sheets of the synthetic degradation model, and its timing.

    .venv/bin/python tools/make_degradation_sheet.py OUT_DIR [--data ../shared/data/fundus]
        [--sample ../shared/data/samples/fundus_normal_left_eye_cc0.jpg] [--public-only] [--seed 7]

Writes
  OUT_DIR/degradation_public.png    the public-domain sample (CC0): may be committed (docs/images/)
  OUT_DIR/degradation_research.png  DRIVE + HRF degraded, next to real low-quality photos
  OUT_DIR/degradation_random_vs_real.png  16 random draws next to 16 random real EyeQ photos
                                    (research-only data: never commit these two; they are
                                    not written when OUT_DIR is inside the repository)
and prints the time per degradation at 512 px and 256 px.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.degrade import COMBINATIONS, DegradeParams, degrade, sample_params  # noqa: E402
from core.evaluation.contact_sheet import make_contact_sheet, save_png  # noqa: E402

WORK = 512  # the FOV is scaled to this diameter before degrading, as in training


def read_rgb(path: Path) -> np.ndarray:
    """RGB float32 in [0, 1] (cv2 for most formats, Pillow for GIF)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        from PIL import Image

        img = np.asarray(Image.open(path).convert("RGB"))[..., ::-1]
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / scale


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    m = np.asarray(Image.open(path).convert("L")) > 127
    if m.shape != shape:
        m = cv2.resize(m.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    return m


def threshold_fov(rgb: np.ndarray) -> np.ndarray:
    """FOV of a photo without a mask file: the largest bright blob, holes filled.

    Uses core.imaging.fov.detect_fov when the engine has it.
    """
    try:
        from core.imaging.fov import detect_fov  # type: ignore

        return np.asarray(detect_fov((rgb * 255).astype(np.uint8)).mask, bool)
    except Exception:
        pass
    v = cv2.GaussianBlur(rgb.max(axis=2), (0, 0), 2)
    m = (v > 0.06).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m)
    if n > 1:
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        m = (lab == k).astype(np.uint8)
    cnts, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros_like(m)
    cv2.drawContours(out, cnts, -1, 1, thickness=-1)
    return cv2.erode(out, np.ones((5, 5), np.uint8)) > 0


def to_work(rgb: np.ndarray, mask: np.ndarray, diameter: int = WORK) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the FOV's bounding box and resize so the FOV is `diameter` px wide."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgb, mask = rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    s = diameter / max(y1 - y0, x1 - x0)
    size = (max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s))))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return rgb * mask[..., None], mask


def variants(seed: int) -> list[tuple[str, DegradeParams]]:
    """The 7 combinations, then blur-family variants: strong defocus and cataract haze."""
    out = []
    for k, comb in enumerate(COMBINATIONS):
        out.append((comb, sample_params(seed * 100 + k, comb)))
    p = sample_params(seed * 100 + 50, "b")
    p.haze, p.defocus_sigma, p.jpeg_quality = None, 3.5, None
    out.append(("b: defocus 3.5px", p))
    h = sample_params(seed * 100 + 51, "b", ranges=_haze_always())
    h.defocus_sigma = 1.0
    h.haze.strength = 0.55
    out.append(("b: haze 0.55", h))
    return out


def _haze_always():
    from core.degrade import DEFAULT_RANGES
    from dataclasses import replace

    return replace(DEFAULT_RANGES, haze_probability=1.0, jpeg_probability=0.0)


def degrade_row(rgb: np.ndarray, mask: np.ndarray, seed: int) -> tuple[list[np.ndarray], list[str]]:
    cells, labels = [rgb], ["clean"]
    for name, p in variants(seed):
        d, _ = degrade(rgb, mask, params=p)
        cells.append(d)
        labels.append(name)
    return cells, labels


def timing(rgb: np.ndarray, mask: np.ndarray, repeats: int = 60) -> dict[str, float]:
    """Median ms per degrade() call with OpenCV on one thread (as in a data-loader worker).

    Both wall time and this thread's CPU time: on a busy machine the CPU time is the
    steadier figure of the work itself.

    Cases: a random combination with the default ranges, and the worst case
    ("isb" with haze and JPEG always on), at a 512 px and a 256 px FOV.
    """
    from dataclasses import replace

    from core.degrade import DEFAULT_RANGES

    worst = replace(DEFAULT_RANGES, haze_probability=1.0, jpeg_probability=1.0)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    res = {}
    try:
        for size in (512, 256):
            img, m = to_work(rgb, mask, size)
            for name, comb, ranges in (("random", None, DEFAULT_RANGES), ("isb+haze+jpeg", "isb", worst)):
                rng = np.random.default_rng(0)
                wall, cpu = [], []
                for _ in range(repeats):
                    t0, c0 = time.perf_counter(), time.thread_time()
                    degrade(img, m, comb, rng, ranges=ranges)
                    wall.append(time.perf_counter() - t0)
                    cpu.append(time.thread_time() - c0)
                res[f"{size}px {name} wall"] = 1000 * float(np.median(wall))
                res[f"{size}px {name} cpu"] = 1000 * float(np.median(cpu))
    finally:
        cv2.setNumThreads(threads)
    return res


def real_lowquality(data: Path) -> list[tuple[str, np.ndarray]]:
    rl = data / "real_lowquality"
    out = []
    picks = ["10176_left.png", "12230_left.png", "13049_left.png", "11489_right.png", "12555_left.png"]
    eyeq = sorted((rl / "eyeq_usable_512" / "images").glob("*.png"))
    names = {p.name for p in eyeq}
    chosen = [n for n in picks if n in names] or [p.name for p in eyeq[:5]]
    for n in chosen:
        out.append((f"EyeQ {n.split('.')[0]}", read_rgb(rl / "eyeq_usable_512" / "images" / n)))
    for p in sorted((rl / "cataract_arcnet" / "images").glob("*")):
        out.append((f"cataract {p.stem}", read_rgb(p)))
    for p in sorted((rl / "eyepacs_fullres").glob("*.jp*g"))[:2]:
        img = read_rgb(p)
        out.append((f"EyePACS {p.stem}", cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fundus")
    ap.add_argument("--sample", type=Path, default=ROOT.parent / "shared" / "data" / "samples" / "fundus_normal_left_eye_cc0.jpg")
    ap.add_argument("--public-only", action="store_true", help="only the sheet that may be committed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cell", type=int, default=256)
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    sample = read_rgb(args.sample)
    s_rgb, s_mask = to_work(sample, threshold_fov(sample))
    rows, row_labels, col_labels = [], [], []
    for k in range(2):
        cells, col_labels = degrade_row(s_rgb, s_mask, args.seed + k)
        rows.append(cells)
        row_labels.append(f"CC0 sample, seed {args.seed + k}")
    sheet = make_contact_sheet(rows, row_labels, col_labels, cell=args.cell,
                               title="Synthetic degradations (core/degrade.py) of a public-domain fundus photo (Haggstrom, CC0)")
    save_png(args.out_dir / "degradation_public.png", sheet)
    print(f"wrote {args.out_dir / 'degradation_public.png'}")

    t = timing(s_rgb, s_mask)
    print("degrade() median ms per call, OpenCV on 1 thread: " + ", ".join(f"{k}: {v:.2f}" for k, v in t.items()))

    if args.public_only:
        return 0
    if args.out_dir.resolve().is_relative_to(ROOT):
        print(f"{args.out_dir} is inside the repository: research sheets (DRIVE/HRF/EyePACS, research use only) "
              "are not written there; give a folder outside it, e.g. /work/runs/sheets")
        return 0
    if not (args.data / "README.md").exists():
        print(f"research data not found at {args.data}: research sheet skipped")
        return 0
    d = args.data
    drive = read_rgb(d / "drive/training/images/21_training.tif")
    dm = read_mask(d / "drive/training/mask/21_training_mask.gif", drive.shape[:2])
    hrf = read_rgb(d / "hrf/images/01_h.jpg")
    hm = read_mask(d / "hrf/mask/01_h_mask.tif", hrf.shape[:2])
    hrf2 = read_rgb(d / "hrf/images/05_dr.JPG")
    hm2 = read_mask(d / "hrf/mask/05_dr_mask.tif", hrf2.shape[:2])
    rows, row_labels = [], []
    for (name, rgb, m), seed in zip(
        [("DRIVE 21_training", drive, dm), ("HRF 01_h", hrf, hm), ("HRF 05_dr", hrf2, hm2)], range(args.seed, args.seed + 3)
    ):
        w_rgb, w_m = to_work(rgb, m)
        cells, col_labels = degrade_row(w_rgb, w_m, seed)
        rows.append(cells)
        row_labels.append(name)
    real = real_lowquality(d)
    ncols = len(col_labels)
    for i in range(0, len(real), ncols):
        chunk = real[i : i + ncols]
        rows.append([im for _, im in chunk])
        row_labels.append("real low quality: " + ", ".join(n.split(" ")[0] for n, _ in chunk[:1]) + "...")
    sheet = make_contact_sheet(rows, row_labels, col_labels, cell=args.cell,
                               title="Synthetic (rows 1-3) vs real low-quality photos (last rows). RESEARCH DATA: do not commit.")
    save_png(args.out_dir / "degradation_research.png", sheet)
    print(f"wrote {args.out_dir / 'degradation_research.png'}; real photos: " + ", ".join(n for n, _ in real))

    # Distribution check: random draws (random combination, default ranges) on several clean
    # images, next to as many random real EyeQ "usable" photos.
    clean = [(p, d / "drive/training/mask" / f"{p.stem}_mask.gif") for p in sorted((d / "drive/training/images").glob("*.tif"))[:4]]
    clean += [(d / "hrf/images" / n, d / "hrf/mask" / (Path(n).stem + "_mask.tif")) for n in ("02_h.jpg", "03_g.jpg", "04_dr.JPG", "06_g.jpg")]
    rng = np.random.default_rng(args.seed)
    synth, slabels = [], []
    for k in range(16):
        ip, mp = clean[k % len(clean)]
        rgb = read_rgb(ip)
        w_rgb, w_m = to_work(rgb, read_mask(mp, rgb.shape[:2]), 384)
        out, prm = degrade(w_rgb, w_m, None, rng)
        synth.append(out)
        slabels.append(prm.combination + ("+haze" if prm.haze else "") + (f"+jpeg{prm.jpeg_quality}" if prm.jpeg_quality else ""))
    eyeq = sorted((d / "real_lowquality/eyeq_usable_512/images").glob("*.png"))
    pick = rng.choice(len(eyeq), size=min(16, len(eyeq)), replace=False)
    reals = [read_rgb(eyeq[i]) for i in sorted(pick)]
    rows = [synth[i : i + 8] for i in range(0, 16, 8)] + [reals[i : i + 8] for i in range(0, len(reals), 8)]
    labels = ["synthetic", "synthetic", "real EyeQ", "real EyeQ"]
    sheet = make_contact_sheet(rows, labels, None, cell=args.cell,
                               title="Random synthetic draws (top) vs random real EyeQ usable photos (bottom). RESEARCH DATA: do not commit.")
    save_png(args.out_dir / "degradation_random_vs_real.png", sheet)
    print(f"wrote {args.out_dir / 'degradation_random_vs_real.png'}; synthetic draws: " + ", ".join(slabels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
