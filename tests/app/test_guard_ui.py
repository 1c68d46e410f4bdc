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
    assert window.result.guard_flagged
    banner = window.viewer.guard_banner
    assert banner.isVisible() and GUARD_MESSAGE[1:] in banner.text()
    assert window.viewer.enhanced is not None  # shown all the same
    (comp,) = window.export(["comparison"], tmp_path / "out")
    from core.imaging import read

    rgb = read(comp.path).pixels.astype(int)
    amber = (np.abs(rgb - [255, 176, 0]).sum(-1) < 12).mean(axis=1)
    rows = np.flatnonzero(amber > 0.5)
    assert rows.size > 10 and rows.max() < rgb.shape[0] - 20  # an amber band above the disclaimer band
    # another photo clears the banner until it is enhanced
    open_and_wait(qtbot, window, photos[1:2])
    qtbot.waitUntil(lambda: window.image is not None and window.image.pixels.shape == (160, 160, 3))
    assert not banner.isVisible()


def test_no_banner_and_no_note_when_the_structure_is_kept(gain_model, window, qtbot, photos, tmp_path):
    open_and_wait(qtbot, window, photos[:1])
    enhance_and_wait(qtbot, window)
    assert not window.result.guard_flagged and window.result.guard_score > 0.9
    assert not window.viewer.guard_banner.isVisible()
    (comp,) = window.export(["comparison"], tmp_path / "out")
    from core.imaging import read

    rgb = read(comp.path).pixels.astype(int)
    assert (np.abs(rgb - [255, 176, 0]).sum(-1) < 12).mean() < 0.001
