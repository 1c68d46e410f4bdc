"""Committed configs reproduce from a fresh clone: their paths are relative to the repository root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.paths import repo_root
from core.training.config import TrainConfig, resolve_paths

CONFIGS = sorted((repo_root() / "configs").glob("*.json"))
MAGE_CONFIGS = [p for p in CONFIGS if not p.name.startswith("vessels")]


def test_every_config_is_found():
    assert len(MAGE_CONFIGS) >= 8 and any(p.name == "vessels.json" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_no_config_names_a_machine_specific_folder(path: Path):
    text = path.read_text()
    assert "/work/" not in text and "/home/" not in text and "C:\\\\" not in text
    data = json.loads(text)
    for key in ("output_dir", "init_from"):
        if data.get(key) is not None:
            assert not Path(data[key]).is_absolute(), f"{path.name}: {key} should be relative to the repository"


@pytest.mark.parametrize("path", MAGE_CONFIGS, ids=lambda p: p.name)
def test_relative_paths_start_at_the_repository_root(path: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the current folder must not matter
    cfg = TrainConfig.load(path)
    assert Path(cfg.output_dir).is_absolute() and Path(cfg.output_dir).is_relative_to(repo_root())
    if cfg.init_from:
        assert Path(cfg.init_from).is_relative_to(repo_root())


def test_resources_start_points_exist():
    """Configs that start from a shipped model name a file that a fresh clone has."""
    for path in MAGE_CONFIGS:
        init = TrainConfig.load(path).init_from
        if init and "resources/" in init:
            assert Path(init).is_file(), f"{path.name}: {init} is missing"


def test_absolute_paths_and_none_stay_as_they_are(tmp_path):
    data = {"output_dir": str(tmp_path / "out"), "init_from": None, "data": {"root": "data/fundus", "log": 1}}
    out = resolve_paths(data, root=Path("/repo"))
    assert out["output_dir"] == str(tmp_path / "out") and out["init_from"] is None
    assert out["data"] == {"root": str(Path("/repo/data/fundus")), "log": 1}
    assert data["data"]["root"] == "data/fundus"  # the input is not changed


def test_the_command_line_output_wins(tmp_path):
    from core.commands.train import _config

    class Args:
        config = str(repo_root() / "configs" / "mage-s-supervised.json")
        minutes = steps = threads = mode = init_from = None
        output = str(tmp_path / "elsewhere")

    assert _config(Args()).output_dir == str(tmp_path / "elsewhere")


def test_a_misspelt_degradation_range_is_refused_when_the_config_is_read():
    data = json.loads((repo_root() / "configs" / "mage-s-2.3-supervised-green-veil.json").read_text())
    assert TrainConfig.from_dict(data).data.degrade_ranges["haze_green"] == [0.8, 1.35]
    data["data"]["degrade_ranges"] = {"haze_grean": [0.8, 1.35]}
    with pytest.raises(ValueError, match="haze_grean"):
        TrainConfig.from_dict(data)
