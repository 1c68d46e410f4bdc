"""Model registry: cards, install/list/get/active/load, hash checks, packages, the `models` command."""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

import core.paths
from core.cli import main
from core.errors import ModelError
from core.models.magenet import MageNet, MageNetConfig
from core.models.registry import (
    InstalledModel,
    ModelCard,
    ModelRegistry,
    build_model,
    register_architecture,
    version_key,
)

TINY = MageNetConfig(
    stage1_channels=(4, 4, 4),
    stage2_channels=(4, 4, 4),
    stage1_cabs=1,
    stage2_cabs=1,
    rsp_channels=4,
    rsp_groups=1,
    rsp_cabs=1,
    structure_hidden=2,
)


def tiny_net(seed: int = 0) -> MageNet:
    torch.manual_seed(seed)
    return MageNet(TINY)


def tiny_card(name: str = "tiny", version: str = "0.1", **kw) -> ModelCard:
    fields = dict(
        kind="enhancer",
        architecture="magenet",
        config=TINY.to_dict(),
        training={"steps": 0, "data": "none (test)"},
        license="test only",
    )
    return ModelCard(name=name, version=version, **{**fields, **kw})


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(shipped_dir=tmp_path / "shipped", user_dir=tmp_path / "user")


def outputs_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        return torch.equal(a.eval()(x).image, b.eval()(x).image)


def test_card_json_round_trip():
    card = tiny_card(parent="mage-s@1.0", metrics={"psnr": 27.5}, notes="n", data_sources=["DRIVE"])
    card.extra["future_field"] = {"a": 1}
    again = ModelCard.from_json(card.to_json())
    assert again == card
    assert json.loads(card.to_json())["future_field"] == {"a": 1}
    assert card.ref == "tiny@0.1" and card.stem == "tiny-0.1"
    with pytest.raises(ModelError):
        ModelCard.from_json("{not json")
    with pytest.raises(ModelError):
        ModelCard.from_dict({"version": "1"})
    for bad in (tiny_card(name="../evil"), tiny_card(version="a/b"), tiny_card(kind="toaster")):
        with pytest.raises(ModelError):
            bad.validate()


def test_version_order_is_natural():
    assert version_key("0.10") > version_key("0.9")
    assert version_key("1.0.1") > version_key("1.0")
    assert version_key("2") > version_key("1.99.99")


def test_install_list_get_active_load_round_trip(registry):
    assert registry.list() == [] and registry.active("enhancer") is None
    net = tiny_net(0)
    first = registry.install(net, tiny_card(version="0.9"))
    second = registry.install(tiny_net(1), tiny_card(version="0.10"))
    assert first.origin == "user" and first.weights_path.name == "tiny-0.9.safetensors"
    assert first.card_path.name == "tiny-0.9.json" and first.card_path.exists()
    on_disk = ModelCard.load(first.card_path)
    assert on_disk.sha256 == first.card.sha256 and len(on_disk.sha256) == 64
    assert on_disk.created and on_disk.weights_file == "tiny-0.9.safetensors"
    assert first.parameter_count() == sum(p.numel() for p in net.parameters())

    assert [m.card.version for m in registry.list()] == ["0.9", "0.10"]
    assert registry.list("vessel") == []
    assert registry.get("tiny").card.version == "0.10"
    assert registry.get("tiny", "0.9").card.sha256 == first.card.sha256
    assert registry.get("tiny@0.9").card.version == "0.9"
    with pytest.raises(ModelError):
        registry.get("nope")

    # No shipped model and nothing chosen: no active model; then choose one.
    assert registry.active("enhancer") is None
    registry.set_active("enhancer", "tiny", "0.9")
    assert registry.active("enhancer").ref == "tiny@0.9"
    assert ModelRegistry(registry.shipped_dir, registry.user_dir).active("enhancer").ref == "tiny@0.9"
    with pytest.raises(ModelError):
        registry.set_active("vessel", "tiny", "0.9")

    loaded = registry.load(registry.active("enhancer"))
    assert not loaded.training
    assert outputs_equal(net, loaded)
    assert not outputs_equal(tiny_net(1), loaded)
    assert outputs_equal(tiny_net(1), registry.load(second))

    registry.delete(first)
    assert not first.weights_path.exists() and not first.card_path.exists()
    assert registry.active("enhancer") is None  # the deleted model is no longer the choice


def test_install_fills_config_and_refuses_clashes(registry):
    card = tiny_card()
    card.config = {}
    installed = registry.install(tiny_net(), card)
    assert MageNetConfig.from_dict(installed.card.config) == TINY
    with pytest.raises(ModelError, match="already installed"):
        registry.install(tiny_net(1), tiny_card())
    replaced = registry.install(tiny_net(1), tiny_card(), overwrite=True)
    assert replaced.card.sha256 != installed.card.sha256
    assert outputs_equal(tiny_net(1), registry.load(registry.get("tiny")))


