"""VesselNet: shapes, size, config round trip, registry build, input normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models.registry import build_model
from core.models.vesselnet import VesselNet, VesselNetConfig, count_parameters, fov_diameter, normalise_in_fov


def test_default_network_is_compact_and_keeps_the_image_size():
    net = VesselNet().eval()
    assert 0.4e6 <= count_parameters(net) <= 1.5e6
    with torch.no_grad():
        y = net(torch.randn(2, 3, 64, 96))
    assert y.shape == (2, 1, 64, 96)


def test_odd_sizes_that_are_multiples_of_eight_work_and_config_round_trips():
    cfg = VesselNetConfig(channels=[8, 16, 32], norm="group", dropout=0.0)
    assert cfg.multiple == 4
    net = VesselNet.from_config(cfg.to_dict()).eval()
    assert net.cfg == cfg
    with torch.no_grad():
        assert net(torch.randn(1, 3, 44, 52)).shape == (1, 1, 44, 52)


def test_registry_builds_vesselnet_and_ignores_inference_hints():
    net = build_model("vesselnet", {"channels": [8, 16, 32, 64], "inference": {"threshold": 0.4}})
    assert isinstance(net, VesselNet) and net.cfg.channels == [8, 16, 32, 64]


def test_normalise_in_fov_is_zero_mean_unit_variance_inside_and_zero_outside():
    rng = np.random.default_rng(0)
    rgb = rng.random((40, 50, 3)).astype(np.float32) * np.array([0.9, 0.4, 0.1], np.float32)
    fov = np.zeros((40, 50), bool)
    fov[5:35, 10:40] = True
    x = normalise_in_fov(rgb, fov)
    assert x.shape == (3, 40, 50)
    for c in range(3):
        assert x[c][fov].mean() == pytest.approx(0.0, abs=1e-4)
        assert x[c][fov].std() == pytest.approx(1.0, abs=1e-3)
    assert (x[:, ~fov] == 0).all()
    # brightness and contrast changes do not change the network input
    assert np.allclose(normalise_in_fov(rgb * 0.5 + 0.1, fov), x, atol=1e-4)


def test_fov_diameter_is_the_horizontal_extent():
    fov = np.zeros((30, 80), bool)
    fov[0:30, 12:70] = True  # cut top and bottom, like HRF
    assert fov_diameter(fov) == 58
    assert fov_diameter(np.zeros((5, 5), bool)) == 0
