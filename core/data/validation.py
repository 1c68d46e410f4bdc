"""The validation split: what checkpoint choice scores, so that the test splits never choose a model.

Issue 17: "selection by validation, never by test". The rules are pure functions of the data
folder's file names (sorted order), like core.data.splits, and never overlap a test split:

* vessel validation (``VAL_DRIVE``, ``VAL_HRF``, ``VAL_LES_AV``): DRIVE training 38-40, HRF 08 of each class and LES-AV
  53, 279, 529, with their vessel labels: the same photos configs/vessels-loss.json validates its
  vessel-loss network on, so no vessel model of the project has trained on them either;
* clean validation (``validation_clean``): those DRIVE and HRF photos plus every
  ``EXTRA_EVERY``-th IDRiD and HEI-MED photo that is not a test photo (the photometric check:
  other cameras, darker fundi);
* real validation (``validation_real``): every ``REAL_EVERY``-th photo of
  core.data.sources.real_training_specs (the teacher-student's real photos, evaluate's real
  subset already removed).

A run holds these out when its config says ``data.hold_out_validation`` (earlier configs did not,
so they reproduce as they were).
"""

from __future__ import annotations

import functools
from pathlib import Path

from core.data.sources import extra_clean_specs, real_training_specs
from core.data.splits import SplitPhoto, is_test

VAL_DRIVE = ("38", "39", "40")
VAL_HRF = ("08_h", "08_g", "08_dr")
VAL_LES_AV = ("53", "279", "529")
EXTRA_EVERY = 10
REAL_EVERY = 8


def _drive_photo(data: Path, sid: str) -> SplitPhoto:
    root = data / "drive" / "training"
    return SplitPhoto(f"drive/{sid}", root / "images" / f"{sid}_training.tif",
                      root / "mask" / f"{sid}_training_mask.gif", "drive", "Canon CR5")


def _hrf_photo(data: Path, stem: str) -> SplitPhoto:
    ext = "JPG" if stem.endswith("_dr") else "jpg"
    return SplitPhoto(f"hrf/{stem}", data / "hrf" / "images" / f"{stem}.{ext}",
                      data / "hrf" / "mask" / f"{stem}_mask.tif", "hrf", "Canon EOS 20D")


def validation_clean(data_root: Path) -> list[SplitPhoto]:
    """Clean photos of the validation split (see the module docstring), in a fixed order."""
    data = Path(data_root)
    out = [_drive_photo(data, s) for s in VAL_DRIVE] + [_hrf_photo(data, s) for s in VAL_HRF]
    les = data / "clean_extra" / "les_av"
    out += [SplitPhoto(f"les_av/{s}", les / "images" / f"{s}.jpg", les / "mask" / f"{s}.png", "les_av", "LES-AV")
            for s in VAL_LES_AV]
    extra = [s for s in extra_clean_specs(data) if s.id.startswith(("idrid/", "hei_med/"))]
    for name, camera in (("idrid", "Kowa VX-10"), ("hei_med", "HEI-MED (USA)")):
        mine = [s for s in extra if s.id.startswith(f"{name}/")]
        out += [SplitPhoto(s.id, s.image, s.mask, name, camera) for s in mine[::EXTRA_EVERY]]
    return [p for p in out if not is_test(p.id, data)]


def validation_real(data_root: Path) -> list[SplitPhoto]:
    """Real low-quality photos of the validation split: every REAL_EVERY-th teacher-student photo."""
    data = Path(data_root)
    specs = sorted(real_training_specs(data), key=lambda s: s.id)
    return [SplitPhoto(s.id, s.image, s.mask, s.id.split("/")[1], stratum="validation")
            for s in specs[::REAL_EVERY]]


@functools.lru_cache(maxsize=4)
def _ids(data_root: str) -> frozenset[str]:
    data = Path(data_root)
    return frozenset(p.id for p in validation_clean(data)) | frozenset(p.id for p in validation_real(data))


def validation_ids(data_root: Path) -> frozenset[str]:
    """Every id of the validation split: a run with data.hold_out_validation never trains on these."""
    return _ids(str(Path(data_root).resolve()))