def test_install_refuses_a_card_that_does_not_describe_the_network(registry):
    card = tiny_card()
    card.config = {**TINY.to_dict(), "rsp_channels": 6}
    with pytest.raises(ModelError, match="do not fit"):
        registry.install(tiny_net(), card)
    assert registry.list() == []


def ship(registry: ModelRegistry, installed: InstalledModel) -> None:
    """Move a user model into the shipped folder, as the release build would place it."""
    registry.shipped_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(installed.weights_path, registry.shipped_dir / installed.weights_path.name)
    shutil.move(installed.card_path, registry.shipped_dir / installed.card_path.name)


def test_active_falls_back_to_newest_shipped_and_shipped_cannot_be_deleted(registry):
    ship(registry, registry.install(tiny_net(0), tiny_card("base", "1.0", created="2026-01-01T00:00:00+00:00")))
    ship(registry, registry.install(tiny_net(1), tiny_card("base", "1.1", created="2026-02-01T00:00:00+00:00")))
    registry.install(tiny_net(2), tiny_card("site", "1.0"))
    active = registry.active("enhancer")
    assert active.origin == "shipped" and active.ref == "base@1.1"
    with pytest.raises(ModelError, match="cannot be deleted"):
        registry.delete(active)
    with pytest.raises(ModelError, match="shipped"):
        registry.install(tiny_net(), tiny_card("base", "1.1"), overwrite=True)
    registry.set_active("enhancer", "site")
    assert registry.active("enhancer").ref == "site@1.0"
    assert {m.origin for m in registry.list()} == {"shipped", "user"}


def test_flipped_byte_is_refused_before_loading(registry, monkeypatch):
    installed = registry.install(tiny_net(), tiny_card())
    data = bytearray(installed.weights_path.read_bytes())
    data[-5] ^= 0x01
    installed.weights_path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its model card"):
        registry.load(installed)


def test_missing_weights_and_missing_hash_are_refused(registry):
    installed = registry.install(tiny_net(), tiny_card())
    installed.weights_path.unlink()
    with pytest.raises(ModelError, match="missing"):
        registry.load(installed)
    unhashed = InstalledModel(ModelCard.from_dict({**installed.card.to_dict(), "sha256": ""}),
                              installed.weights_path, installed.card_path, "user")
    with pytest.raises(ModelError, match="no sha256"):
        registry.load(unhashed)


