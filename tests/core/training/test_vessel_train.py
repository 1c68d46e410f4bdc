"""Vessel training loop on synthetic drawn vessels: loss, learning, checkpoint and resume, stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.training.vessel_train import masked_loss, split_ids, train
from tests.core.training.test_vessel_data import synthetic_sample

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "vessels.json"


def tiny_config(steps: int) -> dict:
    cfg = json.loads(CONFIG.read_text())
    cfg["model"]["channels"] = [8, 16, 16]
    cfg["data"]["diameters"] = [150]
    cfg["data"]["val_diameter"] = 150
    cfg["train"].update(patch=32, batch=8, steps=steps, budget_minutes=5, warmup_steps=5, lr=0.01,
                        val_every=1000, log_every=1000, refresh_every=10, refresh_count=1,
                        checkpoint_seconds=0)
    return cfg


def test_shipped_config_trains_only_on_training_images():
    cfg = json.loads(CONFIG.read_text())
    train_ids, val_ids = split_ids(cfg)
    assert len(train_ids) + len(val_ids) == 44
    assert not any(k == "drive_train" and int(i) < 21 for k, i in train_ids + val_ids)
    assert not any(k == "hrf" and int(i.split("_")[0]) > 8 for k, i in train_ids + val_ids)


def test_masked_loss_ignores_pixels_outside_the_fov():
    y = torch.zeros(1, 1, 8, 8)
    m = torch.ones(1, 1, 8, 8)
    m[..., :4] = 0
    good = torch.full((1, 1, 8, 8), -8.0)
    bad_outside = good.clone()
    bad_outside[..., :4] = 8.0
    assert masked_loss(bad_outside, y, m, 0.5) == pytest.approx(float(masked_loss(good, y, m, 0.5)))
    assert masked_loss(-good, y, m, 0.5) > masked_loss(good, y, m, 0.5)


def test_training_learns_checkpoints_and_resumes(tmp_path):
    samples = ([synthetic_sample(f"syn_{i}", seed=i) for i in range(3)], [synthetic_sample("syn_v", seed=9)])
    logs: list[str] = []
    res = train(tiny_config(60), tmp_path, samples=samples, log=logs.append)
    assert res["step"] == 60 and not res["stopped"]
    assert res["val_auc_syn"] > 0.8  # the drawn vessels are easy: it must have learnt something
    final = torch.load(tmp_path / "vesselnet_final.pt", weights_only=False)
    assert final["model_config"]["channels"] == [8, 16, 16]
    assert (tmp_path / "checkpoint.pt").exists()
    res2 = train(tiny_config(70), tmp_path, samples=samples, log=logs.append)
    assert any("resumed at step 60" in s for s in logs)
    assert res2["step"] == 70


def test_stop_callback_ends_training_with_a_checkpoint(tmp_path):
    samples = ([synthetic_sample("syn_0")], [])
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    res = train(tiny_config(1000), tmp_path, samples=samples, should_stop=should_stop, log=lambda s: None)
    assert res["stopped"] and res["step"] == 3
    assert (tmp_path / "checkpoint.pt").exists()


def test_the_vessel_loss_config_adds_les_av_and_keeps_a_validation_split_of_it(fundus_data):
    """configs/vessels-loss.json: every labelled LES-AV photo, three of them for validation only."""
    from core.data.vessel_samples import les_av_ids, load_sample

    cfg = json.loads((CONFIG.parent / "vessels-loss.json").read_text())
    train_ids, val_ids = split_ids(cfg)
    les_train = {i for k, i in train_ids if k == "les_av"}
    les_val = {i for k, i in val_ids if k == "les_av"}
    assert les_train | les_val == set(les_av_ids(fundus_data)) and len(les_val) == 3 and not les_train & les_val
    s = load_sample(fundus_data, "les_av", sorted(les_val)[0])
    assert s.label.shape == s.fov.shape == s.rgb.shape[:2] and 0.02 < s.label[s.fov].mean() < 0.3
