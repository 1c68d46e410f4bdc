"""Model manager: listing with cards, set active, roll back to the parent, delete, export/import zip."""

from __future__ import annotations

import zipfile

import pytest
import torch

from app.main import create_app
from app.models_dialog import ModelsDialog, card_details_html, is_flagged
from core.models.magenet import MageNet
from core.models.registry import ModelCard, ModelRegistry
from tests.core.training.site_helpers import TINY, install_tiny


def _adapted(version="1", worse=False):
    torch.manual_seed(1)
    card = ModelCard(
        name="tiny-site", version=version, config={**TINY, "inference": {"working_size": 64}},
        parent="MAGE-Net-tiny@1", notes="clinic A",
        training={"data": {"site_folder": "/site", "photos_found": 9, "train_photos": 5, "holdout_photos": 2},
                  "steps": 4, "flagged_worse": worse},
        metrics={"site_evaluation": {"verdict": "worse" if worse else "better", "held_out_photos": 2,
                                     "compared_with": "MAGE-Net-tiny@1",
                                     "measures": {"vessel_cnr": {"label": "Vessel contrast-to-noise", "input": 2.0,
                                                                 "starting": 3.0, "adapted": 3.3,
                                                                 "verdict": "better"}}}},
    )
    return ModelRegistry().install(MageNet.from_config(dict(TINY)), card)


@pytest.fixture
def dialog(qtbot, tmp_path):
    create_app([])
    install_tiny()
    _adapted()
    d = ModelsDialog(registry=ModelRegistry(shipped_dir=tmp_path / "no_shipped_models"))
    qtbot.addWidget(d)
    d.show()
    d.confirm = lambda *a: True
    return d


def _refs(d):
    out = []
    root = d.tree.invisibleRootItem()
    for i in range(root.childCount()):
        g = root.child(i)
        for j in range(g.childCount()):
            m = g.child(j).data(0, 0x0100)
            if m is not None:
                out.append(m.ref)
    return out


def test_lists_models_with_cards(dialog):
    assert _refs(dialog) == ["MAGE-Net-tiny@1", "tiny-site@1"]
    dialog.select("tiny-site@1")
    text = dialog.details.toPlainText()
    assert "MAGE-Net-tiny@1" in text and "clinic A" in text and "Held out for checking" in text
    assert "Vessel contrast-to-noise" in text and "better" in text


def test_set_active_and_roll_back(dialog):
    reg = ModelRegistry()
    assert reg.active("enhancer").ref == "MAGE-Net-tiny@1"
    assert not dialog.btn_rollback.isEnabled()
    dialog.select("tiny-site@1")
    with_signal = []
    dialog.models_changed.connect(lambda: with_signal.append(1))
    assert dialog.set_active_selected()
    assert reg.active("enhancer").ref == "tiny-site@1" and with_signal
    assert dialog.btn_rollback.isEnabled() and "MAGE-Net-tiny@1" in dialog.btn_rollback.text()
    assert dialog.roll_back()
    assert reg.active("enhancer").ref == "MAGE-Net-tiny@1"
    assert "tiny-site@1" in _refs(dialog)  # still installed


def test_flagged_model_needs_confirmation(dialog):
    _adapted("2", worse=True)
    dialog.refresh()
    dialog.select("tiny-site@2")
    m = dialog.selected()
    assert is_flagged(m.card) and "Flagged" in card_details_html(m, False)
    dialog.confirm = lambda *a: False
    assert not dialog.set_active_selected()
    assert ModelRegistry().active("enhancer").ref == "MAGE-Net-tiny@1"
    dialog.confirm = lambda *a: True
    assert dialog.set_active_selected()
    assert ModelRegistry().active("enhancer").ref == "tiny-site@2"


def test_delete_export_import(dialog, tmp_path):
    dialog.select("tiny-site@1")
    out = dialog.export_selected(str(tmp_path / "pkg.zip"))
    assert out is not None and sorted(zipfile.ZipFile(out).namelist()) == ["tiny-site-1.json", "tiny-site-1.safetensors"]
    dialog.confirm = lambda *a: False
    assert not dialog.delete_selected() and "tiny-site@1" in _refs(dialog)
    dialog.confirm = lambda *a: True
    assert dialog.delete_selected()
    assert "tiny-site@1" not in _refs(dialog)
    installed = dialog.import_package(str(out))
    assert installed.ref == "tiny-site@1" and "tiny-site@1" in _refs(dialog)
    ModelRegistry().load(installed)  # hash-checked weights load
    # a tampered package is refused with a readable message
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(bad, "w") as dst:
        for n in src.namelist():
            data = src.read(n)
            dst.writestr(n, data[:-8] + b"\0" * 8 if n.endswith(".safetensors") else data)
    dialog.delete_selected()
    assert dialog.import_package(str(bad)) is None
    assert "damaged or was altered" in dialog.last_error


def test_shipped_model_cannot_be_deleted(qtbot, tmp_path):
    create_app([])
    shipped = tmp_path / "shipped"
    ModelRegistry(shipped_dir=tmp_path / "none", user_dir=shipped).install(
        MageNet.from_config(dict(TINY)), ModelCard(name="ship", version="1", config=dict(TINY)))
    d = ModelsDialog(registry=ModelRegistry(shipped_dir=shipped))
    qtbot.addWidget(d)
    d.select("ship@1")
    assert d.selected().origin == "shipped" and not d.btn_delete.isEnabled()
    d.confirm = lambda *a: True
    assert not d.delete_selected()
