"""Photometric perturbations for teacher-student training (MAGE-NET.md section 3).

The student sees a strong perturbation of a real photo, the teacher a weak one of
the same crop (geometry is shared, so outputs line up pixel for pixel); the
consistency between them teaches the student to give the same answer under
camera-like variation. Everything stays inside the FOV and is drawn from a
torch.Generator, so a step is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PerturbStrength:
    """Ranges of one perturbation level (multiplicative factors around 1, noise sigma, blur sigma)."""

    noise: float = 0.0  # max std of additive Gaussian noise
    brightness: float = 0.0  # factor in [1 - b, 1 + b]
    contrast: float = 0.0  # factor in [1 - c, 1 + c] around the FOV mean
    gamma: float = 0.0  # exponent in [1 - g, 1 + g]
    blur: float = 0.0  # max Gaussian sigma in px
    blur_probability: float = 0.0

    @classmethod
    def from_dict(cls, d: dict) -> "PerturbStrength":
        return cls(**{k: float(v) for k, v in d.items()})


STRONG = PerturbStrength(noise=0.03, brightness=0.25, contrast=0.25, gamma=0.25, blur=1.2, blur_probability=0.5)
WEAK = PerturbStrength(noise=0.005, brightness=0.05, contrast=0.05, gamma=0.05)


def _uniform(n: int, half_width: float, gen: torch.Generator) -> torch.Tensor:
    return 1.0 + (torch.rand(n, generator=gen) * 2.0 - 1.0) * half_width


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample separable Gaussian blur (sigma (B,), 0 = none), kernel radius 3 sigma."""
    out = x.clone()
    for b in range(x.shape[0]):
        s = float(sigma[b])
        if s < 0.3:
            continue
        r = max(1, int(3 * s + 0.5))
        t = torch.arange(-r, r + 1, dtype=x.dtype)
        k = torch.exp(-(t**2) / (2 * s * s))
        k = (k / k.sum()).to(x.device)
        c = x.shape[1]
        xb = F.pad(x[b : b + 1], (r, r, r, r), mode="replicate")
        xb = F.conv2d(xb, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        xb = F.conv2d(xb, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
        out[b : b + 1] = xb
    return out


def perturb(x: torch.Tensor, fov: torch.Tensor, s: PerturbStrength, gen: torch.Generator) -> torch.Tensor:
    """A photometric perturbation of a batch x (B,3,H,W) in [0,1]; zero outside fov (B,1,H,W)."""
    b = x.shape[0]
    dev = x.device
    y = x
    if s.brightness:
        y = y * _uniform(b, s.brightness, gen).to(dev).view(b, 1, 1, 1)
    if s.contrast:
        mean = (y * fov).sum(dim=(1, 2, 3), keepdim=True) / (3 * fov.sum(dim=(1, 2, 3), keepdim=True)).clamp_min(1)
        y = (y - mean) * _uniform(b, s.contrast, gen).to(dev).view(b, 1, 1, 1) + mean
    if s.gamma:
        y = y.clamp(0, 1).clamp_min(1e-6) ** _uniform(b, s.gamma, gen).to(dev).view(b, 1, 1, 1)
    if s.blur and s.blur_probability:
        on = torch.rand(b, generator=gen) < s.blur_probability
        sigma = torch.rand(b, generator=gen) * s.blur * on
        y = _gaussian_blur(y, sigma)
    if s.noise:
        std = (torch.rand(b, generator=gen) * s.noise).view(b, 1, 1, 1)
        y = y + (torch.randn(x.shape, generator=gen) * std).to(dev)
    return y.clamp(0, 1) * fov
