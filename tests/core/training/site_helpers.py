"""Helpers for the site-adaptation tests: a small synthetic site folder and tiny installed models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.synthetic import TINY_MAGENET as TINY, make_fundus



def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def make_site(folder: Path, n: int = 7, side: int = 256) -> list[Path]:
    """n synthetic photos of varying quality (every other one blurred more)."""
    out = []
    for i in range(n):
        rgb = make_fundus(side, side, seed=i)
        if i % 2:
            rgb = cv2.GaussianBlur(rgb, (0, 0), 1.0 + 0.4 * i)
        out.append(write_rgb(folder / f"photo_{i:02d}.png", rgb))
    return out


def install_tiny(name: str = "MAGE-Net-tiny", version: str = "1", seed: int = 0):
    """A tiny MAGE-Net installed (and active) in the test's user home."""
    import torch

    from core.models.magenet import MageNet
    from core.models.registry import ModelCard, ModelRegistry

    torch.manual_seed(seed)
    reg = ModelRegistry()
    card = ModelCard(name=name, version=version, config={**TINY, "inference": {"working_size": 64}},
                     license="test")
    installed = reg.install(MageNet.from_config(dict(TINY)), card)
    reg.set_active("enhancer", name, version)
    return installed


def tiny_settings(**kw):
    from core.training.site_adapt import AdaptSettings

    base = dict(minutes=None, steps=4, holdout=2, patch=48, batch=1, real_batch=1, pool_size=3,
                threads=1, preview_every_s=1e9, warmup_steps=2, checkpoint_minutes=100.0)
    base.update(kw)
    return AdaptSettings(**base)


def tiny_vessel_segmenter():
    """A tiny VesselNet segmenter with a fixed, non-trivial response (not installed)."""
    import torch

    from core.models.vesselnet import VesselNet
    from core.vessels import VesselSegmenter

    torch.manual_seed(0)
    cfg = {"channels": [4, 8], "dropout": 0.0}
    net = VesselNet.from_config(dict(cfg))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    card = {"name": "VesselNet-tiny", "version": "0", "config": {
        **cfg, "inference": {"working_fov_diameter": 96, "threshold": 0.5, "tile": 64, "overlap": 16}}}
    return VesselSegmenter(model=net, card=card)
