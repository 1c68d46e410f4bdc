"""Make the bundled sample photos: the public-domain photo and synthetic degradations of it.

    .venv/bin/python tools/make_samples.py [--source PATH]

Copies the CC0 photograph (../shared/data/samples) byte for byte and writes degraded
versions made by our degradation model (core.degrade) with fixed seeds, each named and
labelled "synthetic" so nobody mistakes them for real photographs of a patient. The
parameters of every degradation go into samples.json, so the set is reproducible.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.degrade import degrade  # noqa: E402
from core.imaging import read  # noqa: E402
from core.imaging.fov import detect_fov  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "samples" / "fundus_normal_left_eye_cc0.jpg"
OUT = ROOT / "resources" / "samples"
SIDE = 1024  # bundled size: small installer, still plenty of detail to judge enhancement

# (file stem, combination, seed, label)
VARIANTS = [
    ("synthetic_uneven_illumination", "i", 11, "Synthetic: uneven illumination"),
    ("synthetic_blur_and_haze", "b", 23, "Synthetic: blur and haze"),
    ("synthetic_all_degradations", "isb", 7, "Synthetic: illumination, spots and blur"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    original = args.out / args.source.name
    shutil.copyfile(args.source, original)
    image = read(original)
    rgb = image.pixels
    scale = SIDE / max(rgb.shape[:2])
    small = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    fov = detect_fov(small)
    index = [{"file": original.name, "label": "Normal left eye (CC0 sample photo)", "synthetic": False}]
    for stem, combination, seed, label in VARIANTS:
        out, params = degrade(small.astype(np.float32) / 255.0, fov.mask, combination, seed=seed)
        u8 = np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)
        path = args.out / f"{stem}.png"
        cv2.imwrite(str(path), cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        index.append(
            {
                "file": path.name,
                "label": label,
                "synthetic": True,
                "made_from": original.name,
                "resized_to": list(u8.shape[:2]),
                "combination": combination,
                "seed": seed,
                "params": params.to_dict(),
            }
        )
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
    (args.out / "samples.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
