"""Tiny synthetic sources and a tiny MAGE-Net config for fast trainer tests (no research data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.training.config import TrainConfig
from core.data.sources import Source
from tests.synthetic import make_fundus

TINY_MODEL = {
    "stage1_channels": [8, 8, 8],
    "stage2_channels": [8, 8, 8],
    "stage1_cabs": 1,
    "stage2_cabs": 1,
    "rsp_channels": 4,
    "rsp_groups": 1,
    "rsp_cabs": 1,
    "structure_hidden": 4,
}


def tiny_source(i: int, side: int = 96, vessels: bool = True, prefix: str = "tiny") -> Source:
    img = make_fundus(side, side, radius=side * 0.47, seed=i)
    yy, xx = np.mgrid[:side, :side]
    fov = np.hypot(yy - side / 2, xx - side / 2) <= side * 0.47
    ves = None
    if vessels:
        g = img[..., 1].astype(np.float32)
        ves = ((g < np.percentile(g[fov], 20)) & fov).astype(np.uint8) * 255
    return Source(f"{prefix}/{i}", img, fov, ves, side)


def tiny_sources(n: int = 3, prefix: str = "tiny") -> list[Source]:
    return [tiny_source(i, vessels=(i % 2 == 0), prefix=prefix) for i in range(n)]


@pytest.fixture(autouse=True)
def restore_threads():
    """The trainer sets torch's thread count (config.threads); give it back after each test."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def tiny_config(tmp_path, mode: str = "supervised", steps: int = 6, **over) -> TrainConfig:
    d = {
        "mode": mode,
        "steps": steps,
        "seed": 3,
        "device": "cpu",
        "threads": 1,  # tiny convolutions: threads only add contention
        "model_overrides": TINY_MODEL,
        "output_dir": str(tmp_path / "run"),
        "checkpoint_minutes": 1000,
        "log_every": 1,
        "data": {"patch": 32, "batch": 2, "real_batch": 2, "pool_size": 3, "pool_refresh": 1,
                 "scale_main": [64, 96], "scale_wide": [80, 96], "p_wide": 0.2},
        "optim": {"lr": 0.002, "min_lr": 0.0002, "warmup_steps": 2},
        "teacher_student": {"ramp_fraction": 0.5},
    }
    d.update(over)
    return TrainConfig.from_dict(d)
