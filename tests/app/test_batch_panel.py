"""The batch panel: runs in its own thread, table and overall progress, controls, open_in_viewer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from app.batch import BatchPanel
from app.batch.texts import COL_NAME, COL_STATUS, format_eta
from core.batch import BatchQueue
from tests.core.batch.helpers import GainModel, photo_tree, tiny_enhancer


class SlowGain(GainModel):
    def forward(self, x: torch.Tensor, fov: torch.Tensor | None = None) -> torch.Tensor:
        time.sleep(0.15)
        return super().forward(x, fov)


@pytest.fixture
def panel(qtbot):
    made = []

    def make(factory=lambda mode: tiny_enhancer()):
        p = BatchPanel(queue=BatchQueue(), enhancer_factory=factory, measurer_factory=None)
        qtbot.addWidget(p)
        p.resize(1000, 500)
        p.show()
        made.append(p)
        return p

    yield make
    for p in made:
        p.shutdown()


def finished(p: BatchPanel) -> bool:
    return not p.running and p.counts().get("pending", 0) == 0


def test_a_folder_runs_in_the_background_and_fills_the_table(qtbot, panel, tmp_path):
    src = tmp_path / "in"
    photo_tree(src, 3)
    (src / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    p = panel()
    p.output_edit.setText(str(tmp_path / "out"))
    assert p.add_inputs([str(src)]) == 4
    assert p.running and p.pause_btn.isEnabled() and not p.start_btn.isEnabled()
    qtbot.waitUntil(lambda: finished(p), timeout=20000)
    m = p.model
    assert m.rowCount() == 4
    statuses = {m.data(m.index(r, COL_NAME)): m.data(m.index(r, COL_STATUS)) for r in range(4)}
    assert statuses == {"a/p0.png": "Done", "b/c/p1.png": "Done", "a/p2.png": "Done", "a/broken.png": "Failed"}
    assert p.overall.value() == p.overall.maximum() == 4
    assert "1 failed" in p.status_label.text()
    qtbot.waitUntil(lambda: p.report_path is not None and p.report_path.exists(), timeout=5000)
    assert p.retry_btn.isEnabled() and p.open_report_btn.isEnabled()

    row = next(r for r in range(4) if m.jobs[r].status == "done")
    with qtbot.waitSignal(p.open_in_viewer, timeout=2000) as got:
        p._double_clicked(m.index(row, COL_NAME))
    assert got.args == [m.jobs[row].output_path] and Path(got.args[0]).exists()
    failed_row = next(r for r in range(4) if m.jobs[r].status == "failed")
    with qtbot.assertNotEmitted(p.open_in_viewer):
        p._double_clicked(m.index(failed_row, COL_NAME))


def test_pause_resume_cancel_and_retry(qtbot, panel, tmp_path):
    src = tmp_path / "in"
    photo_tree(src, 6)
    p = panel(lambda mode: tiny_enhancer().__class__.from_module(SlowGain(), settings=tiny_enhancer().settings))
    p.output_edit.setText(str(tmp_path / "out"))
    p.add_inputs([str(src)])
    qtbot.waitUntil(lambda: p.counts()["done"] >= 1, timeout=20000)
    p.pause()
    assert p.resume_btn.isEnabled() and not p.pause_btn.isEnabled()
    qtbot.wait(600)  # the photo being enhanced finishes; no new one starts
    held = p.counts()
    qtbot.wait(500)
    assert p.counts()["done"] == held["done"] and held["pending"] > 0 and "paused" in p.status_label.text()
    p.resume()
    qtbot.waitUntil(lambda: p.counts()["done"] >= held["done"] + 1, timeout=20000)
    p.cancel()
    qtbot.waitUntil(lambda: not p.running, timeout=20000)
    c = p.counts()
    assert c["cancelled"] >= 1 and c["pending"] == 0 and c["running"] == 0
    p.retry_failed()  # cancelled photos count as "to retry"; it restarts the runner
    qtbot.waitUntil(lambda: finished(p), timeout=30000)
    assert p.counts()["done"] == 6


def test_the_last_batch_is_shown_again_and_can_be_continued(qtbot, panel, tmp_path):
    src = tmp_path / "in"
    photo_tree(src, 2)
    q = BatchQueue()
    from core.batch import batch_settings, enqueue  # noqa: PLC0415

    enqueue(q, [src], tmp_path / "out", batch_settings())
    p = panel()
    assert p.model.rowCount() == 2 and p.start_btn.isEnabled()
    assert "still to do" in p.status_label.text()
    assert p.output_edit.text() == str((tmp_path / "out").resolve())
    p.start()
    qtbot.waitUntil(lambda: finished(p), timeout=20000)
    assert p.counts()["done"] == 2


def test_eta_text():
    assert format_eta(12) == "12 s" and format_eta(600) == "10 min" and format_eta(4000) == "1 h 07 min"


def test_compare_vessels_choice_reaches_the_measurer(qtbot, tmp_path):
    from core.batch import Measurer  # noqa: PLC0415

    asked: list[bool] = []

    def measurer(vessels: bool) -> Measurer:
        asked.append(vessels)
        return Measurer()

    src = tmp_path / "in"
    photo_tree(src, 1)
    p = BatchPanel(queue=BatchQueue(), enhancer_factory=lambda mode: tiny_enhancer(), measurer_factory=measurer)
    qtbot.addWidget(p)
    try:
        p.vessels_check.setChecked(True)
        p.output_edit.setText(str(tmp_path / "out"))
        p.add_inputs([str(src)])
        qtbot.waitUntil(lambda: finished(p), timeout=20000)
        assert asked == [True] and p.counts()["done"] == 1
        assert "illumination_uniformity_after" in p.model.jobs[0].measures
    finally:
        p.shutdown()


def test_write_comparisons_puts_the_core_comparison_beside_each_output(qtbot, panel, tmp_path):
    import json

    src = tmp_path / "in"
    photo_tree(src, 2)
    p = panel()
    p.output_edit.setText(str(tmp_path / "out"))
    p.comparisons_check.setChecked(True)
    assert p.add_inputs([str(src)]) == 2
    assert not p.comparisons_check.isEnabled()  # fixed while the batch runs
    qtbot.waitUntil(lambda: finished(p), timeout=20000)
    comps = sorted((tmp_path / "out").rglob("*_comparison.png"))
    assert [c.name for c in comps] == ["p0_comparison.png", "p1_comparison.png"]
    assert all(json.loads(c.with_name(c.name + ".json").read_text())["output_kind"] == "comparison" for c in comps)
