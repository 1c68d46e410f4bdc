"""App test fixtures: a tiny installed MAGE-Net, sample photos, and a QThread leak check.

Every test that starts a QThread must stop it: `no_threads_left` (autouse) fails the test
otherwise, as napari's test suite does.
"""

from __future__ import annotations

import gc
import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QThread

from tests.synthetic import TINY_MAGENET as TINY, make_fundus



def _live_qthreads() -> list[QThread]:
    out = []
    for obj in gc.get_objects():
        try:
            if issubclass(type(obj), QThread) and obj.isRunning():
                out.append(obj)
        except RuntimeError:  # the C++ object is already gone
            continue
    return out


@pytest.fixture(autouse=True)
def no_threads_left(request):
    """Fail any test that leaves a QThread running."""
    yield
    deadline = time.monotonic() + 2.0
    running = _live_qthreads()
    while running and time.monotonic() < deadline:
        time.sleep(0.05)
        running = _live_qthreads()
    if running:
        names = ", ".join(t.objectName() or type(t).__name__ for t in running)
        for t in running:
            t.quit()
            t.wait(5000)
        pytest.fail(f"{request.node.name} left QThread(s) running: {names}")


@pytest.fixture
def tiny_model(isolated_home):
    """A tiny MAGE-Net installed (and active) in this test's user home; returns its InstalledModel."""
    import torch

    from core.models.magenet import MageNet
    from core.models.registry import ModelCard, ModelRegistry

    torch.manual_seed(0)
    net = MageNet.from_config(dict(TINY))
    card = ModelCard(
        name="MAGE-Net-tiny",
        version="0.0.1",
        kind="enhancer",
        architecture="magenet",
        config={**TINY, "inference": {"working_size": 64}},
        notes="test model",
    )
    reg = ModelRegistry()
    installed = reg.install(net, card)
    reg.set_active("enhancer", installed.card.name, installed.card.version)
    return installed


@pytest.fixture
def photos(tmp_path):
    """Three small synthetic fundus photos on disk (PNG), different sizes."""
    paths = []
    for i, (h, w) in enumerate([(180, 200), (160, 160), (200, 240)]):
        rgb = make_fundus(h, w, seed=i)
        p = tmp_path / "in" / f"photo_{i}.png"
        p.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths


@pytest.fixture
def registry(isolated_home, tmp_path_factory):
    """The model registry of this test: its user folder, and no shipped models (so tests do not
    depend on which models the repository ships)."""
    from core.models.registry import ModelRegistry

    return ModelRegistry(shipped_dir=tmp_path_factory.mktemp("no_shipped_models"))


@pytest.fixture
def make_window(qtbot, isolated_home, registry):
    """Factory for main windows (fresh settings, isolated registry); all are shut down after the test."""
    from app.main import create_app
    from app.main_window import MainWindow

    create_app([])
    made = []

    def make(**kwargs):
        kwargs.setdefault("registry", registry)
        kwargs.setdefault("interactive", False)  # a failed export must not wait on a message box
        win = MainWindow(**kwargs)
        qtbot.addWidget(win)
        win.resize(1200, 800)
        win.show()
        made.append(win)
        qtbot.waitUntil(lambda: win.session.models_ready, timeout=30000)  # listed on the engine thread
        return win

    yield make
    for win in made:
        win.shutdown()


@pytest.fixture
def window(make_window):
    return make_window()


def wait_until(qtbot, cond, timeout=15000):
    qtbot.waitUntil(cond, timeout=timeout)


def solid(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


@pytest.fixture
def tiny_vessel_model(isolated_home):
    """A tiny VesselNet installed (and active) as this test's vessel model."""
    import torch

    from core.models.registry import ModelCard, ModelRegistry
    from core.models.vesselnet import VesselNet

    torch.manual_seed(0)
    cfg = {"channels": [4, 8], "dropout": 0.0}
    net = VesselNet.from_config(dict(cfg))
    with torch.no_grad():  # a fixed, non-trivial response: dark thin lines give high logits
        for p in net.parameters():
            p.mul_(3.0)
    card = ModelCard(
        name="VesselNet-tiny", version="0.0.1", kind="vessel", architecture="vesselnet",
        config={**cfg, "inference": {"working_fov_diameter": 96, "threshold": 0.5, "tile": 64, "overlap": 16}},
    )
    reg = ModelRegistry()
    installed = reg.install(net, card)
    reg.set_active("vessel", installed.card.name, installed.card.version)
    return installed
