"""Training data for VesselNet: DRIVE training 21-40 and HRF 01-08 (h, g, dr) manual labels.

Never DRIVE test 01-20 nor HRF 09-10: those are the evaluation images
(`assert_training_ids` enforces it). Images are brought to a common vessel scale
by resizing so the FOV diameter equals a chosen value (the same convention the
inference uses); several diameters are kept so the network sees some scale range.
Labels are resized with area averaging and kept soft, so HRF's thin vessels are
not lost when the image is shrunk.

Patches are drawn from clean images or from image-level synthetic degradations
(blur, uneven illumination, haze, noise, gamma / colour cast) that are refreshed
every few hundred steps; the label stays the clean one, so the network learns to
see vessels through poor photos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

import cv2
import numpy as np

from core.data.vessel_samples import Sample
from core.degrade import degrade
from core.models.vesselnet import fov_diameter, normalise_in_fov

@dataclass
class ScaledImage:
    """A sample resized to one FOV diameter, padded by `pad` on each side.

    x: (3, H, W) normalised input; label: (H, W) soft float32; fov: (H, W) bool;
    rgb: (H, W, 3) float32 (for degradations); centres: (N, 2) in-FOV pixel coords.
    """

    name: str
    diameter: float
    rgb: np.ndarray
    x: np.ndarray
    label: np.ndarray
    fov: np.ndarray
    pad: int
    centres: np.ndarray


def _pad(a: np.ndarray, pad: int) -> np.ndarray:
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, widths)


def scale_sample(s: Sample, diameter: float, pad: int) -> ScaledImage:
    """Resize so the FOV diameter is `diameter`; soft labels by area averaging."""
    scale = diameter / fov_diameter(s.fov)
    h, w = s.fov.shape
    nh, nw = int(round(h * scale)), int(round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = np.clip(cv2.resize(s.rgb, (nw, nh), interpolation=interp), 0, 1)
    label = cv2.resize(s.label.astype(np.float32), (nw, nh), interpolation=interp)
    fov = cv2.resize(s.fov.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA) > 0.5
    label = np.clip(label, 0, 1) * fov
    rgb, label, fov = _pad(rgb, pad), _pad(label, pad), _pad(fov, pad)
    ys, xs = np.nonzero(fov)
    return ScaledImage(s.name, diameter, rgb.astype(np.float32), normalise_in_fov(rgb, fov),
                       label.astype(np.float32), fov, pad, np.stack([ys, xs], 1).astype(np.int32))


# ----------------------------------------------------------------------------- degradations

def _smooth_field(h: int, w: int, rng: np.random.Generator, cells: int = 4) -> np.ndarray:
    """A smooth random field in [0, 1] (low-resolution noise upsampled with bicubic)."""
    g = rng.random((cells, cells)).astype(np.float32)
    f = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    f -= f.min()
    return f / max(float(f.max()), 1e-6)


def private_degrade(rgb: np.ndarray, fov: np.ndarray, diameter: float, rng: np.random.Generator) -> np.ndarray:
    """Image-level degradation after Shen et al. (TMI 2021): illumination, blur, haze, plus noise.

    Used while core.degrade is unavailable; scaled with the FOV diameter so a
    degradation looks alike at every working scale.
    """
    h, w = rgb.shape[:2]
    out = rgb.copy()
    kinds = [k for k in ("illum", "blur", "haze") if rng.random() < 0.5] or [rng.choice(["illum", "blur", "haze"])]
    if "illum" in kinds:
        field = _smooth_field(h, w, rng)
        gain = 1.0 + rng.uniform(-0.6, 0.3) * field + rng.uniform(-0.25, 0.15)
        out = out * gain[..., None]
        out = np.clip(out, 0, 1) ** rng.uniform(0.6, 1.6)
    if "blur" in kinds:
        sigma = rng.uniform(0.5, 2.5) * diameter / 540.0
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if "haze" in kinds:
        field = _smooth_field(h, w, rng, cells=3)
        alpha = rng.uniform(0.2, 0.6) * (0.5 + 0.5 * field)
        tint = np.array([rng.uniform(0.7, 1.0), rng.uniform(0.6, 0.9), rng.uniform(0.4, 0.8)], np.float32)
        haze = cv2.GaussianBlur(out, (0, 0), 0.05 * diameter) * 0.5 + tint * 0.5
        out = out * (1 - alpha[..., None]) + haze * alpha[..., None]
    out = out * rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    out = out + rng.normal(0, rng.uniform(0.0, 0.02), out.shape).astype(np.float32)
    out = np.clip(out, 0, 1)
    out[~fov] = 0
    return out.astype(np.float32)


def _external_degrader() -> Optional[Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]]:
    """core.degrade.degrade with a random one of the 7 combinations."""

    def run(rgb: np.ndarray, fov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out, _ = degrade(rgb, fov, combination=None, seed=rng)
        return np.asarray(out, dtype=np.float32)

    return run


# ----------------------------------------------------------------------------- sampling

class PatchSampler:
    """Random training patches with flips/rotations, colour jitter and synthetic degradations."""

    def __init__(
        self,
        samples: Iterable[Sample],
        diameters: Sequence[float],
        patch: int,
        rng: np.random.Generator,
        degrade_fraction: float = 0.4,
        use_external_degrade: bool = True,
        external_fraction: float = 0.75,
    ) -> None:
        self.patch = patch
        self.rng = rng
        self.degrade_fraction = degrade_fraction
        pad = patch // 2 + 1
        self.images: list[list[ScaledImage]] = [[scale_sample(s, d, pad) for d in diameters] for s in samples]
        self.degraded: dict[tuple[int, int], np.ndarray] = {}
        self.external = _external_degrader() if use_external_degrade else None
        self.external_fraction = external_fraction if self.external is not None else 0.0
        self.degrader_name = (f"core.degrade.degrade ({self.external_fraction:.0%}) + private_degrade"
                              if self.external is not None else "private_degrade")

    def refresh_degraded(self, count: int) -> None:
        """Re-draw degraded versions of `count` random (image, scale) pairs."""
        for _ in range(count):
            i = int(self.rng.integers(len(self.images)))
            j = int(self.rng.integers(len(self.images[i])))
            im = self.images[i][j]
            if self.external is not None and self.rng.random() < self.external_fraction:
                try:
                    rgb = self.external(im.rgb, im.fov, self.rng)
                    rgb[~im.fov] = 0
                except Exception:  # noqa: BLE001 - a foreign degrader must not kill a long run
                    rgb = private_degrade(im.rgb, im.fov, im.diameter, self.rng)
            else:
                rgb = private_degrade(im.rgb, im.fov, im.diameter, self.rng)
            self.degraded[(i, j)] = normalise_in_fov(rgb, im.fov)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> x (n,3,P,P), y (n,1,P,P) soft labels, m (n,1,P,P) FOV weights."""
        p = self.patch
        xs = np.empty((n, 3, p, p), np.float32)
        ys = np.empty((n, 1, p, p), np.float32)
        ms = np.empty((n, 1, p, p), np.float32)
        rng = self.rng
        for k in range(n):
            i = int(rng.integers(len(self.images)))
            j = int(rng.integers(len(self.images[i])))
            im = self.images[i][j]
            cy, cx = im.centres[int(rng.integers(len(im.centres)))]
            y0, x0 = cy - p // 2, cx - p // 2
            src = im.x
            if self.degraded and rng.random() < self.degrade_fraction and (i, j) in self.degraded:
                src = self.degraded[(i, j)]
            x = src[:, y0 : y0 + p, x0 : x0 + p]
            y = im.label[y0 : y0 + p, x0 : x0 + p]
            m = im.fov[y0 : y0 + p, x0 : x0 + p].astype(np.float32)
            r = int(rng.integers(4))
            flip = rng.random() < 0.5
            x, y, m = np.rot90(x, r, (1, 2)), np.rot90(y, r), np.rot90(m, r)
            if flip:
                x, y, m = x[:, :, ::-1], y[:, ::-1], m[:, ::-1]
            # colour / contrast jitter in the normalised space (gain, offset, gamma-like bend)
            gain = rng.uniform(0.75, 1.25, size=(3, 1, 1)).astype(np.float32)
            off = rng.uniform(-0.2, 0.2, size=(3, 1, 1)).astype(np.float32)
            xj = x * gain + off
            if rng.random() < 0.3:
                xj = xj + rng.uniform(-0.08, 0.08) * xj * xj
            xs[k] = xj * m[None]
            ys[k, 0] = y
            ms[k, 0] = m
        return xs, ys, ms
