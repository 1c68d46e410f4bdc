"""The guided step (core.imaging.guided_upsample.apply_to_photo) on a GPU with torch.

On a GPU the network is no longer the slow part of a batch: resizing the coefficient maps
to a 3504 x 2336 photo and applying them is. Here the photo goes to the GPU once (through
pinned memory), the maps are resized there (bilinear, pixel centres, as OpenCV does) and
the rounded result comes back in the photo's dtype. Runs on any torch device, so the CPU
tests check it against the NumPy version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def apply_to_photo_torch(
    photo: np.ndarray,
    frame: Any,
    square_mask: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    max_value: int,
    device: str | torch.device = "cuda",
) -> np.ndarray:
    """Same result as apply_to_photo (to within one grey level), computed on `device`."""
    dev = torch.device(device)
    pin = dev.type == "cuda"
    ry, rx, sy, sx = frame._overlap()
    side = frame.side
    region = photo[ry, rx]
    src = region if region.dtype == np.uint8 else region.astype(np.int32)
    host = torch.from_numpy(np.ascontiguousarray(src))
    if pin:
        host = host.pin_memory()
    x = host.to(dev, non_blocking=pin).permute(2, 0, 1).float()
    x.mul_(1.0 / max_value)

    def up(coef: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(coef.transpose(2, 0, 1)))[None].to(dev)
        t = F.interpolate(t, size=(side, side), mode="bilinear", align_corners=False)
        return t[0, :, sy, sx]

    m = torch.from_numpy(np.ascontiguousarray(square_mask[sy, sx])).to(dev)
    y = x.mul_(up(a)).add_(up(b)).mul_(m).clamp_(0.0, 1.0).mul_(float(max_value)).round_()
    res = y.permute(1, 2, 0).to(torch.uint8 if photo.dtype == np.uint8 else torch.int32).cpu().numpy()
    out = np.zeros(photo.shape, photo.dtype)
    out[ry, rx] = res.astype(photo.dtype, copy=False)
    return out
