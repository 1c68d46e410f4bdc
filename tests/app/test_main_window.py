"""The main window end to end: open, enhance with a tiny model, compare, cancel, export, settings."""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QTimer

from app.settings import Settings
from app.viewer.compare import MODES
from core import DISCLAIMER
from core.enhance import EnhanceSettings, Enhancer


class SleepyGain(torch.nn.Module):
    """Brightens, after sleeping: long enough to cancel and to watch the event loop turn."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(1.3))
        self.seconds = seconds

    def forward(self, x, fov=None):
        time.sleep(self.seconds)
        return (x * self.gain).clamp(0, 1)


def sleepy_factory(seconds: float):
    def make(_ref, _device):
        return Enhancer.from_module(SleepyGain(seconds), device="cpu", settings=EnhanceSettings(working_size=64))

    return make


def open_and_wait(qtbot, win, paths):
    win.opening.open_paths([str(p) for p in paths])
    qtbot.waitUntil(lambda: win.session.image is not None, timeout=10000)


def enhance_and_wait(qtbot, win):
    win.engine_wiring.enhance_current()
    qtbot.waitUntil(lambda: win.session.result is not None or bool(win.session.last_error), timeout=30000)
    assert win.session.result is not None, win.session.last_error


def test_open_files_lists_them_with_thumbnails(window, qtbot, photos):
    open_and_wait(qtbot, window, photos)
    assert window.image_list.count() == 3
    assert window.session.image.pixels.shape == (180, 200, 3)
    qtbot.waitUntil(lambda: all(e.thumbnail is not None for e in window.image_list.entries), timeout=10000)
    assert "200\u00d7180" in window.image_list.item(0).text()
    # opening the same files again adds nothing; a folder adds its photos once
    window.opening.open_paths([str(photos[0].parent)])
    assert window.image_list.count() == 3
    assert window.settings.recent_files[0] == str(photos[0].parent.resolve())  # the folder, not its files
    assert str(photos[2].resolve()) in window.settings.recent_files
    assert len(window.settings.recent_files) == 4
    window.opening.step(1)
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.pixels.shape == (160, 160, 3), timeout=10000)


def test_unreadable_file_is_marked_failed_with_a_readable_message(window, qtbot, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    window.opening.open_paths([str(bad)])
    qtbot.waitUntil(lambda: window.image_list.entries[0].status == "failed", timeout=10000)
    assert window.session.last_error and "Traceback" not in window.session.last_error
    assert "could not be opened" in window.viewer.left.placeholder.text()


def test_enhance_with_tiny_model_then_every_mode(tiny_model, window, qtbot, photos):
    assert window.enhance_panel.model_ref() == "MAGE-Net-tiny@0.0.1"
    open_and_wait(qtbot, window, photos[:1])
    enhance_and_wait(qtbot, window)
    r = window.session.result
    assert r.pixels.shape == window.session.image.pixels.shape and r.pixels.dtype == np.uint8
    assert window.viewer.enhanced is r.pixels
    assert window.image_list.entries[0].status == "enhanced"
    qtbot.waitUntil(lambda: "MAGE-Net-tiny" in window.model_label.text() and "loading" not in window.model_label.text())
    assert "CPU" in window.device_label.text()
    for mode in MODES:
        window.acts.modes[mode].trigger()
        assert window.viewer.mode == mode and window.settings.compare_mode == mode
    # the pixel readout shows before and after
    window.result_view.show_readout(90.2, 90.7)
    assert "x    90" in window.readout.text() and "after" in window.readout.text()


def test_results_are_cached_per_image_and_settings(tiny_model, window, qtbot, photos):
    open_and_wait(qtbot, window, photos[:2])
    enhance_and_wait(qtbot, window)
    first = window.session.result
    window.image_list.setCurrentRow(1)
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.pixels.shape == (160, 160, 3), timeout=10000)
    assert window.session.result is None  # not enhanced yet
    window.image_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: window.session.result is first, timeout=5000)  # instant: from the cache
    window.engine_wiring.enhance_current()
    assert not window.engine.pending  # cached: no new job
    window.enhance_panel.tiled.setChecked(True)  # other settings: not cached
    assert window.session.result is None


def test_event_loop_keeps_turning_during_a_slow_enhancement(tiny_model, make_window, qtbot, photos):
    win = make_window(enhancer_factory=sleepy_factory(1.5))
    open_and_wait(qtbot, win, photos[:1])
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    t0 = time.monotonic()
    win.engine_wiring.enhance_current()
    assert win.viewer.progress.isVisible()
    qtbot.waitUntil(lambda: win.session.result is not None, timeout=30000)
    timer.stop()
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.4
    during = [t for t in ticks if t - t0 < elapsed - 0.05]
    # a 20 ms timer should fire ~70 times in 1.5 s; a blocked GUI thread would give ~1
    assert len(during) >= 25, f"only {len(during)} timer ticks in {elapsed:.1f} s"
    gaps = np.diff([t0, *during])
    assert gaps.max() < 0.5
    assert not win.viewer.progress.isVisible()


def test_cancel_stops_the_enhancement(tiny_model, make_window, qtbot, photos):
    win = make_window(enhancer_factory=sleepy_factory(1.0))
    open_and_wait(qtbot, win, photos[:1])
    win.engine_wiring.enhance_current()
    # Cancel once the run is visibly under way (a fixed wait raced a busy machine: the click landed
    # before the progress bar was shown and the 1 s enhancement finished instead)
    qtbot.waitUntil(lambda: win.viewer.progress.isVisible() and bool(win.engine.pending), timeout=10000)
    win.viewer.progress.cancel.click()
    qtbot.waitUntil(lambda: not win.engine.pending, timeout=10000)
    assert win.session.result is None
    assert win.image_list.entries[0].status == "ready"
    assert "Cancelled" in win.enhance_panel.status.text()
    assert not win.viewer.progress.isVisible()


def test_missing_model_is_explained(window, qtbot, photos):
    assert window.enhance_panel.model_ref() is None
    assert not window.enhance_panel.enhance_btn.isEnabled()
    assert "No enhancement model" in window.enhance_panel.status.text()
    open_and_wait(qtbot, window, photos[:1])
    window.engine_wiring.enhance_current()
    assert "No enhancement model" in window.session.last_error
    assert not window.vessel_panel.before.isEnabled()
    assert "No vessel model" in window.vessel_panel.notice.text()


def sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_export_writes_outputs_with_sidecars_and_never_the_original(tiny_model, window, qtbot, photos, tmp_path):
    open_and_wait(qtbot, window, photos[:1])
    enhance_and_wait(qtbot, window)
    original_hash = sha(photos[0])
    out = tmp_path / "out"
    written = window.exporter.export(["png", "tiff16", "jpeg", "comparison"], out)
    assert [w.path.suffix for w in written] == [".png", ".tif", ".jpg", ".png"]
    for w in written:
        assert w.path.exists() and w.sidecar_path.exists()
        side = json.loads(w.sidecar_path.read_text())
        assert side["model"]["name"] == "MAGE-Net-tiny"
        assert side["input"]["sha256"] == window.session.image.source_sha256
    assert written[1].bit_depth == 16
    import tifffile

    assert tifffile.imread(written[1].path).dtype == np.uint16
    comp = json.loads(written[3].sidecar_path.read_text())
    assert comp["output_kind"] == "comparison" and comp["burned_in"] == DISCLAIMER
    from core.imaging import read

    comp_img = read(written[3].path).pixels
    assert comp_img.shape[1] > 2 * window.session.image.width  # two panels side by side
    band = comp_img[-20:, :, :].reshape(-1, 3)
    assert (np.abs(band.astype(int) - [0x7A, 0x3B, 0x00]).sum(1) < 10).mean() > 0.5  # the disclaimer band
    # a second export never replaces the first, and the original is untouched
    again = window.exporter.export(["png"], out)
    assert again[0].path != written[0].path
    window.exporter.export(["png"], photos[0].parent)
    assert sha(photos[0]) == original_hash


def test_settings_round_trip(tiny_model, make_window, qtbot, tmp_path):
    s = Settings.load()
    s.device = "cpu"
    s.mode = "tiled"
    s.compare_mode = "side"
    s.output_dir = str(tmp_path / "exports")
    s.add_recent(tmp_path / "a.png")
    s.overlay_opacity = 0.3
    s.save()
    win = make_window()
    assert win.enhance_panel.device_pref() == "cpu"
    assert win.enhance_panel.mode() == "tiled"
    assert win.viewer.mode == "side"
    assert win.vessel_panel.opacity.value() == 30
    assert win.recent_menu.actions()[0].text() == str(tmp_path / "a.png")
    win.acts.set_mode("flicker")
    win.enhance_panel.fast.setChecked(True)
    win.images_dock.hide()
    win.save_settings()
    back = Settings.load()
    assert (back.compare_mode, back.mode, back.device) == ("flicker", "fast", "cpu")
    assert back.window_state and back.window_geometry
    win2 = make_window()
    assert win2.viewer.mode == "flicker"
    assert not win2.images_dock.isVisibleTo(win2)


def test_damaged_settings_file_falls_back_to_defaults(isolated_home):
    Settings.path().write_text("{not json", encoding="utf-8")
    assert Settings.load() == Settings()
    Settings.path().write_text(json.dumps({"device": "quantum", "mode": 3, "recent_files": ["x"]}), encoding="utf-8")
    s = Settings.load()
    assert s.device == "auto" and s.mode == "fast" and s.recent_files == ["x"]


def test_space_key_shows_original(tiny_model, window, qtbot, photos):
    from PySide6.QtCore import Qt

    open_and_wait(qtbot, window, photos[:1])
    enhance_and_wait(qtbot, window)
    window.acts.set_mode("flicker")
    window.activateWindow()
    qtbot.keyPress(window.viewer.left.viewport(), Qt.Key.Key_Space)
    assert window.viewer.space_held
    qtbot.keyRelease(window.viewer.left.viewport(), Qt.Key.Key_Space)
    assert not window.viewer.space_held


def test_help_dialogs(tiny_model, window, qtbot):
    from app.dialogs.about import AboutDialog, card_html
    from app.dialogs.shortcuts import SHORTCUTS, ShortcutsDialog

    dlg = ShortcutsDialog(window)
    keys = [k for k, _ in SHORTCUTS]
    for key in ("Ctrl+O", "E", "1", "Space (hold)", "Ctrl+1", "V", "PgUp / PgDn", "Ctrl+E"):
        assert key in keys
    assert dlg.table.rowCount() == len(SHORTCUTS)
    about = AboutDialog(tiny_model.card, "CPU (test)", window)
    text = about.body.toPlainText()
    assert "MAGE-Net-tiny" in text and "H\u00e4ggstr\u00f6m" in text and "CC0" in text
    assert "No enhancement model" in card_html(None)


def test_bundled_samples_open_when_nothing_else_is(qtbot, isolated_home):
    from app.main import build_window, create_app
    from app.samples import sample_entries

    create_app([])
    entries = sample_entries()
    assert len(entries) >= 2
    assert any("synthetic" in e.path.name and "Synthetic" in e.label for e in entries)
    win = build_window([])
    qtbot.addWidget(win)
    try:
        assert win.image_list.count() == len(entries)
        qtbot.waitUntil(lambda: win.session.image is not None, timeout=10000)
    finally:
        win.shutdown()


def test_batch_panel_opens_as_a_dock_and_stops_with_the_window(make_window, qtbot, tmp_path):
    from tests.core.batch.helpers import photo_tree  # noqa: PLC0415

    window = make_window(enhancer_factory=sleepy_factory(0.3))
    window.acts.batch.trigger()
    assert window.tools.batch_dock is not None and window.tools.batch_dock.isVisible()
    assert window.tools.batch_panel.task is None  # a run's thread starts with the run, not with the panel
    window.acts.batch.trigger()  # a second time shows the same panel
    assert window.findChildren(type(window.tools.batch_panel)) == [window.tools.batch_panel]
    photo_tree(tmp_path / "in", 4)
    window.tools.batch_panel.output_edit.setText(str(tmp_path / "out"))
    assert window.tools.batch_panel.add_inputs([str(tmp_path / "in")]) == 4
    task = window.tools.batch_panel.task
    assert task is not None and task.is_running()
    window.shutdown()
    qtbot.waitUntil(lambda: not task.is_running(), timeout=15000)
    assert window.tools.batch_panel.queue.counts(window.tools.batch_panel.batch_id)["running"] == 0


def test_the_batch_uses_the_model_and_device_chosen_in_the_window(make_window, tiny_model, registry, qtbot, tmp_path):
    """Not the registry's active model: the one chosen in the window, from the window's registry."""
    import torch as _torch  # noqa: PLC0415

    from core.models.magenet import MageNet  # noqa: PLC0415
    from core.models.registry import ModelCard  # noqa: PLC0415
    from core.provenance import sidecar_path_for  # noqa: PLC0415
    from tests.app.conftest import TINY  # noqa: PLC0415
    from tests.core.batch.helpers import photo_tree  # noqa: PLC0415

    _torch.manual_seed(1)
    card = ModelCard(name="MAGE-Net-tiny", version="0.0.2", kind="enhancer", architecture="magenet",
                     config={**TINY, "inference": {"working_size": 64}}, notes="second test model")
    second = registry.install(MageNet.from_config(dict(TINY)), card)
    assert registry.active("enhancer").card.version == "0.0.1"
    window = make_window()
    window.enhance_panel.device.setCurrentIndex(window.enhance_panel.device.findData("cpu"))
    window.enhance_panel.select_model(second.card.ref)
    window.acts.batch.trigger()
    photo_tree(tmp_path / "in", 1)
    panel = window.tools.batch_panel
    panel.output_edit.setText(str(tmp_path / "out"))
    assert panel.add_inputs([str(tmp_path / "in")]) == 1
    qtbot.waitUntil(lambda: not panel.running, timeout=30000)
    job = panel.model.jobs[0]
    assert job.status == "done", job.error
    record = json.loads(sidecar_path_for(job.output_path).read_text())
    assert record["model"]["version"] == "0.0.2" and record["device"] == "cpu"


def test_dropping_files_on_the_window_opens_them(window, qtbot, photos):
    from PySide6.QtCore import QMimeData, QPoint, QUrl, Qt
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in photos[:2]])
    ev = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(ev)
    assert ev.isAccepted()
    assert window.image_list.count() == 2
    qtbot.waitUntil(lambda: window.session.image is not None, timeout=10000)
    # dropping onto the image list works the same way
    window.image_list.files_dropped.emit([str(photos[2])])
    assert window.image_list.count() == 3


def test_removing_photos_from_the_list_leaves_files_alone(window, qtbot, photos):
    open_and_wait(qtbot, window, photos[:2])
    window.opening.remove_entry(0)
    assert window.image_list.count() == 1 and photos[0].exists()
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.pixels.shape == (160, 160, 3), timeout=10000)
    window.opening.remove_entry(0)
    assert window.image_list.count() == 0 and window.session.image is None
    assert "Open" in window.viewer.left.placeholder.text()


def test_adapt_wizard_opens_from_the_models_menu(window, qtbot):
    pytest.importorskip("app.wizard")
    assert window.acts.adapt in window.models_menu.actions()
    assert window.acts.optimise in window.models_menu.actions()
    window.acts.adapt.trigger()
    assert window.tools.adapt_wizard is not None and window.tools.adapt_wizard.isVisible()
    window.acts.adapt.trigger()  # again: the same wizard comes forward
    assert window.findChildren(type(window.tools.adapt_wizard)) == [window.tools.adapt_wizard]


def test_model_manager_changes_reach_the_enhancement_panel(tiny_model, window, qtbot):
    pytest.importorskip("app.models_dialog")
    import torch

    from core.models.magenet import MageNet
    from core.models.registry import ModelCard
    from tests.app.conftest import TINY

    dlg = window.tools.show_models(modal=False)
    assert dlg is not None and window.acts.models in window.models_menu.actions()
    card = ModelCard(name="MAGE-Net-tiny", version="0.0.2", kind="enhancer", architecture="magenet", config=dict(TINY))
    torch.manual_seed(1)
    window.engine_wiring.registry().install(MageNet.from_config(dict(TINY)), card)
    dlg.models_changed.emit()
    qtbot.waitUntil(lambda: window.session.models_ready and window.enhance_panel.model.count() == 2, timeout=10000)
    refs = [window.enhance_panel.model.itemData(i) for i in range(window.enhance_panel.model.count())]
    assert "MAGE-Net-tiny@0.0.2" in refs
    dlg.close()


def test_actions_are_enabled_only_when_they_can_work(tiny_model, window, qtbot, photos):
    assert not window.acts.enhance.isEnabled() and not window.acts.export.isEnabled()
    open_and_wait(qtbot, window, photos[:1])
    assert window.acts.enhance.isEnabled() and not window.acts.export.isEnabled()
    enhance_and_wait(qtbot, window)
    assert window.acts.export.isEnabled() and not window.acts.cancel.isEnabled()


def test_settings_are_saved_soon_after_a_change_not_only_at_exit(window, qtbot, photos):
    window.acts.set_mode("side")
    window.opening.open_paths([str(photos[0])])
    qtbot.waitUntil(lambda: Settings.load().compare_mode == "side", timeout=5000)
    assert Settings.load().recent_files[0] == str(photos[0].resolve())


def test_the_model_is_loaded_once_for_many_photos(tiny_model, make_window, qtbot, photos):
    calls = []

    def counting(ref, device):
        calls.append((ref, device))
        return sleepy_factory(0.0)(ref, device)

    win = make_window(enhancer_factory=counting)
    open_and_wait(qtbot, win, photos)
    for row in range(3):
        win.image_list.setCurrentRow(row)
        qtbot.waitUntil(lambda: win.session.image is not None and win.session.path == win.session.image.source_path, timeout=10000)
        enhance_and_wait(qtbot, win)
    assert len(calls) == 1
    assert all(e.status == "enhanced" for e in win.image_list.entries)
