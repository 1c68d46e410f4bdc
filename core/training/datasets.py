"""Training samples for MAGE-Net: synthetic pairs and real-photo patches drawn from prepared sources.

The sources (core.data.sources) are drawn at a random scale (FOV diameter mostly near the
working size 512, sometimes up to ~1000 for the tiled mode), degraded as whole images (so
halos, dark patches and spots have their FOV-relative size) and cut into patches.

Determinism: the synthetic pool and every batch are pure functions of
(seed, rank, step), so an interrupted run resumes exactly without saving the
pool; ranks of a distributed run draw different data from the same seed.

The test images of the evaluation protocol (DRIVE test 01-20, HRF 09-10) are
never listed as training sources: core.data.sources.train_clean_specs asserts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from core.data.sources import Source, at_scale
from core.degrade import COMBINATIONS, degrade, photometric_shift, ranges_with
from core.errors import FundusError
from core.evaluation.noref import measure_all
from core.training.site_scan import QUALITY_MEASURES

def drop_lowest_quality(sources: Sequence[Source], fraction: float) -> list[Source]:
    """Leave out the `fraction` of sources with the lowest no-reference quality (the mean percentile
    rank of the site scan's measures): a blurred or badly lit "clean" photo is a poor target."""
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
        degrade_ranges: Mapping[str, Any] | None = None,
    ) -> None:
        if not sources:
            raise FundusError("No clean training images were found.")
        self.sources = list(sources)
        self.size = int(size)
        self.refresh = int(refresh)
        self.seed = int(seed)
        self.rank = int(rank)
        self.scales = scales
        self.combinations = tuple(combinations or COMBINATIONS)
        self.p_clean = float(p_clean)
        """Share of entries left undegraded (input = target), so good photos learn to stay as they are."""
        overrides = dict(degrade_ranges or {})
        if defocus_sigma is not None:
            overrides["defocus_sigma"] = defocus_sigma
        self.ranges = ranges_with(overrides)
        """Degradation ranges; training may narrow the defocus to what real photos show at 512 px and
        widen the veil's tint to the greener cataract photos."""
        self.p_photometric = float(p_photometric)
        """Share of entries that are clean photos under a global exposure, gamma and white-balance shift
        only (core.degrade.photometric_shift), target the clean photo; combination "photometric"."""
        self.slots: dict[int, tuple[int, PoolEntry]] = {}  # slot -> (generation, entry)

    def make_entry(self, g: int) -> PoolEntry:
        rng = np.random.default_rng([self.seed, self.rank, g, 7])
        src = self.sources[int(rng.integers(len(self.sources)))]
        side = self.scales.sample(rng, max_side=src.native_side)
        combination = self.combinations[int(rng.integers(len(self.combinations)))]
        dseed = int(rng.integers(2**31 - 1))
        clean, fov, ves = at_scale(src, side)
        if self.p_clean and rng.uniform() < self.p_clean:  # drawn last: p_clean=0 keeps older pools identical
            combination, deg = "none", clean
        elif self.p_photometric and rng.uniform() < self.p_photometric:  # after p_clean, for the same reason
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
