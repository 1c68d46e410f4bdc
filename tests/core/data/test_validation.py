"""The validation split: disjoint from every test split, and held out of training when a config says so."""

from __future__ import annotations

import collections
import json
from pathlib import Path

from core.data import splits as S
from core.data import validation as V
from core.training.config import DataConfig
from core.training.trainer import training_specs

REPO = Path(__file__).resolve().parents[3]


def test_vessel_validation_ids_are_the_vessel_loss_networks_and_no_test_photo():
    """One validation set for every model of the project: the vessel-loss network validates on the same photos."""
    cfg = json.loads((REPO / "configs/vessels-loss.json").read_text())["data"]
    assert tuple(cfg["val_drive_ids"]) == V.VAL_DRIVE
    assert tuple(cfg["val_hrf_ids"]) == V.VAL_HRF
    assert tuple(cfg["val_les_av_ids"]) == V.VAL_LES_AV
    assert not {f"drive/{i}" for i in V.VAL_DRIVE} & S.TEST_IDS
    assert not {f"hrf/{i}" for i in V.VAL_HRF} & S.TEST_IDS


def test_real_data_validation_split(fundus_data):
    clean, real = V.validation_clean(fundus_data), V.validation_real(fundus_data)
    assert all(p.image.exists() for p in clean + real)
    ids = V.validation_ids(fundus_data)
    assert len(ids) == len(clean) + len(real)  # no photo counted twice
    assert not ids & S.test_ids(fundus_data)
    count = collections.Counter(p.dataset for p in clean)
    assert count["drive"] == 3 and count["hrf"] == 3 and count["les_av"] == 3
    assert count["idrid"] >= 5 and count["hei_med"] >= 5
    assert 30 <= len(real) <= 60
    assert len({p.dataset for p in real}) >= 4  # every kind of real photo: eyeq, cataract, csdi, clinical...


def test_hold_out_validation_keeps_training_off_the_validation_photos(fundus_data):
    ids = V.validation_ids(fundus_data)
    held = training_specs(fundus_data, DataConfig(clean_extra=True, hold_out_validation=True), teacher_student=True)
    old = training_specs(fundus_data, DataConfig(clean_extra=True), teacher_student=True)
    for kept, full in zip(held, old):
        assert not {s.id for s in kept} & ids
        assert {s.id for s in full} - {s.id for s in kept} == {s.id for s in full} & ids
    assert sum(len(f) - len(k) for k, f in zip(held, old)) == len(ids)  # every validation photo was a training one


def test_every_vessel_validation_set_loads_with_labels(fundus_data):
    from core.data.vessel_samples import load_sample
    from core.evaluation.vessel_eval import VALIDATION_SETS, dataset_ids

    for name in VALIDATION_SETS:
        kind, ids = dataset_ids(name)
        for sid in ids:
            s = load_sample(fundus_data, kind, sid)
            assert s.label.shape == s.fov.shape == s.rgb.shape[:2] and s.label[s.fov].any()
