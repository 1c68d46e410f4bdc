"""The vessel-aware loss: a frozen third vessel network judges the enhancer's output."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.errors import FundusError
from core.models.vesselnet import VesselNet, VesselNetConfig, normalise_in_fov
from core.training.vessel_loss import VesselLoss, normalise_in_fov_torch
from tests.core.training.tiny import restore_threads, tiny_config, tiny_sources  # noqa: F401


def _card(tmp_path, seed: int = 0):
    torch.manual_seed(seed)
    net = VesselNet(VesselNetConfig(channels=[4, 8]))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "vl.safetensors"))
    path = tmp_path / "vl.json"
    path.write_text(json.dumps({"config": {**net.cfg.to_dict(), "inference": {"threshold": 0.5}},
                                "weights_file": "vl.safetensors"}))
    return path, net


def test_torch_normalisation_matches_the_vessel_networks_own():
    rng = np.random.default_rng(0)
    rgb = rng.random((40, 48, 3)).astype(np.float32)
    fov = np.zeros((40, 48), bool)
    fov[5:35, 6:40] = True
    want = normalise_in_fov(rgb, fov)
    got = normalise_in_fov_torch(torch.from_numpy(rgb).permute(2, 0, 1)[None], torch.from_numpy(fov)[None, None].float())
    assert np.abs(got[0].numpy() - want).max() < 1e-4


def test_the_loss_trains_the_output_not_the_frozen_network_and_follows_the_label_where_there_is_one(tmp_path):
    path, net = _card(tmp_path)
    loss = VesselLoss.from_card(path)
    loss.train()
    assert not loss.net.training  # its batch norm never learns from the enhancer
    assert all(torch.equal(loss.net.state_dict()[k], v) for k, v in net.state_dict().items())
    torch.manual_seed(1)
    clean = torch.rand(2, 3, 30, 30)  # not a multiple of the network's 2: padded and cropped back
    fov = torch.ones(2, 1, 30, 30)
    out = (clean + 0.1 * torch.randn_like(clean)).requires_grad_()
    vessels = (torch.rand(2, 1, 30, 30) > 0.8).float()
    value = loss(out, clean, fov, vessels, torch.tensor([1.0, 0.0]))
    value.backward()
    assert out.grad is not None and float(out.grad.abs().sum()) > 0
    assert all(p.grad is None for p in loss.net.parameters())
    flipped = loss(out.detach(), clean, fov, 1.0 - vessels, torch.tensor([1.0, 0.0]))
    unlabelled = loss(out.detach(), clean, fov, vessels, torch.tensor([0.0, 0.0]))
    unlabelled_flipped = loss(out.detach(), clean, fov, 1.0 - vessels, torch.tensor([0.0, 0.0]))
    assert float(flipped) != pytest.approx(float(value.detach()))  # the labelled row reads its label
    assert float(unlabelled) == pytest.approx(float(unlabelled_flipped))  # the others read the clean photo


def test_a_missing_vessel_loss_network_is_a_clear_error(tmp_path):
    with pytest.raises(FundusError, match="vessels-loss.json"):
        VesselLoss.from_card(tmp_path / "absent.json")
    cfg = tiny_config(tmp_path, steps=1, losses={"vessel": 0.5})
    with pytest.raises(FundusError, match="vessel_loss_net"):
        from core.training.trainer import Trainer

        Trainer(cfg, tiny_sources(2), None)


def test_a_training_run_with_the_vessel_loss_logs_it(tmp_path):
    from core.training.trainer import Trainer

    path, _ = _card(tmp_path)
    cfg = tiny_config(tmp_path, steps=2, losses={"vessel": 0.5}, vessel_loss_net=str(path))
    res = Trainer(cfg, tiny_sources(2), None).run()
    assert res.status == "finished" and np.isfinite(res.last_losses["vessel"])


def test_the_committed_vessel_loss_network_loads_frozen():
    """The third vessel model (issue 17) loads as the trainer loads it (tests/packaging: it never ships)."""
    from core.paths import resources_dir

    card = resources_dir() / "training" / "vesselnet-loss-1.0.0.json"
    loss = VesselLoss.from_card(card)
    assert not any(p.requires_grad for p in loss.parameters())
    assert json.loads(card.read_text())["name"] == "vesselnet-loss"
