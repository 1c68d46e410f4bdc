"""VesselNet: a compact U-Net that maps a fundus photo to vessel logits.

Why this shape: 4 levels (16-32-64-128 channels by default, ~0.5 M parameters) is
what published compact U-Nets use on DRIVE to reach ~0.975-0.98 AUC, and it is
small enough to train on a laptop CPU and to ship in a few MB.

Input convention (shared by training and inference, see `prepare_input`):
the RGB photo, rescaled so that the field-of-view (FOV) diameter equals the
model card's `working_fov_diameter`, then normalised per image and per channel
to zero mean / unit variance *inside the FOV*, with zeros outside the FOV.
Per-image normalisation makes the network indifferent to overall brightness and
colour cast, which vary a lot between cameras and in poor photos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class VesselNetConfig:
    """Architecture hyper-parameters; stored in the model card so a model rebuilds exactly."""

    in_channels: int = 3
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    norm: str = "batch"  # "batch" or "group"
    dropout: float = 0.1  # at the bottleneck only

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "VesselNetConfig":
        d = dict(d or {})
        known = {k: d[k] for k in ("in_channels", "channels", "norm", "dropout") if k in d}
        if "channels" in known:
            known["channels"] = [int(c) for c in known["channels"]]
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (one halving per level below the top)."""
        return 2 ** (len(self.channels) - 1)


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(min(8, ch // 4) or 1, ch)
    return nn.BatchNorm2d(ch)


class _DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class VesselNet(nn.Module):
    """U-Net: encoder of `len(channels)` levels, bilinear-upsampling decoder, 1 logit channel."""

    def __init__(self, cfg: VesselNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or VesselNetConfig()
        ch = self.cfg.channels
        self.enc = nn.ModuleList()
        cin = self.cfg.in_channels
        for c in ch:
            self.enc.append(_DoubleConv(cin, c, self.cfg.norm))
            cin = c
        self.drop = nn.Dropout2d(self.cfg.dropout) if self.cfg.dropout > 0 else nn.Identity()
        self.reduce = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(len(ch) - 1, 0, -1):
            self.reduce.append(nn.Conv2d(ch[i], ch[i - 1], 1))
            self.dec.append(_DoubleConv(2 * ch[i - 1], ch[i - 1], self.cfg.norm))
        self.head = nn.Conv2d(ch[0], 1, 1)

    @classmethod
    def from_config(cls, config: dict[str, Any] | VesselNetConfig | None = None) -> "VesselNet":
        """Build from a model card's `config` dict (the registry's lazy architecture entry point)."""
        if isinstance(config, VesselNetConfig):
            return cls(config)
        return cls(VesselNetConfig.from_dict(config))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W), H and W multiples of cfg.multiple -> logits (B, 1, H, W)."""
        skips = []
        for i, block in enumerate(self.enc):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        x = self.drop(skips.pop())
        for reduce, block in zip(self.reduce, self.dec):
            skip = skips.pop()
            x = F.interpolate(reduce(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def normalise_in_fov(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Per-channel zero mean / unit variance inside the FOV, zeros outside; returns (3, H, W) float32.

    rgb: H x W x 3 float in [0, 1]; fov: H x W bool.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    fov = np.asarray(fov, dtype=bool)
    out = np.zeros((3,) + rgb.shape[:2], dtype=np.float32)
    if not fov.any():
        return out
    for c in range(3):
        vals = rgb[..., c][fov]
        mean = float(vals.mean())
        std = float(vals.std())
        out[c] = (rgb[..., c] - mean) / max(std, 1e-3)
    out[:, ~fov] = 0.0
    return out


def fov_diameter(fov: np.ndarray) -> float:
    """FOV diameter in pixels, measured as the horizontal extent of the mask.

    Horizontal because many cameras cut the circle at top and bottom (HRF, EyePACS)
    but not at the sides.
    """
    cols = np.flatnonzero(np.asarray(fov, dtype=bool).any(axis=0))
    if cols.size == 0:
        return 0.0
    return float(cols[-1] - cols[0] + 1)
