"""The network as inference sees it: image in, image out, nothing else computed.

Training needs MAGE-Net's stage images and structure logits; the Enhancer needs only
the final image. `ImageOnly` wraps any enhancement model so every backend (eager,
ONNX export, torch.compile) gets the same two-input, one-output graph. For MAGE-Net it
also skips the structure head (a full-resolution conv the image never uses): a pruned
graph that gives bit-identical images for less work.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn


class ImageOnly(nn.Module):
    """forward(x (B,3,H,W), fov (B,1,H,W)) -> enhanced image (B,3,H,W) float."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        from core.models.magenet import MageNet  # noqa: PLC0415

        self._pruned = isinstance(model, MageNet)

    def forward(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        if self._pruned:
            return _magenet_image(self.model, x, fov)
        out: Any = self.model(x, fov)
        return out if isinstance(out, torch.Tensor) else out.image


def _magenet_image(net: Any, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """MageNet.forward without the structure head and the stage-image crops (same image)."""
    from core.models.magenet import PAD_MULTIPLE, _pad_to_multiple  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415

    h, w = x.shape[-2:]
    xp = _pad_to_multiple(x, PAD_MULTIPLE)
    x2 = F.avg_pool2d(xp, 2)
    x4 = F.avg_pool2d(xp, 4)
    f1, _, enc1, dec1 = net.stage1(x4)
    f2, _, _, _ = net.stage2(x2, prev=(enc1, dec1), prev_sam=f1)
    rsp = net.stage3
    feat = rsp.shallow(torch.cat([xp, net.prior(xp)], dim=1))
    feat = feat + rsp.from_stage2(f2, feat.shape[-2:])
    residual = rsp.to_residual(rsp.groups(feat))
    out = torch.clamp(xp + residual, 0.0, 1.0)[..., :h, :w]
    return out * fov.to(dtype=out.dtype)


def module_fingerprint(module: nn.Module) -> str:
    """sha256 of the parameters and buffers (names, shapes, bytes): identifies a model without a card."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(str(t.dtype).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()
