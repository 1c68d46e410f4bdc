"""Reports: a CSV row per photo and a self-contained HTML page with thumbnails and failures."""

from __future__ import annotations

import csv
import re

import torch

from core.batch import BatchQueue, BatchRunner, Measurer, batch_settings, enqueue, write_reports
from tests.core.batch.helpers import photo_tree, tiny_enhancer


def test_csv_and_html_report_every_photo_with_measures_and_failures(tmp_path):
    src = tmp_path / "in"
    photo_tree(src, 3)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    q = BatchQueue()
    bid, _ = enqueue(q, [src], tmp_path / "out", batch_settings("fast", "jpg"))
    BatchRunner(q, bid, tiny_enhancer(), measurer=Measurer()).run()
    csv_path, html_path = write_reports(q, bid)
    assert csv_path.parent == html_path.parent == (tmp_path / "out").resolve()

    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 4
    by_status = {r["status"]: r for r in rows}
    assert set(by_status) == {"done", "failed"}
    broken = by_status["failed"]
    assert broken["input"].endswith("broken.png") and broken["error"] and broken["output"] == ""
    done = [r for r in rows if r["status"] == "done"]
    for r in done:
        assert r["output"].endswith("_enhanced.jpg") and len(r["output_sha256"]) == 64
        assert float(r["illumination_uniformity_before"]) > 0 and float(r["vessel_cnr_after"]) > 0
        assert r["vessel_dice"] == "" and "No vessel model" in r["vessel_note"]

    page = html_path.read_text()
    assert len(re.findall(r'src="data:image/jpeg;base64,', page)) == 2 * len(done), "before + after thumbnails"
    assert not re.search(r'(src|href)="(https?:|file:|/)', page), "self-contained: no external resources"
    assert "Failures (1)" in page and broken["error"][:40] in page.replace("&#x27;", "'")
    assert "Not for diagnostic use" in page or "diagnostic" in page.lower()


class DarkLines(torch.nn.Module):
    """A stand-in vessel model: dark green (after per-image normalisation) is vessel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -4.0 * x[:, 1:2] - 2.0


def test_vessel_columns_are_filled_when_a_vessel_model_is_available(tmp_path):
    from core.vessels import VesselSegmenter  # noqa: PLC0415

    src = tmp_path / "in"
    photo_tree(src, 2)
    q = BatchQueue()
    bid, _ = enqueue(q, [src], tmp_path / "out", batch_settings())
    segmenter = VesselSegmenter(model=DarkLines(), card={"name": "dark", "version": "0",
                                                         "inference": {"working_fov_diameter": 96, "tile": 64}})
    BatchRunner(q, bid, tiny_enhancer(), measurer=Measurer(segmenter)).run()
    for job in q.jobs(bid):
        m = job.measures
        assert 0.0 <= m["vessel_dice"] <= 1.0 and m["vessel_density_before"] > 0
        assert isinstance(m["hallucination_warnings"], int)
    rows = list(csv.DictReader(write_reports(q, bid)[0].open()))
    assert all(r["vessel_dice"] != "" for r in rows)


def test_guard_column_flags_a_blotched_output_and_cnr_is_labelled(tmp_path):
    from core.enhance import EnhanceSettings, Enhancer  # noqa: PLC0415
    from core.guard import GUARD_MESSAGE  # noqa: PLC0415
    from tests.core.batch.helpers import Card  # noqa: PLC0415
    from tests.core.test_guard import Blotch  # noqa: PLC0415

    src = tmp_path / "in"
    photo_tree(src, 2)
    reports = {}
    for name, module in (("gain", None), ("blotch", Blotch())):
        q = BatchQueue()
        bid, _ = enqueue(q, [src], tmp_path / name, batch_settings("fast", "png"))
        enh = tiny_enhancer() if module is None else Enhancer.from_module(
            module, card=Card("blotch"), settings=EnhanceSettings(working_size=64))
        BatchRunner(q, bid, enh, measurer=None).run()  # the guard is reported even without the measurer
        reports[name] = write_reports(q, bid)
    good = list(csv.DictReader(reports["gain"][0].open()))
    bad = list(csv.DictReader(reports["blotch"][0].open()))
    assert len(good) == len(bad) == 2
    for r in good:
        assert r["guard_flagged"] == "False" and r["guard_warning"] == "" and float(r["guard_score"]) > 0.9
    for r in bad:
        assert r["guard_flagged"] == "True" and r["guard_warning"] == GUARD_MESSAGE
        assert float(r["guard_score"]) < float(r["guard_threshold"])
        assert r["status"] == "done" and r["output"].endswith(".png")  # flagged, not blocked
    page = reports["blotch"][1].read_text()
    assert page.count(GUARD_MESSAGE) == 2 and "Structure kept (guard)" in page
    assert "<th>Vessel CNR</th>" in page and "Vessel contrast" not in page
    assert GUARD_MESSAGE not in reports["gain"][1].read_text()
