"""Fundus photos of the shared datasets as prepared sources: listing, reading, framing, caching.

Every image is prepared once as its field-of-view square (the frame the Enhancer gives the
network) resized to at most `CACHE_SIDE` px, and cached as .npy under the user cache dir, so
a restarted run starts in seconds. Training (core.training) and evaluation (core.evaluation)
both read their photos here, so neither imports the other for data; which ids are test
photos is core.data.splits' rule.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from PIL import Image

from core.data.splits import TEST_DRIVE_IDS, TEST_HRF_IDS, TEST_IDS, TRAIN_DRIVE_IDS, TRAIN_HRF_IDS, is_test, test_ids
from core.errors import FieldOfViewError, FundusError
from core.imaging import read
from core.imaging.fov import SquareFrame, detect_fov
from core.progress import ProgressCallback, report

CACHE_SIDE = 1024
"""Longest side an image is cached at (the largest training scale is ~1000)."""
CACHE_VERSION = 1

@dataclass(frozen=True)
class SourceSpec:
    """Where one image (and its FOV mask and vessel label, if any) lives on disk."""

    id: str
    image: Path
    mask: Path | None = None
    vessels: Path | None = None


@dataclass
class Source:
    """One prepared image: the FOV square, at most CACHE_SIDE px wide."""

    id: str
    image: np.ndarray  # uint8 S x S x 3, zero outside the FOV
    fov: np.ndarray  # bool S x S
    vessels: np.ndarray | None  # uint8 S x S (area-resampled 0..255) or None
    native_side: int  # side of the FOV square in the original photo

    @property
    def side(self) -> int:
        return int(self.image.shape[0])


# ----------------------------------------------------------------------------- listing


def _hrf_image(data: Path, stem: str) -> Path:
    for ext in (".jpg", ".JPG", ".jpeg", ".png", ".tif"):
        p = data / "hrf" / "images" / f"{stem}{ext}"
        if p.exists():
            return p
    raise FundusError(f"HRF image {stem} is missing from {data / 'hrf' / 'images'}.")


def clean_spec(data: Path, image_id: str) -> SourceSpec:
    """The files of one DRIVE or HRF image id ("drive/21", "hrf/01_h")."""
    data = Path(data)
    ds, _, name = image_id.partition("/")
    if ds == "drive":
        n = int(name)
        part = "training" if n >= 21 else "test"
        root = data / "drive" / part
        return SourceSpec(
            image_id,
            root / "images" / f"{n:02d}_{part}.tif",
            root / "mask" / f"{n:02d}_{part}_mask.gif",
            root / "1st_manual" / f"{n:02d}_manual1.gif",
        )
    if ds == "hrf":
        vessels = data / "hrf" / "manual1" / f"{name}.tif"
        return SourceSpec(
            image_id,
            _hrf_image(data, name),
            data / "hrf" / "mask" / f"{name}_mask.tif",
            vessels if vessels.exists() else None,
        )
    raise ValueError(f"unknown dataset in image id {image_id!r}")


def train_clean_specs(data: Path) -> list[SourceSpec]:
    """Clean training sources: DRIVE training 21-40, HRF 01-08 of each class, HRF 11-13_h."""
    ids = [*TRAIN_DRIVE_IDS, *TRAIN_HRF_IDS]
    leaked = TEST_IDS.intersection(ids)
    assert not leaked, f"test images in the training list: {sorted(leaked)}"
    return [clean_spec(data, i) for i in ids]


def test_clean_specs(data: Path) -> list[SourceSpec]:
    """The synthetic test set of the evaluation protocol: DRIVE test 01-20, HRF 09-10 of each class."""
    return [clean_spec(data, i) for i in (*TEST_DRIVE_IDS, *TEST_HRF_IDS)]


def real_specs(data: Path, include_test: bool = False) -> list[SourceSpec]:
    """Every photo in real_lowquality/ (unlabelled target domain), with its FOV mask when one exists;
    the photos of core.data.splits.real_subset (evaluate's real-photo tables) only with include_test."""
    root = Path(data) / "real_lowquality"
    specs: list[SourceSpec] = []
    if not include_test:
        held_out = test_ids(Path(data))
        return [s for s in real_specs(data, include_test=True) if s.id not in held_out]
    eyeq = root / "eyeq_usable_512"
    for p in sorted((eyeq / "images").glob("*.png")):
        m = eyeq / "fov_mask_800" / p.name
        specs.append(SourceSpec(f"real/eyeq/{p.stem}", p, m if m.exists() else None))
    cat = root / "cataract_arcnet"
    for p in sorted((cat / "images").glob("*")):
        m = cat / "fov_mask" / f"{p.stem}.png"
        specs.append(SourceSpec(f"real/cataract/{p.stem}", p, m if m.exists() else None))
    for p in sorted((root / "eyepacs_fullres").glob("*")):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff"):
            specs.append(SourceSpec(f"real/eyepacs/{p.stem}", p))
    return specs


def real_training_specs(data: Path) -> list[SourceSpec]:
    """The teacher-student's real photos: real_specs plus the graded CSDI cataract photos (normals
    included) and the Mexican clinical photos, minus every photo of evaluate's real subset.

    Kept apart from real_specs because evaluate's all-photo tables read that list, and their
    figures must stay comparable from round to round."""
    root = Path(data) / "real_lowquality"
    held_out = test_ids(Path(data))
    specs = list(real_specs(data))
    for folder, name in (("cataract_csdi", "csdi"), ("clinical_mexico", "clinical")):
        for p in sorted((root / folder / "images").glob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff"):
                specs.append(SourceSpec(f"real/{name}/{p.stem}", p))
    return [s for s in specs if s.id not in held_out]


def extra_clean_specs(data: Path) -> list[SourceSpec]:
    """Clean photos of other cameras and populations (clean_extra/: IDRiD, HEI-MED, LES-AV with its
    vessel labels and masks), minus every fixed test split (core.data.splits)."""
    root = Path(data) / "clean_extra"
    specs: list[SourceSpec] = []
    for name in ("idrid", "hei_med"):
        for p in sorted((root / name / "images").glob("*")):
            sid = f"{name}/{p.stem}"
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".tiff") and not is_test(sid, data):
                specs.append(SourceSpec(sid, p))
    les = root / "les_av"
    for p in sorted((les / "images").glob("*")):
        mask, ves = les / "mask" / f"{p.stem}.png", les / "vessels" / f"{p.stem}.png"
        specs.append(SourceSpec(f"les_av/{p.stem}", p, mask if mask.exists() else None, ves if ves.exists() else None))
    return specs


# ----------------------------------------------------------------------------- reading


def read_rgb(path: Path) -> np.ndarray:
    """RGB uint8 through the app's own reader (orientation, 16-bit handling)."""
    img = read(path)
    px = img.pixels
    if img.bit_depth != 8:
        px = (px.astype(np.float32) * (255.0 / img.max_value) + 0.5).astype(np.uint8)
    return px


def read_gray(path: Path) -> np.ndarray:
    """A mask or label (GIF, TIFF, PNG; grey or RGB) as uint8."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def _frame(rgb: np.ndarray):
    """(FieldOfView, SquareFrame) exactly as the Enhancer frames a photo."""
    fov = detect_fov(rgb)
    return fov, SquareFrame.from_fov(fov, rgb.shape)


def resize_square(arr: np.ndarray, side: int, interp: int) -> np.ndarray:
    """`arr` (square) at `side` x `side`; unchanged when already that size."""
    if arr.shape[0] == side and arr.shape[1] == side:
        return arr
    return cv2.resize(arr, (side, side), interpolation=interp)


def prepare_source(spec: SourceSpec, max_side: int = CACHE_SIDE) -> Source:
    """Square the FOV like the Enhancer does and resize to at most `max_side`.

    The frame comes from detect_fov (what inference sees); the FOV mask is the
    dataset's own where it has one (exact), otherwise the detected one.
    """
    rgb = read_rgb(spec.image)
    fov, frame = _frame(rgb)
    if spec.mask is not None:
        m = read_gray(spec.mask)
        if m.shape != rgb.shape[:2]:
            m = cv2.resize(m, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
        mask = m > 127
    else:
        mask = fov.mask
    sq = frame.to_square(rgb)
    sq_mask = frame.to_square(mask.astype(np.uint8))
    native = int(sq.shape[0])
    side = min(max_side, native)
    img = resize_square(sq, side, cv2.INTER_AREA)
    fov_s = resize_square(sq_mask.astype(np.float32), side, cv2.INTER_AREA) > 0.5
    img = (img * fov_s[..., None]).astype(np.uint8)
    ves = None
    if spec.vessels is not None:
        v = read_gray(spec.vessels)
        v = ((v > 127) * 255).astype(np.uint8)
        ves = resize_square(frame.to_square(v).astype(np.float32), side, cv2.INTER_AREA)
        ves = np.clip(ves + 0.5, 0, 255).astype(np.uint8)
    return Source(spec.id, img, fov_s, ves, native)


def _cache_key(spec: SourceSpec, max_side: int) -> str:
    parts: list[str] = [str(CACHE_VERSION), "SquareFrame", str(max_side), spec.id]
    for p in (spec.image, spec.mask, spec.vessels):
        if p is None:
            parts.append("-")
        else:
            st = Path(p).stat()
            parts.append(f"{Path(p).resolve()}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def load_source(spec: SourceSpec, cache_dir: Path | None, max_side: int = CACHE_SIDE) -> Source:
    """prepare_source, through an .npy cache when `cache_dir` is given."""
    if cache_dir is None:
        return prepare_source(spec, max_side)
    d = Path(cache_dir) / _cache_key(spec, max_side)
    meta = d / "meta.json"
    if meta.exists():
        try:
            info = json.loads(meta.read_text())
            ves = np.load(d / "vessels.npy") if info["has_vessels"] else None
            return Source(spec.id, np.load(d / "image.npy"), np.load(d / "fov.npy"), ves, int(info["native_side"]))
        except (OSError, ValueError, KeyError):
            shutil.rmtree(d, ignore_errors=True)  # damaged cache entry: rebuild it
    src = prepare_source(spec, max_side)
    _write_cache_entry(d, spec.id, src)
    return src


def _write_cache_entry(d: Path, source_id: str, src: Source) -> None:
    """Write into a private temporary folder, then rename: runs started side by side
    (a teacher-student run and its supervised control) may build the same entry at once."""
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".tmp", dir=d.parent))
    try:
        np.save(tmp / "image.npy", src.image)
        np.save(tmp / "fov.npy", src.fov)
        if src.vessels is not None:
            np.save(tmp / "vessels.npy", src.vessels)
        (tmp / "meta.json").write_text(
            json.dumps({"id": source_id, "has_vessels": src.vessels is not None, "native_side": src.native_side})
        )
        if d.exists() and not (d / "meta.json").exists():
            shutil.rmtree(d, ignore_errors=True)  # an unfinished entry left by an older version
        try:
            tmp.rename(d)
        except OSError:
            if not (d / "meta.json").exists():  # not another process's finished entry: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_sources(
    specs: Iterable[SourceSpec],
    cache_dir: Path | None = None,
    max_side: int = CACHE_SIDE,
    progress: ProgressCallback | None = None,
    skip_unreadable: bool = False,
) -> list[Source]:
    """Load (and cache) many sources; with skip_unreadable, photos without a usable FOV are left out."""
    specs = list(specs)
    out: list[Source] = []
    for i, spec in enumerate(specs):
        report(progress, i, len(specs), spec.id)
        try:
            out.append(load_source(spec, cache_dir, max_side))
        except (FieldOfViewError, FundusError):
            if not skip_unreadable:
                raise
    report(progress, len(specs), len(specs), "loaded")
    return out



# ----------------------------------------------------------------------------- scales


def at_scale(src: Source, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(float32 image in [0,1], bool FOV, float32 vessel map or None) with the square `side` px wide."""
    interp = cv2.INTER_AREA if side <= src.side else cv2.INTER_LINEAR
    fov = resize_square(src.fov.astype(np.float32), side, interp) > 0.5
    img = resize_square(src.image, side, interp).astype(np.float32) * np.float32(1 / 255)
    img *= fov[..., None]
    ves = None
    if src.vessels is not None:
        ves = resize_square(src.vessels, side, interp).astype(np.float32) * np.float32(1 / 255)
    return img, fov, ves