@pytest.mark.parametrize("pickler", ["torch.save", "pickle"])
def test_pickle_renamed_safetensors_is_refused(registry, monkeypatch, pickler):
    """Even with a card hash that matches, a pickle is never unpickled."""
    installed = registry.install(tiny_net(), tiny_card())
    state = tiny_net().state_dict()
    if pickler == "torch.save":
        torch.save(state, installed.weights_path)
    else:
        installed.weights_path.write_bytes(pickle.dumps({k: v.numpy() for k, v in state.items()}))
    from core.provenance import sha256_file

    card = ModelCard.from_dict({**installed.card.to_dict(), "sha256": sha256_file(installed.weights_path)})
    card.save(installed.card_path)
    forged = registry.get("tiny")

    def no_unpickling(*a, **k):
        raise AssertionError("torch.load/pickle.load must never be called on model files")

    monkeypatch.setattr(torch, "load", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    with pytest.raises(ModelError, match="not a safetensors"):
        registry.load(forged)


def test_broken_cards_are_skipped_and_reported(registry):
    registry.install(tiny_net(), tiny_card())
    (registry.user_dir / "junk-1.json").write_text("{ not json")
    (registry.user_dir / "evil-1.json").write_text(json.dumps(
        {"name": "evil", "version": "1", "weights_file": "../../etc/passwd", "sha256": "0" * 64}))
    models = registry.list()
    assert [m.ref for m in models] == ["tiny@0.1"]
    assert {p.name for p, _ in registry.problems} == {"junk-1.json", "evil-1.json"}


def test_export_import_round_trip(registry, tmp_path):
    net = tiny_net(3)
    installed = registry.install(net, tiny_card(notes="site A"))
    package = registry.export_package(installed, tmp_path / "out" / "tiny.zip")
    with zipfile.ZipFile(package) as zf:
        assert sorted(zf.namelist()) == ["tiny-0.1.json", "tiny-0.1.safetensors"]

    other = ModelRegistry(tmp_path / "shipped2", tmp_path / "user2")
    imported = other.import_package(package)
    assert imported.card == installed.card
    assert outputs_equal(net, other.load(imported))

    with pytest.raises(ModelError, match="already installed"):
        registry.import_package(package)
    again = registry.import_package(package, overwrite=True)
    assert again.card.sha256 == installed.card.sha256


def rewrite_zip(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            name, data = change(info.filename, zin.read(info))
            zout.writestr(name, data)


def test_tampered_package_is_refused(registry, tmp_path):
    installed = registry.install(tiny_net(), tiny_card())
    package = registry.export_package(installed, tmp_path / "tiny.zip")
    target = ModelRegistry(tmp_path / "s2", tmp_path / "u2")

    def flip(name, data):
        if name.endswith(".safetensors"):
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        return name, data

    rewrite_zip(package, tmp_path / "tampered.zip", flip)
    with pytest.raises(ModelError, match="damaged or was altered"):
        target.import_package(tmp_path / "tampered.zip")
    assert target.list() == []
    assert not (tmp_path / "u2").exists() or not any((tmp_path / "u2").iterdir())


def test_package_path_traversal_and_junk_are_refused(registry, tmp_path):
    installed = registry.install(tiny_net(), tiny_card())
    package = registry.export_package(installed, tmp_path / "tiny.zip")
    target = ModelRegistry(tmp_path / "s2", tmp_path / "u2")

    rewrite_zip(package, tmp_path / "evil.zip", lambda n, d: (("../" + n) if n.endswith(".safetensors") else n, d))
    with pytest.raises(ModelError, match="unexpected entry"):
        target.import_package(tmp_path / "evil.zip")
    assert not (tmp_path / "tiny-0.1.safetensors").exists()

    with zipfile.ZipFile(tmp_path / "extra.zip", "w") as zf:
        with zipfile.ZipFile(package) as src:
            for n in src.namelist():
                zf.writestr(n, src.read(n))
        zf.writestr("run_me.py", "print('hi')")
    with pytest.raises(ModelError, match="unexpected file"):
        target.import_package(tmp_path / "extra.zip")

    (tmp_path / "not.zip").write_bytes(b"hello")
    with pytest.raises(ModelError, match="cannot be opened"):
        target.import_package(tmp_path / "not.zip")
    assert target.list() == []


def test_architecture_table(tmp_path):
    net = build_model("magenet", {**TINY.to_dict(), "inference": {"working_size": 512}})
    assert isinstance(net, MageNet) and net.config == TINY
    with pytest.raises(ModelError, match="does not know"):
        build_model("no-such-net", {})
    with pytest.raises(ModelError, match="do not fit"):
        build_model("magenet", {"bogus": 1})
    register_architecture("test-lazy-missing", "core.models.no_such_module:Net.from_config")
    with pytest.raises(ModelError, match="not available"):
        build_model("test-lazy-missing", {})
    register_architecture("test-linear", lambda cfg: torch.nn.Linear(cfg["n"], 1))
    reg = ModelRegistry(tmp_path / "s", tmp_path / "u")
    lin = torch.nn.Linear(3, 1)
    card = ModelCard(name="lin", version="1", kind="vessel", architecture="test-linear", config={"n": 3})
    installed = reg.install(lin, card)
    assert torch.equal(reg.load(installed).weight, lin.weight)
    assert reg.list("vessel")[0].ref == "lin@1"


@pytest.fixture
def default_registry(tmp_path, monkeypatch) -> ModelRegistry:
    """The registry the CLI builds: shipped folder redirected to an empty temporary one."""
    shipped = tmp_path / "resources"
    (shipped / "models").mkdir(parents=True)
    monkeypatch.setattr(core.paths, "resources_dir", lambda: shipped)
    return ModelRegistry()


def test_models_command_without_models(default_registry, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "No MAGE-Net model is installed yet: shipped weights arrive with the training work;" in out


def test_models_command_lists_and_manages(default_registry, capsys, tmp_path):
    installed = default_registry.install(tiny_net(), tiny_card())
    default_registry.install(tiny_net(1), tiny_card(version="0.2"))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny@0.1" in out and "tiny@0.2" in out and "No MAGE-Net model" not in out
    assert installed.card.sha256[:12] in out and "user" in out
    assert "No enhancer model is active" in out

    assert main(["models", "activate", "tiny@0.1"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--kind", "enhancer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line for line in lines if line.startswith("*")]
    assert len(marked) == 1 and "tiny@0.1" in marked[0]
    n_params = sum(p.numel() for p in tiny_net().parameters())
    assert f"{n_params / 1e3:.1f} k" in marked[0]  # parameter count, read from the weights header

    zip_path = tmp_path / "pkg.zip"
    assert main(["models", "export", "tiny@0.1", str(zip_path)]) == 0
    assert main(["models", "delete", "tiny@0.1"]) == 0
    assert [m.ref for m in default_registry.list()] == ["tiny@0.2"]
    assert main(["models", "import", str(zip_path)]) == 0
    assert main(["models", "import", str(zip_path)]) == 1
    assert "already installed" in capsys.readouterr().err
    assert main(["models", "delete", "tiny"]) == 1
