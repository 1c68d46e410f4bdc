"""Scan a site's folder of photos before adaptation: what can be used, what not, and why.

Site staff point the wizard at a folder of their own scans. Every file with an
image suffix (sub-folders included) is checked in turn:

* readable at all (core.imaging.read);
* a colour photograph (greyscale files, e.g. FOV masks stored next to the photos,
  are left out);
* large enough (the network works at a 512 px field of view);
* not a duplicate (same file bytes, or the same pixels in another file format);
* a circular field of view was found (core.imaging.fov) and it is not too dark.

Usable photos are then ranked by a no-reference quality score: the mean of their
percentile ranks, within this site, of illumination uniformity, vessel
contrast-to-noise and sharpness (core.evaluation.noref). Ranks, not raw values,
because the three measures live on unrelated scales; the ranking only has to say
which of the site's own photos are its best, which become the clean side of the
synthetic training pairs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from core.errors import FundusError, UnsupportedImageError
from core.evaluation.noref import measure_all
from core.imaging import read
from core.imaging.fov import detect_fov
from core.imaging.suffixes import find_photos
from core.progress import ProgressCallback, StopCallback, check_stop, report
from core.provenance import sha256_file

MIN_SIDE = 256
"""Smallest usable photo side in px (the FOV is enlarged to 512 px for the network)."""
MIN_FOV_FRACTION = 0.15
"""The field of view must cover at least this share of the frame."""
MIN_FOV_BRIGHTNESS = 0.06
"""Mean FOV brightness (0..1) below which a frame is too dark to learn from."""
QUALITY_MEASURES = ("illumination_uniformity", "vessel_cnr", "sharpness")
SCAN_FORMAT = 1


@dataclass
class ScannedImage:
    """One usable photo of the site, with its quality measures and rank score (0..1, higher = better)."""

    path: str
    sha256: str
    width: int
    height: int
    fov_fraction: float
    brightness: float
    measures: dict[str, float] = field(default_factory=dict)
    quality: float = 0.0

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass
class ExcludedFile:
    """A file left out, with a reason site staff can act on."""

    path: str
    reason: str
    category: str = "other"
    """One of CATEGORIES: what kind of problem, for counts; `reason` says it in full."""

    @property
    def name(self) -> str:
        return Path(self.path).name


CATEGORIES = ("unreadable", "not a colour photograph", "too small", "duplicate", "no field of view", "too dark", "other")


@dataclass
class SiteScan:
    """The result of `scan_site`: usable photos (best first) and excluded files with reasons."""

    folder: str
    found: int
    usable: list[ScannedImage] = field(default_factory=list)
    excluded: list[ExcludedFile] = field(default_factory=list)

    @property
    def readable(self) -> int:
        """Files that opened as images (usable ones plus those excluded for a reason other than reading)."""
        return self.found - sum(1 for e in self.excluded if e.category == "unreadable")

    def counts(self) -> dict[str, int]:
        return {"found": self.found, "readable": self.readable, "usable": len(self.usable), "excluded": len(self.excluded)}

    def reasons(self) -> dict[str, int]:
        """How many files were excluded in each category."""
        out: dict[str, int] = {}
        for e in self.excluded:
            out[e.category] = out.get(e.category, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"format": SCAN_FORMAT, "folder": self.folder, "found": self.found,
                "usable": [asdict(u) for u in self.usable], "excluded": [asdict(e) for e in self.excluded]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SiteScan":
        if d.get("format") != SCAN_FORMAT:
            raise FundusError("The saved scan of the site folder was made by another version; scan the folder again.")
        return cls(d["folder"], int(d["found"]), [ScannedImage(**u) for u in d["usable"]],
                   [ExcludedFile(**e) for e in d["excluded"]])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "SiteScan":
        return cls.from_dict(json.loads(Path(path).read_text()))


def list_image_files(folder: str | Path) -> list[Path]:
    """Files with an image suffix under `folder` (recursively, hidden files and folders skipped), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise FundusError(f"The folder {root} does not exist or is not a folder.")
    return find_photos(root, recursive=True)


def _to_u8(pixels: np.ndarray, max_value: int) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return (pixels.astype(np.float32) * (255.0 / max_value) + 0.5).astype(np.uint8)


