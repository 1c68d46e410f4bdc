"""The network as inference sees it: image in, image out, nothing else computed.

Training needs MAGE-Net's stage images and structure logits; the Enhancer needs only
the final image. `ImageOnly` wraps any enhancement model so every backend (eager,
ONNX export, torch.compile) gets the same two-input, one-output graph. For MAGE-Net it
also skips the structure head (a full-resolution conv the image never uses): a pruned
graph that gives bit-identical images for less work.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.magenet import PAD_MULTIPLE, MageNet, _pad_to_multiple


class ImageOnly(nn.Module):
    """forward(x (B,3,H,W), fov (B,1,H,W)) -> enhanced image (B,3,H,W) float.

    prune=False runs the model's own forward (the float32 reference); compute_dtype runs
    the network body in that dtype (weights must already be in it) while the input is
    kept in float32 for the final `input + residual`, so rounding touches only the residual.
    """

    def __init__(self, model: nn.Module, prune: bool = True, compute_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.model = model

        self._pruned = prune and isinstance(model, MageNet)
        self.compute_dtype = compute_dtype

    def forward(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        if self._pruned:
            return _magenet_image(self.model, x, fov, self.compute_dtype)
        xin = x.to(self.compute_dtype) if self.compute_dtype is not None else x
        out: Any = self.model(xin, fov.to(xin.dtype))
        return out if isinstance(out, torch.Tensor) else out.image


def _magenet_image(net: Any, x: torch.Tensor, fov: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """MageNet.forward without the structure head and the stage-image crops (same image)."""

    h, w = x.shape[-2:]
    xp = _pad_to_multiple(x, PAD_MULTIPLE)
    xc = xp.to(dtype) if dtype is not None else xp
    x2 = F.avg_pool2d(xc, 2)
    x4 = F.avg_pool2d(xc, 4)
    f1, _, enc1, dec1 = net.stage1(x4)
    f2, _, _, _ = net.stage2(x2, prev=(enc1, dec1), prev_sam=f1)
    feat = net.stage3.features(xc, net.prior(xc), f2)
    if getattr(net, "structured", False):
        return net.structured_image(xp, fov.to(dtype=xp.dtype), (h, w), f1, f2, feat)[0]
    return net.final_image(xp, net.stage3.to_residual(feat), (h, w), fov.to(dtype=xp.dtype))


class ClampPReLU(nn.Module):
    """PReLU as max(x, 0) + w * min(x, 0): the same values, but PyTorch's own PReLU kernel is
    ~10x slower on bfloat16 channels-last tensors (measured, docs/performance.md)."""

    def __init__(self, prelu: nn.PReLU) -> None:
        super().__init__()
        self.weight = nn.Parameter(prelu.weight.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype)
        w = w.view(1, -1, *([1] * (x.dim() - 2))) if w.numel() > 1 else w  # channels are dim 1 (NC or NCHW)
        return x.clamp_min(0) + w * x.clamp_max(0)


def inference_graph(model: nn.Module, dtype: torch.dtype | None = None, channels_last: bool = True,
                    device: str = "cpu") -> ImageOnly:
    """A copy of the model arranged for fast inference: pruned, channels-last, optionally in a
    lower precision with PReLU re-expressed; the original model is left untouched."""

    net = copy.deepcopy(model).eval()
    if dtype is not None:
        for parent in list(net.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.PReLU):
                    setattr(parent, name, ClampPReLU(child))
        net = net.to(dtype)
        if getattr(net, "global_head", None) is not None:
            net.global_head.float()  # see MageNet.final_image: the colour head stays float32
        if getattr(net, "structured", False):  # see MageNet.structured_image: the fields stay float32
            net.field_head.float()
            net.compose.float()
            net.stage3.detail.float()
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    return ImageOnly(net, compute_dtype=dtype).eval()


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
