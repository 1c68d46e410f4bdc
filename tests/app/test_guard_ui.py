"""The do-no-harm guard in the app: the viewer's banner for a flagged output (hidden otherwise),
the note burned into an exported comparison, and the batch panel's warning."""

from __future__ import annotations

import numpy as np
import pytest

from core.guard import GUARD_MESSAGE
from tests.app.test_main_window import enhance_and_wait, open_and_wait
from tests.core.test_guard import Blotch
from tests.synthetic import GainModel


def _install(name: str, module, architecture: str, factory) -> None:
    from core.models.registry import ModelCard, ModelRegistry, register_architecture

    register_architecture(architecture, factory)
    reg = ModelRegistry()
    reg.install(module, ModelCard(name=name, version="1", architecture=architecture,
                                  config={"inference": {"working_size": 64}}))
    reg.set_active("enhancer", name, "1")


@pytest.fixture
def blotch_model(isolated_home):
    _install("blotch", Blotch(), "test-blotch", lambda cfg: Blotch())


@pytest.fixture
def gain_model(isolated_home):
    _install("gain", GainModel(0.8, 0.1), "test-gain", lambda cfg: GainModel(0.8, 0.1))


def test_banner_and_exported_note_for_a_flagged_output(blotch_model, window, qtbot, photos, tmp_path):
    open_and_wait(qtbot, window, photos[:1])
    assert not window.viewer.guard_banner.isVisible()
    enhance_and_wait(qtbot, window)
    assert window.session.result.guard_flagged
    banner = window.viewer.guard_banner
    assert banner.isVisible() and GUARD_MESSAGE[1:] in banner.text()
    assert window.viewer.enhanced is not None  # shown all the same
    (comp,) = window.exporter.export(["comparison"], tmp_path / "out")
    from core.imaging import read

    rgb = read(comp.path).pixels.astype(int)
    amber = (np.abs(rgb - [255, 176, 0]).sum(-1) < 12).mean(axis=1)
    rows = np.flatnonzero(amber > 0.5)
    assert rows.size > 10 and rows.max() < rgb.shape[0] - 20  # an amber band above the disclaimer band
    # another photo clears the banner until it is enhanced
    open_and_wait(qtbot, window, photos[1:2])
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.pixels.shape == (160, 160, 3))
    assert not banner.isVisible()


def test_no_banner_and_no_note_when_the_structure_is_kept(gain_model, window, qtbot, photos, tmp_path):
    open_and_wait(qtbot, window, photos[:1])
    enhance_and_wait(qtbot, window)
    assert not window.session.result.guard_flagged and window.session.result.guard_score > 0.9
    assert not window.viewer.guard_banner.isVisible()
    (comp,) = window.exporter.export(["comparison"], tmp_path / "out")
    from core.imaging import read

    rgb = read(comp.path).pixels.astype(int)
    assert (np.abs(rgb - [255, 176, 0]).sum(-1) < 12).mean() < 0.001


def test_batch_panel_shows_the_guard_warning_and_the_cnr_column(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from app.batch import BatchPanel
    from app.batch.texts import COL_CONTRAST, COL_DETAIL, COL_NAME
    from core.batch import BatchQueue
    from core.enhance import EnhanceSettings, Enhancer
    from tests.core.batch.helpers import Card, photo_tree

    photo_tree(tmp_path / "in", 2)
    p = BatchPanel(queue=BatchQueue(), measurer_factory=None, enhancer_factory=lambda mode: Enhancer.from_module(
        Blotch(), card=Card("blotch"), settings=EnhanceSettings(working_size=64)))
    qtbot.addWidget(p)
    p.show()
    try:
        p.output_edit.setText(str(tmp_path / "out"))
        assert p.add_inputs([str(tmp_path / "in")]) == 2
        qtbot.waitUntil(lambda: not p.running and p.counts().get("pending", 0) == 0, timeout=20000)
        m = p.model
        assert m.headerData(COL_CONTRAST, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) == "Vessel CNR"
        for r in range(m.rowCount()):
            detail = m.data(m.index(r, COL_DETAIL))
            assert GUARD_MESSAGE in detail and detail.endswith("_enhanced.png"), m.data(m.index(r, COL_NAME))
    finally:
        p.shutdown()
