"""Vessel-aware training loss: a frozen vessel network judges MAGE-Net's output (issue 17).

Why a third vessel network: the shipped `vesselnet` draws the overlay and the evaluation-only
`vesselnet-clean` scores vessel recovery; a model trained against either would be graded by
its own coach. This one (configs/vessels-loss.json, trained on the training splits of DRIVE,
HRF and LES-AV at MAGE-Net's working scale) is used for this loss only.

The loss is a binary cross-entropy of the network's vessel logits on the enhanced output
against a target: the manual label where the pair has one, else the frozen network's own
probability on the clean target. The gradient flows through the frozen network into the
output, so the output is asked to show the vessels the clean photo shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from core.errors import FundusError
from core.models.vesselnet import VesselNet, VesselNetConfig


def normalise_in_fov_torch(x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel zero mean / unit variance inside the FOV, zeros outside (differentiable);
    the torch twin of core.models.vesselnet.normalise_in_fov, computed over the patch."""
    m = fov.expand_as(x)
    n = m.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (x * m).sum(dim=(2, 3), keepdim=True) / n
    var = ((x - mean) ** 2 * m).sum(dim=(2, 3), keepdim=True) / n
    return (x - mean) / var.clamp_min(1e-6).sqrt().clamp_min(1e-3) * m


class VesselLoss(nn.Module):
    """BCE of a frozen VesselNet's logits on the output against labels or its own view of the clean target."""

    def __init__(self, net: VesselNet) -> None:
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.multiple = net.cfg.multiple

    @classmethod
    def from_card(cls, card_path: str | Path) -> "VesselLoss":
        """Load a vessel card (JSON beside its .safetensors), e.g. resources/training/vesselnet-loss-1.0.0.json."""
        path = Path(card_path)
        if not path.exists():
            raise FundusError(f"The vessel-loss network {path} was not found: train it with configs/vessels-loss.json "
                              "(core.training.vessel_train) and ship it with core.training.vessel_ship --dest resources/training.")
        card = json.loads(path.read_text())
        config = {k: v for k, v in card["config"].items() if k != "inference"}
        net = VesselNet(VesselNetConfig.from_dict(config))
        net.load_state_dict(load_file(str(path.with_name(card["weights_file"]))))
        return cls(net)

    def logits(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        """Vessel logits of x (B,3,H,W), padded to the network's multiple and cropped back."""
        h, w = x.shape[-2:]
        k = self.multiple
        ph, pw = (-h) % k, (-w) % k
        z = normalise_in_fov_torch(x, fov)
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph))
        return self.net(z)[..., :h, :w]

    def forward(self, out: torch.Tensor, clean: torch.Tensor, fov: torch.Tensor,
                vessels: torch.Tensor, has_vessels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            seen = torch.sigmoid(self.logits(clean, fov))
        labelled = has_vessels.view(-1, 1, 1, 1).to(out.dtype)
        target = labelled * vessels + (1.0 - labelled) * seen
        bce = F.binary_cross_entropy_with_logits(self.logits(out, fov), target, reduction="none")
        return (bce * fov).sum() / fov.sum().clamp_min(1.0)

    def train(self, mode: bool = True) -> "VesselLoss":
        """Stays in eval mode: its batch norm must not learn from the enhancer's outputs."""
        return super().train(False)
