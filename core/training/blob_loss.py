"""A loss against lesion-like dots the detail stage makes: the differentiable twin of the blob measure.

Why: the do-no-harm table (c) counts small round dark and bright blobs (microaneurysm- and
exudate-like, 0.3-1 % of the FOV diameter, core.imaging.measures.blob_points) in the output and in
the input. Sharpening lifts sub-threshold texture and noise dots over the 8 % threshold, and a new
dot is a false lesion to a reader. The image losses barely see it: a handful of pixels a few per cent
off. Measured: a detail-stage run with 2.0.0's fields raised vessel recovery by 0.055 and the blob
ratio from 1.061 to 1.111 (docs/evaluation.md, tenth round).

The term mirrors the measure at the 512 px working FOV: green over its broad local level, DoG at the
measure's scales, the same roundness test (ratio of principal curvatures), and it asks that the
output's round blob response nowhere exceed the reference's (nearby, dilated over a blob's size) or
a margin under the threshold, whichever is larger, inside the FOV less its rim band. So a dot the reference holds may be restored or
kept; a dot it lacks may not be made. The reference is the clean target on synthetic pairs and the
input itself on real photos. Vessels are elongated and fail the roundness test, so sharpening them
is not penalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.imaging.measures import (
    BANDPASS_BROAD,
    ERODE_FRACTION,
    BLOB_CONTRAST,
    BLOB_DIAMETERS,
    BLOB_EDGE_RATIO,
    LEVEL_FLOOR,
    _blob_sigmas,
)
from core.models.structured import MaskedBlur, gaussian_kernel

WORKING_DIAMETER = 512.0
"""The FOV diameter (px) the training patches are cut at, roughly (scale jitter 440-600)."""
DOG_RATIO = 1.6
MARGIN = 0.02
"""The output may reach BLOB_CONTRAST - MARGIN where the reference has no dot: a small headroom, so
the term does not flatten all texture, only keep it under the threshold."""


def blob_sigmas(diameter: float = WORKING_DIAMETER) -> list[float]:
    """The measure's own DoG centre sigmas at a FOV of `diameter` px (so the two cannot drift apart)."""
    return [float(v) for v in _blob_sigmas(diameter)]


_cache: dict[tuple, torch.nn.Module | torch.Tensor] = {}


def _kernel(sigma: float, like: torch.Tensor) -> torch.Tensor:
    key = ("k", sigma, str(like.device), str(like.dtype))
    if key not in _cache:
        _cache[key] = gaussian_kernel(sigma).to(like.device, like.dtype)
    return _cache[key]  # type: ignore[return-value]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Plain separable Gaussian of a (B,1,H,W) map, replicate-padded."""
    k = _kernel(sigma, x)
    r = k.numel() // 2
    x = F.pad(x, (r, r, r, r), mode="replicate")
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))


def _level(g: torch.Tensor, fov: torch.Tensor, diameter: float) -> torch.Tensor:
    """The broad local level of green (masked Gaussian of BANDPASS_BROAD x the diameter), made at
    1/4 resolution and brought back bilinearly (it is smooth), floored as the measure floors it."""
    key = ("level", BANDPASS_BROAD * diameter / 4.0, str(g.device), str(g.dtype))
    if key not in _cache:
        _cache[key] = MaskedBlur(BANDPASS_BROAD * diameter / 4.0).to(g.device, g.dtype)
    blur = _cache[key]
    g4, m4 = F.avg_pool2d(g, 4, ceil_mode=True), F.avg_pool2d(fov, 4, ceil_mode=True)
    lvl = F.interpolate(blur(g4, (m4 > 0.5).to(g.dtype)), size=g.shape[-2:], mode="bilinear", align_corners=False)
    inside = fov > 0.5
    med = torch.stack([lvl[i][inside[i]].median() if bool(inside[i].any()) else lvl.new_tensor(1.0)
                       for i in range(lvl.shape[0])]).view(-1, 1, 1, 1)
    return torch.maximum(lvl, (LEVEL_FLOOR * med).clamp_min(1e-4))


def _round(d: torch.Tensor) -> torch.Tensor:
    """1 where the DoG map's curvature is blob-like (both principal curvatures of one sign, ratio at
    most BLOB_EDGE_RATIO: the measure's edge test), else 0. Not differentiated: it selects pixels."""
    p = F.pad(d, (1, 1, 1, 1), mode="replicate")
    c = p[..., 1:-1, 1:-1]
    dxx = p[..., 1:-1, 2:] + p[..., 1:-1, :-2] - 2 * c
    dyy = p[..., 2:, 1:-1] + p[..., :-2, 1:-1] - 2 * c
    dxy = (p[..., 2:, 2:] - p[..., 2:, :-2] - p[..., :-2, 2:] + p[..., :-2, :-2]) / 4.0
    tr, det = dxx + dyy, dxx * dyy - dxy * dxy
    r = BLOB_EDGE_RATIO
    return ((det > 0) & (tr * tr * r < (r + 1) ** 2 * det)).to(d.dtype)


def blob_response(rgb: torch.Tensor, fov: torch.Tensor, diameter: float = WORKING_DIAMETER) -> torch.Tensor:
    """(B,2,H,W): the strongest round dark (channel 0) and bright (channel 1) DoG response of green
    relative to its local level over the blob scales, as the measure thresholds it (0.08 = a dot 8 %
    off its surroundings); 0 outside the FOV and where the curvature is vessel-like."""
    g = rgb[:, 1:2]
    n = torch.where(fov > 0.5, g / _level(g, fov, diameter), torch.ones_like(g))
    scale = 0.6 / (DOG_RATIO - 1.0)
    best = []
    dogs = [(_blur(n, s) - _blur(n, s * DOG_RATIO)) * scale for s in blob_sigmas(diameter)]
    for sign in (-1.0, 1.0):
        resp = torch.stack([sign * d * _round((sign * d).detach()) for d in dogs]).amax(dim=0)
        best.append(resp)
    return torch.cat(best, dim=1) * (fov > 0.5).to(rgb.dtype)


def new_blob_loss(out: torch.Tensor, reference: torch.Tensor, fov: torch.Tensor,
                  diameter: float = WORKING_DIAMETER) -> torch.Tensor:
    """Mean over the FOV of how far the output's round blob response rises above
    max(the reference's, dilated over a blob; BLOB_CONTRAST - MARGIN), in units of the threshold."""
    with torch.no_grad():
        ref = blob_response(reference, fov, diameter)
        nb = max(3, int(round(BLOB_DIAMETERS[1] * diameter)) | 1)
        allowed = torch.maximum(F.max_pool2d(ref, nb, stride=1, padding=nb // 2), ref.new_tensor(BLOB_CONTRAST - MARGIN))
    excess = F.relu(blob_response(out, fov, diameter) - allowed) / BLOB_CONTRAST
    m = eroded(fov, diameter)
    return (excess * m).sum() / m.sum().clamp_min(1.0)


def eroded(fov: torch.Tensor, diameter: float = WORKING_DIAMETER) -> torch.Tensor:
    """The FOV less its rim band of ERODE_FRACTION x the diameter, as the measure leaves it out
    (vignetting and rim glare make dots there that no reader counts)."""
    r = max(1, int(round(ERODE_FRACTION * diameter)))
    inside = (fov > 0.5).to(fov.dtype)
    return -F.max_pool2d(-F.pad(inside, (r, r, r, r), value=0.0), 2 * r + 1, stride=1)
