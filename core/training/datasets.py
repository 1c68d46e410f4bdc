"""Training data for MAGE-Net: clean sources, real low-quality images, synthetic pairs.

Every image is prepared once as its field-of-view square (the frame the Enhancer
gives the network) resized to at most `CACHE_SIDE` px, and cached as .npy under
the user cache dir, so a restarted run starts in seconds. Training samples are
then drawn at a random scale (FOV diameter mostly near the working size 512,
sometimes up to ~1000 for the tiled mode), degraded as whole images (so halos,
dark patches and spots have their FOV-relative size) and cut into patches.

Determinism: the synthetic pool and every batch are pure functions of
(seed, rank, step), so an interrupted run resumes exactly without saving the
pool; ranks of a distributed run draw different data from the same seed.

The test images of the evaluation protocol (DRIVE test 01-20, HRF 09-10) are
never listed as training sources: `train_clean_specs` asserts it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from core.data.splits import HRF_CLASSES, TEST_DRIVE_IDS, TEST_HRF_IDS, TEST_IDS  # noqa: F401  (the one place for test splits)
from core.errors import FieldOfViewError, FundusError
from core.progress import ProgressCallback, report

CACHE_SIDE = 1024
"""Longest side an image is cached at (the largest training scale is ~1000)."""
CACHE_VERSION = 1

TRAIN_DRIVE_IDS = tuple(f"drive/{n:02d}" for n in range(21, 41))
TRAIN_HRF_IDS = tuple(f"hrf/{n:02d}_{c}" for n in range(1, 9) for c in HRF_CLASSES) + tuple(
    f"hrf/{n}_h" for n in (11, 12, 13)
)


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
        from core.data.splits import test_ids  # noqa: PLC0415

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


def extra_clean_specs(data: Path) -> list[SourceSpec]:
    """Clean photos of other cameras and populations (clean_extra/: IDRiD, HEI-MED, LES-AV with its
    vessel labels and masks), minus every fixed test split (core.data.splits)."""
    from core.data.splits import is_test  # noqa: PLC0415

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


def drop_lowest_quality(sources: Sequence[Source], fraction: float) -> list[Source]:
    """Leave out the `fraction` of sources with the lowest no-reference quality (the mean percentile
    rank of the site scan's measures): a blurred or badly lit "clean" photo is a poor target."""
    from core.evaluation.noref import measure_all  # noqa: PLC0415
    from core.training.site_scan import QUALITY_MEASURES  # noqa: PLC0415

    if not sources or fraction <= 0:
        return list(sources)
    rows = []
    for src in sources:
        side = min(512, src.side)
        img, fov, _ = at_scale(src, side)
        m = measure_all(img, fov)
        rows.append([m[k] for k in QUALITY_MEASURES])
    ranks = np.argsort(np.argsort(np.asarray(rows), axis=0), axis=0).mean(axis=1)
    keep = int(round(len(sources) * (1.0 - fraction)))
    order = np.argsort(-ranks, kind="stable")[:keep]
    return [sources[i] for i in sorted(order)]


# ----------------------------------------------------------------------------- reading


def read_rgb(path: Path) -> np.ndarray:
    """RGB uint8 through the app's own reader (orientation, 16-bit handling)."""
    from core.imaging import read  # noqa: PLC0415

    img = read(path)
    px = img.pixels
    if img.bit_depth != 8:
        px = (px.astype(np.float32) * (255.0 / img.max_value) + 0.5).astype(np.uint8)
    return px


def read_gray(path: Path) -> np.ndarray:
    """A mask or label (GIF, TIFF, PNG; grey or RGB) as uint8."""
    from PIL import Image  # noqa: PLC0415

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def _frame(rgb: np.ndarray):
    """(FieldOfView, SquareFrame) exactly as the Enhancer frames a photo."""
    from core.imaging.fov import SquareFrame, detect_fov  # noqa: PLC0415

    fov = detect_fov(rgb)
    return fov, SquareFrame.from_fov(fov, rgb.shape)


def _resize(arr: np.ndarray, side: int, interp: int) -> np.ndarray:
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
    img = _resize(sq, side, cv2.INTER_AREA)
    fov_s = _resize(sq_mask.astype(np.float32), side, cv2.INTER_AREA) > 0.5
    img = (img * fov_s[..., None]).astype(np.uint8)
    ves = None
    if spec.vessels is not None:
        v = read_gray(spec.vessels)
        v = ((v > 127) * 255).astype(np.uint8)
        ves = _resize(frame.to_square(v).astype(np.float32), side, cv2.INTER_AREA)
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


# ----------------------------------------------------------------------------- scales and patches


@dataclass(frozen=True)
class ScaleJitter:
    """FOV diameters to train at: mostly near the working size, sometimes larger (tiled mode)."""

    main: tuple[int, int] = (440, 600)
    wide: tuple[int, int] = (600, 1000)
    p_wide: float = 0.25

    def sample(self, rng: np.random.Generator, max_side: int) -> int:
        lo, hi = self.wide if rng.uniform() < self.p_wide else self.main
        side = int(rng.integers(lo, hi + 1))
        return max(8, min(side, max_side))


def at_scale(src: Source, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(float32 image in [0,1], bool FOV, float32 vessel map or None) with the square `side` px wide."""
    interp = cv2.INTER_AREA if side <= src.side else cv2.INTER_LINEAR
    fov = _resize(src.fov.astype(np.float32), side, interp) > 0.5
    img = _resize(src.image, side, interp).astype(np.float32) * np.float32(1 / 255)
    img *= fov[..., None]
    ves = None
    if src.vessels is not None:
        ves = _resize(src.vessels, side, interp).astype(np.float32) * np.float32(1 / 255)
    return img, fov, ves


def random_crop_box(rng: np.random.Generator, fov: np.ndarray, patch: int) -> tuple[int, int]:
    """Top-left of a patch whose centre lies inside the FOV (so patches are mostly retina)."""
    h, w = fov.shape
    if h <= patch or w <= patch:
        return 0, 0
    for _ in range(20):
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        if fov[cy, cx]:
            break
    y0 = int(np.clip(cy - patch // 2, 0, h - patch))
    x0 = int(np.clip(cx - patch // 2, 0, w - patch))
    return y0, x0


def geometric(arrs: Sequence[np.ndarray | None], k: int, flip: bool) -> list[np.ndarray | None]:
    """The same rotation by k*90 degrees and optional horizontal flip for every array."""
    out: list[np.ndarray | None] = []
    for a in arrs:
        if a is None:
            out.append(None)
            continue
        b = np.rot90(a, k, axes=(0, 1))
        if flip:
            b = b[:, ::-1]
        out.append(np.ascontiguousarray(b))
    return out


def _pad_to(a: np.ndarray, patch: int) -> np.ndarray:
    h, w = a.shape[:2]
    if h >= patch and w >= patch:
        return a[:patch, :patch]
    pad = [(0, max(0, patch - h)), (0, max(0, patch - w))] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad)[:patch, :patch]


# ----------------------------------------------------------------------------- synthetic pool


@dataclass
class PoolEntry:
    clean: np.ndarray  # uint8 S x S x 3
    degraded: np.ndarray  # uint8 S x S x 3
    fov: np.ndarray  # bool
    vessels: np.ndarray | None  # uint8
    source_id: str
    combination: str


@dataclass
class Batch:
    """One batch of patches as NCHW float32 arrays (targets, inputs, FOV, vessel labels)."""

    degraded: np.ndarray  # (B,3,P,P)
    clean: np.ndarray  # (B,3,P,P)
    fov: np.ndarray  # (B,1,P,P)
    vessels: np.ndarray  # (B,1,P,P), zeros where no label
    has_vessels: np.ndarray  # (B,) float 0/1
    photometric: np.ndarray | None = None  # (B,) float 0/1: a photometric pair (exposure is not recoverable)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class SyntheticPool:
    """A rolling pool of degraded whole images; `refresh` new ones replace the oldest each step.

    Entry g is made from rng([seed, rank, g]) alone, and at step s the pool holds
    entries G-size .. G-1 with G = size + (s+1)*refresh, so the pool at any step
    can be rebuilt from scratch (exact resume) and ranks never share entries.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        size: int = 24,
        refresh: int = 1,
        seed: int = 0,
        rank: int = 0,
        scales: ScaleJitter = ScaleJitter(),
        combinations: Sequence[str] | None = None,
        p_clean: float = 0.0,
        p_photometric: float = 0.0,
        defocus_sigma: tuple[float, float] | None = None,
    ) -> None:
        if not sources:
            raise FundusError("No clean training images were found.")
        from core.degrade import COMBINATIONS  # noqa: PLC0415

        self.sources = list(sources)
        self.size = int(size)
        self.refresh = int(refresh)
        self.seed = int(seed)
        self.rank = int(rank)
        self.scales = scales
        self.combinations = tuple(combinations or COMBINATIONS)
        self.p_clean = float(p_clean)
        """Share of entries left undegraded (input = target), so good photos learn to stay as they are."""
        from core.degrade import DEFAULT_RANGES  # noqa: PLC0415

        self.ranges = DEFAULT_RANGES if defocus_sigma is None else replace(
            DEFAULT_RANGES, defocus_sigma=(float(defocus_sigma[0]), float(defocus_sigma[1])))
        """Degradation ranges; training may narrow the defocus to what real photos show at 512 px."""
        self.p_photometric = float(p_photometric)
        """Share of entries that are clean photos under a global exposure, gamma and white-balance shift
        only (core.degrade.photometric_shift), target the clean photo; combination "photometric"."""
        self.slots: dict[int, tuple[int, PoolEntry]] = {}  # slot -> (generation, entry)

    def make_entry(self, g: int) -> PoolEntry:
        from core.degrade import degrade  # noqa: PLC0415

        rng = np.random.default_rng([self.seed, self.rank, g, 7])
        src = self.sources[int(rng.integers(len(self.sources)))]
        side = self.scales.sample(rng, max_side=src.native_side)
        combination = self.combinations[int(rng.integers(len(self.combinations)))]
        dseed = int(rng.integers(2**31 - 1))
        clean, fov, ves = at_scale(src, side)
        if self.p_clean and rng.uniform() < self.p_clean:  # drawn last: p_clean=0 keeps older pools identical
            combination, deg = "none", clean
        elif self.p_photometric and rng.uniform() < self.p_photometric:  # after p_clean, for the same reason
            from core.degrade import photometric_shift  # noqa: PLC0415

            combination, (deg, _) = "photometric", photometric_shift(clean, fov, dseed)
        else:
            deg, _ = degrade(clean, fov, combination, seed=dseed, ranges=self.ranges)
        return PoolEntry(
            _to_u8(clean), _to_u8(deg), fov, None if ves is None else _to_u8(ves), src.id, combination
        )

    def generations_at(self, step: int) -> range:
        end = self.size + (step + 1) * self.refresh
        return range(end - self.size, end)

    def advance_to(self, step: int) -> None:
        """Make the pool hold exactly what it holds at `step` (incremental when stepping forward)."""
        for g in self.generations_at(step):
            slot = g % self.size
            have = self.slots.get(slot)
            if have is None or have[0] != g:
                self.slots[slot] = (g, self.make_entry(g))

    def sample(self, step: int, batch: int, patch: int) -> Batch:
        """`batch` random patches of the pool at `step`, with shared random rotations/flips."""
        self.advance_to(step)
        rng = np.random.default_rng([self.seed, self.rank, step, 11])
        deg = np.zeros((batch, patch, patch, 3), np.float32)
        cln = np.zeros_like(deg)
        fov = np.zeros((batch, patch, patch), np.float32)
        ves = np.zeros_like(fov)
        has = np.zeros(batch, np.float32)
        photometric = np.zeros(batch, np.float32)
        for b in range(batch):
            e = self.slots[int(rng.integers(self.size))][1]
            photometric[b] = float(e.combination == "photometric")
            y0, x0 = random_crop_box(rng, e.fov, patch)
            sl = (slice(y0, y0 + patch), slice(x0, x0 + patch))
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            parts = geometric([e.degraded[sl], e.clean[sl], e.fov[sl], None if e.vessels is None else e.vessels[sl]], k, flip)
            deg[b] = _pad_to(parts[0], patch) * np.float32(1 / 255)
            cln[b] = _pad_to(parts[1], patch) * np.float32(1 / 255)
            fov[b] = _pad_to(parts[2], patch)
            if parts[3] is not None:
                ves[b] = _pad_to(parts[3], patch) * np.float32(1 / 255)
                has[b] = 1.0
        return Batch(
            deg.transpose(0, 3, 1, 2).copy(),
            cln.transpose(0, 3, 1, 2).copy(),
            fov[:, None].copy(),
            ves[:, None].copy(),
            has,
            photometric,
        )


class RealSampler:
    """Patches of real low-quality photos (no target) at random scales, for the consistency terms."""

    def __init__(self, sources: Sequence[Source], seed: int = 0, rank: int = 0, scales: ScaleJitter = ScaleJitter()):
        if not sources:
            raise FundusError("No real low-quality images were found for teacher-student training.")
        self.sources = list(sources)
        self.seed, self.rank, self.scales = int(seed), int(rank), scales

    def sample(self, step: int, batch: int, patch: int) -> tuple[np.ndarray, np.ndarray]:
        """(images (B,3,P,P), FOV (B,1,P,P)) float32."""
        rng = np.random.default_rng([self.seed, self.rank, step, 13])
        img = np.zeros((batch, patch, patch, 3), np.float32)
        fov = np.zeros((batch, patch, patch), np.float32)
        for b in range(batch):
            src = self.sources[int(rng.integers(len(self.sources)))]
            side = self.scales.sample(rng, max_side=max(src.native_side, 512))
            im, m, _ = at_scale(src, side)
            y0, x0 = random_crop_box(rng, m, patch)
            sl = (slice(y0, y0 + patch), slice(x0, x0 + patch))
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            a, f = geometric([im[sl], m[sl]], k, flip)
            img[b] = _pad_to(a, patch)
            fov[b] = _pad_to(f, patch)
        return img.transpose(0, 3, 1, 2).copy(), fov[:, None].copy()
