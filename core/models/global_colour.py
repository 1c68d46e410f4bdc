"""Whole-image illumination and colour correction for MAGE-Net (our addition).

MAGE-Net's stages are trained on patches (a whole 512 px image per step is too
slow on a CPU), so no stage ever sees the whole photograph and none can tell a
dim photo from a dark region, or a colour cast from a pale retina. Measured on
the synthetic test (docs/evaluation.md): on illumination cases the output of
mage-s 1.1.0 was 21.5 dB from the clean photo, 26.6 dB after an oracle
per-channel gain and offset, 33 dB after an oracle low-frequency correction.

This head closes that gap from a thumbnail of the whole image: it looks at the
input and the stages' output side by side (so it also sees what the stages
already changed) and predicts a smooth per-channel gain and offset field on a
coarse grid, upsampled bilinearly and applied to the output. The field is
smooth by construction, so it cannot add structure, and it starts as the
identity (last layer zero), so a trained network gains the head without
changing until the head is trained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.blocks import CAB, conv3x3, resize_to

MAX_LOG_GAIN = 1.5
"""Gains stay within exp(+-1.5) = 0.22-4.5x: darker than that is not a photo to rescue."""
MAX_OFFSET = 0.5


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.PReLU(c_out))


class GlobalColour(nn.Module):
    """Gain/offset field from a `size`-px thumbnail of (input, output, FOV); the field is size/4 px."""

    def __init__(self, channels: int = 32, size: int = 128, reduction: int = 4) -> None:
        super().__init__()
        if size % 16:
            raise ValueError("the global head's thumbnail size must be a multiple of 16")
        c, c2 = channels, 2 * channels
        self.size = int(size)
        self.stem = nn.Sequential(conv3x3(7, c), nn.PReLU(c))  # size
        self.down1 = _down(c, c)  # size/2
        self.down2 = nn.Sequential(_down(c, c2), CAB(c2, reduction))  # size/4: the field's grid
        self.down3 = nn.Sequential(_down(c2, c2), CAB(c2, reduction))  # size/8
        self.down4 = nn.Sequential(_down(c2, c2), CAB(c2, reduction))  # size/16
        self.context = nn.Sequential(nn.Linear(c2, c2), nn.PReLU(c2), nn.Linear(c2, c2))
        self.up4 = CAB(c2, reduction)
        self.up3 = CAB(c2, reduction)
        self.up2 = CAB(c2, reduction)
        self.to_field = nn.Conv2d(c2, 6, 3, padding=1, bias=True)
        nn.init.zeros_(self.to_field.weight)
        nn.init.zeros_(self.to_field.bias)

    def thumbnail(self, x: torch.Tensor) -> torch.Tensor:
        """size x size box average (exact for sides that are multiples of size, e.g. 512 and 1024;
        otherwise a box average, then bilinear): a fixed kernel, so every backend can export it."""
        k = max(1, min(x.shape[-2], x.shape[-1]) // self.size)
        return resize_to(F.avg_pool2d(x, k) if k > 1 else x, (self.size, self.size))

    def field(self, image: torch.Tensor, output: torch.Tensor, fov: torch.Tensor | None) -> torch.Tensor:
        """(B,6,size/4,size/4): log-gains for R, G, B, then offsets."""
        mask = torch.ones_like(image[:, :1]) if fov is None else fov
        thumb = self.thumbnail(torch.cat([image, output, mask], dim=1))
        e1 = self.stem(thumb)
        e2 = self.down1(e1)
        e4 = self.down2(e2)
        e8 = self.down3(e4)
        e16 = self.down4(e8)
        g = self.context(e16.mean(dim=(2, 3)))[:, :, None, None]  # whole-image context
        y = self.up4(e16 + g)
        y = self.up3(resize_to(y, e8.shape[-2:]) + e8)
        y = self.up2(resize_to(y, e4.shape[-2:]) + e4)
        f = self.to_field(y)
        log_gain = MAX_LOG_GAIN * torch.tanh(f[:, :3] / MAX_LOG_GAIN)
        offset = MAX_OFFSET * torch.tanh(f[:, 3:] / MAX_OFFSET)
        return torch.cat([log_gain, offset], dim=1)

    def forward(self, image: torch.Tensor, output: torch.Tensor, fov: torch.Tensor | None = None) -> torch.Tensor:
        """`output` corrected by the field (not clamped): output * gain + offset."""
        f = resize_to(self.field(image, output, fov), output.shape[-2:])
        return output * torch.exp(f[:, :3]) + f[:, 3:]
