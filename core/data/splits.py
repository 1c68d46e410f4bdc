"""Every fixed test split of the project, in one place (MAGE-NET.md sections 5 and 6).

Training, checkpoint choice and site adaptation must never see these photos; evaluate
scores on exactly these. The rules are pure functions of the data folder's file names
and manifests (sorted order), so every machine gets the same splits.

* synthetic test (``TEST_IDS``): DRIVE test 01-20 and HRF 09-10 of each class;
* photometric do-no-harm (``photometric_test``): DRIVE test 01-20, the HRF test photos,
  every third HEI-MED photo with manifest automatic quality >= 0.85 (sorted order of the
  qualifying ones), every fifth IDRiD photo (sorted by name);
* real-photo subset (``real_subset``): a fixed, stratified set from ``real_lowquality/``:
  EyeQ "Usable", CSDI cataract by severity (0-2, 3-5, 6-10) and its NL_* normals, and the
  Mexican clinical photos; each photo with its stratum and whether it counts as low quality.

Ids: ``drive/01``, ``hrf/09_h``, ``hei_med/<stem>``, ``idrid/<stem>``, ``real/eyeq/<stem>``,
``real/csdi/<stem>``, ``real/clinical/<stem>`` (the first two as core.data.sources names them).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from core.paths import shared_data_dir

HRF_CLASSES = ("h", "g", "dr")
TEST_DRIVE_IDS = tuple(f"drive/{n:02d}" for n in range(1, 21))
TEST_HRF_IDS = tuple(f"hrf/{n:02d}_{c}" for n in (9, 10) for c in HRF_CLASSES)
TEST_IDS = frozenset(TEST_DRIVE_IDS + TEST_HRF_IDS)
"""Images of the synthetic test (evaluation protocol): never trained on."""
TRAIN_DRIVE_IDS = tuple(f"drive/{n:02d}" for n in range(21, 41))
TRAIN_HRF_IDS = tuple(f"hrf/{n:02d}_{c}" for n in range(1, 9) for c in HRF_CLASSES) + tuple(
    f"hrf/{n}_h" for n in (11, 12, 13)
)
"""Clean training images of MAGE-Net: DRIVE training 21-40, HRF 01-08 of each class, HRF 11-13_h."""

HEI_MED_MIN_QUALITY = 0.85
HEI_MED_EVERY = 3
IDRID_EVERY = 5

REAL_STRATA_TARGET: dict[str, int] = {
    "eyeq usable": 16,
    "csdi normal (NL)": 12,
    "cataract 0-2": 8,
    "cataract 3-5": 12,
    "cataract 6-10": 12,
    "clinical": 15,
}
"""Photos per stratum of the real subset (75 in all: evaluate stays fast), spread evenly over the sorted names."""

LOW_QUALITY = "low"
NORMAL = "normal"
UNGRADED = "ungraded"

_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class SplitPhoto:
    """One photo of a fixed test split, with what the tables group it by."""

    id: str
    image: Path
    mask: Path | None = None
    dataset: str = ""  # drive, hrf, hei_med, idrid, eyeq, csdi, clinical
    camera: str = ""  # as far as the data README says
    population: str | None = None  # from a manifest where one says it (HEI-MED race)
    stratum: str | None = None  # real subset: one of REAL_STRATA_TARGET
    quality: str | None = None  # real subset: LOW_QUALITY, NORMAL or UNGRADED


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXT)


def _manifest(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def _spread(items: Sequence, n: int) -> list:
    """n items spread evenly over a sorted list (all of them when it is shorter): a fixed pick."""
    if len(items) <= n:
        return list(items)
    return [items[(2 * i + 1) * len(items) // (2 * n)] for i in range(n)]


def _hrf_image(data: Path, stem: str) -> Path:
    for ext in (".jpg", ".JPG", ".jpeg", ".png", ".tif"):
        p = data / "hrf" / "images" / f"{stem}{ext}"
        if p.exists():
            return p
    return data / "hrf" / "images" / f"{stem}.jpg"


# ----------------------------------------------------------------------------- splits


def photometric_test(data_root: Path) -> list[SplitPhoto]:
    """The clean photos of the photometric do-no-harm table (see the module docstring)."""
    data = Path(data_root)
    out: list[SplitPhoto] = []
    for i in TEST_DRIVE_IDS:
        n = int(i.split("/")[1])
        root = data / "drive" / "test"
        out.append(SplitPhoto(i, root / "images" / f"{n:02d}_test.tif", root / "mask" / f"{n:02d}_test_mask.gif",
                              "drive", "Canon CR5"))
    for i in TEST_HRF_IDS:
        stem = i.split("/")[1]
        out.append(SplitPhoto(i, _hrf_image(data, stem), data / "hrf" / "mask" / f"{stem}_mask.tif", "hrf",
                              "Canon EOS 20D"))
    hei = data / "clean_extra" / "hei_med"
    man = _manifest(hei / "manifest.csv")
    good = [p for p in _images(hei / "images")
            if p.name in man and float(man[p.name].get("automatic_quality_0_1") or 0) >= HEI_MED_MIN_QUALITY]
    for p in good[::HEI_MED_EVERY]:
        race = (man[p.name].get("race") or "").strip().lower() or None
        out.append(SplitPhoto(f"hei_med/{p.stem}", p, None, "hei_med", "HEI-MED (USA)", race))
    for p in _images(data / "clean_extra" / "idrid" / "images")[::IDRID_EVERY]:
        out.append(SplitPhoto(f"idrid/{p.stem}", p, None, "idrid", "Kowa VX-10"))
    return out


def real_subset(data_root: Path) -> list[SplitPhoto]:
    """The fixed, stratified real-photo subset (see the module docstring and REAL_STRATA_TARGET)."""
    root = Path(data_root) / "real_lowquality"
    out: list[SplitPhoto] = []
    eyeq = root / "eyeq_usable_512"
    for p in _spread(_images(eyeq / "images"), REAL_STRATA_TARGET["eyeq usable"]):
        m = eyeq / "fov_mask_800" / p.name
        out.append(SplitPhoto(f"real/eyeq/{p.stem}", p, m if m.exists() else None, "eyeq", "EyePACS",
                              stratum="eyeq usable", quality=LOW_QUALITY))
    csdi = root / "cataract_csdi"
    man = _manifest(csdi / "manifest.csv")
    groups: dict[str, list[Path]] = {k: [] for k in REAL_STRATA_TARGET if k.startswith(("csdi", "cataract"))}
    for p in _images(csdi / "images"):
        row = man.get(p.name)
        if p.name.startswith("NL_"):
            groups["csdi normal (NL)"].append(p)
        elif row is not None and row.get("cataract_severity_0_10"):
            s = float(row["cataract_severity_0_10"])
            groups["cataract 0-2" if s < 3 else "cataract 3-5" if s < 6 else "cataract 6-10"].append(p)
    for stratum, photos in groups.items():
        quality = LOW_QUALITY if stratum in ("cataract 3-5", "cataract 6-10") else NORMAL
        for p in _spread(photos, REAL_STRATA_TARGET[stratum]):
            out.append(SplitPhoto(f"real/csdi/{p.stem}", p, None, "csdi", "CSDI", stratum=stratum, quality=quality))
    for p in _spread(_images(root / "clinical_mexico" / "images"), REAL_STRATA_TARGET["clinical"]):
        out.append(SplitPhoto(f"real/clinical/{p.stem}", p, None, "clinical", "Mexican clinics",
                              stratum="clinical", quality=UNGRADED))
    return out


@functools.lru_cache(maxsize=4)
def _held_out(data_root: str) -> frozenset[str]:
    data = Path(data_root)
    return frozenset(TEST_IDS | {p.id for p in photometric_test(data)} | {p.id for p in real_subset(data)})


def test_ids(data_root: Path | None = None) -> frozenset[str]:
    """Every id of every fixed test split (the synthetic ids alone when no data folder is known)."""
    if data_root is None:
        data_root = shared_data_dir()
    if data_root is None:
        return TEST_IDS
    return _held_out(str(Path(data_root).resolve()))


def photo_id(path: str | Path) -> str | None:
    """The split id of a file in the research data layout (by its folder names), None when it is none."""
    p = Path(path)
    parts = [s.lower() for s in p.parts]
    stem = p.stem

    def after(name: str) -> bool:
        return name in parts

    if after("drive") and p.parent.name == "images" and stem.split("_")[0].isdigit():
        return f"drive/{int(stem.split('_')[0]):02d}"
    if after("hrf") and p.parent.name == "images":
        return f"hrf/{stem}"
    if after("hei_med"):
        return f"hei_med/{stem}"
    if after("idrid"):
        return f"idrid/{stem}"
    if after("eyeq_usable_512"):
        return f"real/eyeq/{stem}"
    if after("cataract_csdi"):
        return f"real/csdi/{stem}"
    if after("clinical_mexico"):
        return f"real/clinical/{stem}"
    return None


def is_test(path_or_id: str | Path, data_root: Path | None = None) -> bool:
    """True for a photo (split id, or a path in the research data layout) of any fixed test split:
    training, checkpoint choice and site adaptation refuse it."""
    s = str(path_or_id)
    held_out = test_ids(data_root)
    if s in held_out:  # a split id (some, like HEI-MED's "hei_med/67147_(1998).dcm", look like file names)
        return True
    ident = photo_id(s)
    return ident is not None and ident in held_out