def _is_greyscale(rgb: np.ndarray) -> bool:
    """True when the three channels are (nearly) equal: a grey photo or a mask, not a colour fundus photo."""
    small = rgb[:: max(1, rgb.shape[0] // 128), :: max(1, rgb.shape[1] // 128)].astype(np.int16)
    return int(np.abs(small[..., 0] - small[..., 1]).max()) <= 2 and int(np.abs(small[..., 1] - small[..., 2]).max()) <= 2


def _pixel_hash(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes() + str(rgb.shape).encode()).hexdigest()


def _percentile_ranks(values: Sequence[float]) -> np.ndarray:
    """Rank of each value among all, scaled to 0..1 (ties share their mean rank)."""
    v = np.asarray(values, np.float64)
    n = len(v)
    if n <= 1:
        return np.ones(n)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=np.float64)
    for val in np.unique(v):  # average ranks of ties
        idx = v == val
        if idx.sum() > 1:
            ranks[idx] = ranks[idx].mean()
    return ranks / (n - 1)


def rank_by_quality(images: list[ScannedImage]) -> list[ScannedImage]:
    """Fill in `quality` (mean percentile rank of the QUALITY_MEASURES) and sort best first."""
    if not images:
        return images
    score = np.zeros(len(images))
    for key in QUALITY_MEASURES:
        score += _percentile_ranks([im.measures[key] for im in images])
    score /= len(QUALITY_MEASURES)
    for im, s in zip(images, score):
        im.quality = round(float(s), 4)
    return sorted(images, key=lambda im: (-im.quality, im.path))


Problem = tuple[str, str]
"""(category, reason)."""


def check_photo(path: Path, min_side: int = MIN_SIDE) -> tuple[ScannedImage | None, Problem | None, str | None]:
    """(usable image or None, (category, reason) or None, pixel hash or None) of one file."""

    try:
        img = read(path)
    except UnsupportedImageError as exc:
        return None, ("not a colour photograph", str(exc)), None
    except FundusError as exc:
        return None, ("unreadable", str(exc)), None
    rgb = _to_u8(img.pixels, img.max_value)
    h, w = rgb.shape[:2]
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        return None, ("not a colour photograph", "not an RGB photograph"), None
    phash = _pixel_hash(rgb)
    if _is_greyscale(rgb):
        return None, ("not a colour photograph", "greyscale image or mask, not a colour fundus photograph"), phash
    if min(h, w) < min_side:
        return None, ("too small", f"too small ({w} x {h} px; at least {min_side} px on each side is needed)"), phash
    try:
        fov = detect_fov(rgb)
    except FundusError as exc:
        return None, ("no field of view", f"no field of view found: {exc}"), phash
    if not fov.found:
        return None, ("no field of view", "no circular border around the retina was found"), phash
    frac = float(fov.mask.mean())
    if frac < MIN_FOV_FRACTION:
        return None, ("no field of view", f"field of view too small ({frac:.0%} of the frame)"), phash
    brightness = float(rgb[fov.mask].mean() / 255.0)
    if brightness < MIN_FOV_BRIGHTNESS:
        return None, ("too dark", f"too dark to use (mean brightness {brightness:.0%})"), phash
    try:
        measures = measure_all(rgb.astype(np.float32) / 255.0, fov.mask)
    except ValueError as exc:
        return None, ("other", f"quality could not be measured: {exc}"), phash
    item = ScannedImage(str(path), img.source_sha256, int(w), int(h), round(frac, 4), round(brightness, 4),
                        {k: round(float(v), 5) for k, v in measures.items()})
    return item, None, phash


def scan_site(
    folder: str | Path,
    min_side: int = MIN_SIDE,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> SiteScan:
    """Check every photo under `folder` and rank the usable ones by quality (best first)."""
    files = list_image_files(folder)
    scan = SiteScan(str(Path(folder)), len(files))
    seen_file: dict[str, str] = {}
    seen_pixels: dict[str, str] = {}
    usable: list[ScannedImage] = []
    for i, p in enumerate(files):
        check_stop(should_stop)
        report(progress, i, len(files), p.name)
        try:
            digest = sha256_file(p)
        except OSError as exc:
            scan.excluded.append(ExcludedFile(str(p), f"cannot be read: {exc.strerror or exc}", "unreadable"))
            continue
        if digest in seen_file:
            scan.excluded.append(
                ExcludedFile(str(p), f"duplicate of {Path(seen_file[digest]).name} (identical file)", "duplicate"))
            continue
        seen_file[digest] = str(p)
        item, problem, phash = check_photo(p, min_side)
        if phash is not None and phash in seen_pixels:
            scan.excluded.append(
                ExcludedFile(str(p), f"duplicate of {Path(seen_pixels[phash]).name} (same pixels)", "duplicate"))
            continue
        if phash is not None:
            seen_pixels[phash] = str(p)
        if problem is not None:
            scan.excluded.append(ExcludedFile(str(p), problem[1], problem[0]))
        elif item is not None:
            usable.append(item)
    scan.usable = rank_by_quality(usable)
    report(progress, len(files), len(files), "scan finished")
    return scan


def thumbnail(path: str | Path, size: int = 96) -> np.ndarray:
    """A small RGB uint8 preview of a photo (longest side `size`), for the wizard's strip."""

    img = read(path)
    rgb = _to_u8(img.pixels, img.max_value)
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
