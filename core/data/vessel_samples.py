"""The labelled vessel photos of DRIVE, HRF and LES-AV, and which of them are for training or for testing.

VesselNet's training (core.training.vessel_train) and its evaluation
(core.evaluation.vessel_eval) both read photos and manual labels here, so neither imports
the other for data. Ids are the datasets' own names ("21", "05_dr"); DRIVE test 01-20
and HRF 09-10 are the evaluation photos (core.data.splits).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from core.errors import FundusError

DRIVE_TRAIN_IDS = [f"{i}" for i in range(21, 41)]
HRF_TRAIN_IDS = [f"{i:02d}_{c}" for i in range(1, 9) for c in ("h", "g", "dr")]
DRIVE_TEST_IDS = [f"{i:02d}" for i in range(1, 21)]
HRF_TEST_IDS = [f"{i:02d}_{c}" for i in (9, 10) for c in ("h", "g", "dr")]


@dataclass
class Sample:
    """One labelled photo at native resolution. rgb float32 [0,1]; label, fov bool."""

    name: str
    rgb: np.ndarray
    label: np.ndarray
    fov: np.ndarray


def _read_gray(path: Path) -> np.ndarray:
    a = np.array(Image.open(path))
    if a.ndim == 3:
        a = a[..., 0]
    return a > 127


def _read_rgb(path: Path) -> np.ndarray:
    a = np.array(Image.open(path).convert("RGB"))
    return a.astype(np.float32) / 255.0


def load_sample(root: Path, dataset: str, sid: str) -> Sample:
    """dataset: "drive_train", "drive_test", "hrf". sid: "21", "01", "05_dr"."""
    root = Path(root)
    if dataset == "drive_train":
        d = root / "drive" / "training"
        return Sample(f"drive_{sid}", _read_rgb(d / "images" / f"{sid}_training.tif"),
                      _read_gray(d / "1st_manual" / f"{sid}_manual1.gif"),
                      _read_gray(d / "mask" / f"{sid}_training_mask.gif"))
    if dataset == "drive_test":
        d = root / "drive" / "test"
        return Sample(f"drive_{sid}", _read_rgb(d / "images" / f"{sid}_test.tif"),
                      _read_gray(d / "1st_manual" / f"{sid}_manual1.gif"),
                      _read_gray(d / "mask" / f"{sid}_test_mask.gif"))
    if dataset == "hrf":
        d = root / "hrf"
        num, cls = sid.split("_")
        img = d / "images" / f"{sid}.{'JPG' if cls == 'dr' else 'jpg'}"
        return Sample(f"hrf_{sid}", _read_rgb(img), _read_gray(d / "manual1" / f"{sid}.tif"),
                      _read_gray(d / "mask" / f"{sid}_mask.tif"))
    if dataset == "les_av":  # clean_extra/les_av: no test split of the project uses it
        d = root / "clean_extra" / "les_av"
        return Sample(f"les_av_{sid}", _read_rgb(d / "images" / f"{sid}.jpg"), _read_gray(d / "vessels" / f"{sid}.png"),
                      _read_gray(d / "mask" / f"{sid}.png"))
    raise FundusError(f"Unknown vessel dataset {dataset!r}.")


def les_av_ids(root: Path) -> list[str]:
    """LES-AV photos that have both a vessel label and a FOV mask, sorted by number."""
    d = Path(root) / "clean_extra" / "les_av"
    ids = [p.stem for p in (d / "images").glob("*.jpg") if (d / "vessels" / f"{p.stem}.png").exists()
           and (d / "mask" / f"{p.stem}.png").exists()]
    return sorted(ids, key=lambda i: (len(i), i))


def assert_training_ids(drive_ids: Sequence[str], hrf_ids: Sequence[str]) -> None:
    """Refuse evaluation images in a training list (DRIVE test 01-20, HRF 09-10)."""
    bad = [i for i in drive_ids if i not in DRIVE_TRAIN_IDS] + [i for i in hrf_ids if i not in HRF_TRAIN_IDS]
    if bad:
        raise FundusError(f"These images are reserved for evaluation and may not be trained on: {bad}")
