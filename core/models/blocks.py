"""Attention building blocks of MAGE-Net (design: shared/design/MAGE-NET.md section 2).

CA, SA and SAM are the "multiple attentions" of the paper's name; CAB is the
residual unit every stage is made of. Resampling helpers are size-aware so a
stage works on any feature size, not only powers of two.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(c_in: int, c_out: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)


def conv1x1(c_in: int, c_out: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 1, bias=bias)


class ChannelAttention(nn.Module):
    """CA: global average pool, 1x1 conv C -> C/r, ReLU, 1x1 conv back, sigmoid, multiply.

    Lets a block re-weight whole feature maps from image-wide statistics (global
    colour cast, overall haze), which a 3x3 conv cannot see.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Conv2d(channels, hidden, 1, bias=True)
        self.excite = nn.Conv2d(hidden, channels, 1, bias=True)
        # Start every hidden unit alive: with the default bias a unit whose ReLU is
        # closed for every image gets no gradient and stays dead for good.
        nn.init.constant_(self.squeeze.bias, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.adaptive_avg_pool2d(x, 1)
        w = torch.sigmoid(self.excite(F.relu(self.squeeze(w))))
        return x * w


class CAB(nn.Module):
    """Channel attention block: conv3x3, PReLU, conv3x3, CA, plus the input."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.act = nn.PReLU(channels)
        self.conv2 = conv3x3(channels, channels)
        self.ca = ChannelAttention(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ca(self.conv2(self.act(self.conv1(x))))


class SpatialAttention(nn.Module):
    """SA: channel mean and max, kxk conv, sigmoid, multiply.

    Tells the full-resolution stage *where* to act (vessel edges, disc rim,
    artefacts) at the cost of one small conv on two channels.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class SAM(nn.Module):
    """Supervised attention module.

    From stage features F and the stage's input image: image I = conv(F) + input;
    mask M = sigmoid(conv(I)); features passed on = conv(F) * M + F. The image is
    what the stage is supervised with; the mask lets the next stage take only the
    features that the supervised image vouches for.
    """

    def __init__(self, channels: int, image_channels: int = 3) -> None:
        super().__init__()
        self.to_features = conv3x3(channels, channels)
        self.to_image = conv3x3(channels, image_channels)
        self.to_mask = conv3x3(image_channels, channels)

    def forward(self, features: torch.Tensor, stage_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.to_image(features) + stage_input
        mask = torch.sigmoid(self.to_mask(image))
        passed = self.to_features(features) * mask + features
        return passed, image


class Down(nn.Module):
    """Halve the resolution (2x2 average, ceil for odd sizes) and change width with a 1x1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.proj = conv1x1(c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.avg_pool2d(x, 2, ceil_mode=True))


def resize_to(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize to an exact spatial size (no-op when it already has it)."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Up(nn.Module):
    """Change width with a 1x1 conv at the low resolution (cheaper), then bilinear to the target size.

    The two commute (bilinear interpolation preserves constants), so the order
    only changes the cost.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.proj = conv1x1(c_in, c_out)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
        return resize_to(self.proj(x), size)


class ResidualGroup(nn.Module):
    """RSP residual group: CABs, spatial attention, conv3x3, plus the group input."""

    def __init__(self, channels: int, n_cabs: int, reduction: int = 4, sa_kernel: int = 7) -> None:
        super().__init__()
        self.body = nn.Sequential(*[CAB(channels, reduction) for _ in range(n_cabs)])
        self.sa = SpatialAttention(sa_kernel)
        self.tail = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.tail(self.sa(self.body(x)))
