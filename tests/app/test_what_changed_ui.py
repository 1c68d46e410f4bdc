"""The "What changed" view: a structured model's fields drawn over the enhanced photo, with a legend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.app.test_guard_ui import gain_model  # noqa: F401 - a residual model (fixture)
from tests.app.test_main_window import enhance_and_wait, open_and_wait
from tests.synthetic import TINY_MAGENET

STRUCTURED = {**TINY_MAGENET, "output_form": "structured", "field_cell": 32}


@pytest.fixture
def structured_model(isolated_home):
    from core.models.magenet import MageNet, MageNetConfig
    from core.models.registry import ModelCard, ModelRegistry

    torch.manual_seed(5)
    net = MageNet(MageNetConfig.from_dict(STRUCTURED)).eval()
    with torch.no_grad():  # a model that changes the illumination somewhere
        net.field_head.to_logits.bias[:3] += 0.2
    reg = ModelRegistry()
    reg.install(net, ModelCard(name="structured-tiny", version="1", architecture="magenet",
                               config={**STRUCTURED, "inference": {"working_size": 64}}))
    reg.set_active("enhancer", "structured-tiny", "1")


def test_gain_map_is_drawn_on_the_enhanced_photo_and_off_again(structured_model, window, qtbot, photos):
    panel = window.what_changed_panel
    assert not panel.buttons["gain"].isEnabled()  # nothing enhanced yet
    open_and_wait(qtbot, window, photos[:1])
    enhance_and_wait(qtbot, window)
    wc = window.session.result.what_changed
    assert wc is not None and wc.gain.shape == window.session.image.pixels.shape[:2]
    assert panel.buttons["gain"].isEnabled()
    panel.buttons["gain"].setChecked(True)
    layer = window.viewer.what_changed
    assert layer is not None and layer.shape == (*window.session.image.pixels.shape[:2], 4)
    assert layer[..., 3][wc.fov].max() > 0 and layer[..., 3][~wc.fov].max() == 0
    assert window.viewer._overlay("enhanced") is layer and window.viewer._overlay("original") is None
    assert panel.range.text().startswith("This photo:")
    assert set(window.session.result.provenance(window.session.image)["extra"]["fields"]) == {"gain", "veil", "detail_gain"}
    panel.buttons["off"].setChecked(True)
    assert window.viewer.what_changed is None


def test_an_older_residual_model_says_it_has_no_fields(gain_model, window, qtbot, photos):  # noqa: F811
    open_and_wait(qtbot, window, photos[:1])
    enhance_and_wait(qtbot, window)
    assert window.session.result.what_changed is None
    panel = window.what_changed_panel
    assert not panel.buttons["gain"].isEnabled() and "predates" in panel.notice.text()
    assert np.all([not panel.buttons[k].isChecked() for k in ("gain", "veil", "detail_gain")])
