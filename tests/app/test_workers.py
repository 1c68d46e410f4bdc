"""Engine and loader workers: signals from core callbacks, readable errors, clean shutdown."""

from __future__ import annotations

import numpy as np

from app.workers import EngineClient, LoaderClient, make_thumbnail
from core.errors import ModelError
from core.imaging.types import FundusImage
from tests.app.conftest import _live_qthreads
from tests.synthetic import make_fundus


def test_engine_thread_is_seen_by_the_leak_check_until_shut_down(qtbot):
    client = EngineClient()
    assert client.thread in _live_qthreads()
    assert client.shutdown()
    assert client.thread not in _live_qthreads()


def test_model_failure_becomes_a_readable_message(qtbot):
    def broken(_ref, _dev):
        raise ModelError("The model file is damaged: its checksum does not match.")

    client = EngineClient(enhancer_factory=broken)
    try:
        with qtbot.waitSignal(client.worker.model_failed, timeout=5000) as sig:
            client.load_model(None, "cpu")
        assert sig.args == ["The model file is damaged: its checksum does not match."]
        image = FundusImage(make_fundus(64, 64), 8, "0" * 64)
        with qtbot.waitSignal(client.worker.failed, timeout=5000) as sig:
            client.enhance(image, "fast")
        assert "No enhancement model is loaded" in sig.args[1]
    finally:
        client.shutdown()


def test_enhance_reports_progress_and_result_once_the_model_is_loaded(tiny_model, qtbot):
    client = EngineClient()
    progress = []
    client.worker.progress.connect(lambda j, d, t, m: progress.append((d, t)))
    try:
        with qtbot.waitSignal(client.worker.model_ready, timeout=20000) as ready:
            client.load_model(None, "cpu")
        assert ready.args[0]["model"]["name"] == "MAGE-Net-tiny" and ready.args[0]["device"] == "cpu"
        image = FundusImage(make_fundus(120, 150), 8, "0" * 64)
        with qtbot.waitSignal(client.worker.enhanced, timeout=20000) as done:
            job = client.enhance(image, "fast")
        assert done.args[0] == job and done.args[1].pixels.shape == (120, 150, 3)
        assert progress and progress[-1][0] == progress[-1][1]
        assert not client.busy()
    finally:
        client.shutdown()


def test_loading_a_model_chooses_its_inference_path_in_advance(tiny_model, qtbot):
    client = EngineClient()
    infos, notes = [], []
    client.worker.model_ready.connect(infos.append)
    client.worker.preparing.connect(notes.append)
    try:
        client.load_model(None, "cpu")
        qtbot.waitUntil(lambda: len(infos) >= 2, timeout=60000)
        assert notes and "fastest way" in notes[0]
        assert infos[0]["inference_path"] == "chosen by measurement on the first photo"
        assert infos[-1]["inference_path"] and infos[-1]["inference_path"] != infos[0]["inference_path"]
    finally:
        client.shutdown()


def test_vessels_without_a_model_say_so(qtbot, registry):
    from functools import partial

    from app.workers import default_segmenter_factory

    client = EngineClient(segmenter_factory=partial(default_segmenter_factory, registry=registry))
    try:
        rgb = make_fundus(64, 64)
        with qtbot.waitSignal(client.worker.vessels_unavailable, timeout=10000) as sig:
            client.vessels(rgb, rgb, np.ones((64, 64), bool), "cpu")
        assert "No vessel model" in sig.args[0]
    finally:
        client.shutdown()


def test_loader_reads_photos_and_thumbnails(qtbot, photos, tmp_path):
    client = LoaderClient()
    try:
        with qtbot.waitSignal(client.worker.loaded, timeout=10000) as sig:
            client.load(photos[2])
        assert sig.args[1].pixels.shape == (200, 240, 3)
        with qtbot.waitSignal(client.worker.failed, timeout=10000) as sig:
            client.load(tmp_path / "missing.png")
        assert "missing.png" in sig.args[1] or "not" in sig.args[1].lower()
    finally:
        client.shutdown()
    thumb = make_thumbnail(np.full((400, 800, 3), 40000, np.uint16), 16, size=96)
    assert thumb.shape == (48, 96, 3) and thumb.dtype == np.uint8 and thumb[0, 0, 0] == 40000 >> 8


def test_reselecting_the_inference_path_chooses_again(tiny_model, qtbot):
    """After `optimise` built a compiled package, the loaded model measures its paths again."""
    client = EngineClient()
    infos = []
    client.worker.model_ready.connect(infos.append)
    try:
        client.load_model(None, "cpu")
        qtbot.waitUntil(lambda: len(infos) >= 2, timeout=60000)
        enhancer = client.worker.enhancer
        first = enhancer.inference
        assert first is not None
        client.reselect_inference()
        qtbot.waitUntil(lambda: len(infos) >= 3, timeout=60000)
        assert enhancer.inference is not None and enhancer.inference is not first  # a new choice object
        assert infos[-1]["inference_path"]
    finally:
        client.shutdown()
