"""What the batch panel says, without a window (app.batch.texts)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from app.batch.texts import detail_text, display_name, format_eta, overall_text, pair, rate_text, status_text


def job(status: str = "done", **kw) -> SimpleNamespace:
    base = dict(status=status, error="", note="", measures={}, output_path="/out/a_enhanced.png",
                input_path="/in/day1/a.png")
    return SimpleNamespace(**{**base, **kw})


def test_names_are_shown_below_the_added_folder():
    assert display_name(job(), [Path("/in")]) == "day1/a.png"
    assert display_name(job(), [Path("/elsewhere")]) == "a.png"


def test_status_and_details():
    assert status_text(job("running"), "saving") == "Saving" and status_text(job("pending"), "") == "Waiting"
    assert detail_text(job("failed", error="unreadable"), None) == "unreadable"
    assert detail_text(job("running"), "enhancing") == "Enhancing"
    assert detail_text(job(), None) == "a_enhanced.png"
    flagged = job(measures={"guard_flagged": True, "guard_warning": "changed large structures"})
    assert detail_text(flagged, None) == "\u26a0 changed large structures: a_enhanced.png"
    assert pair({"x_before": 0.5, "x_after": 0.75}, "x") == "0.50 \u2192 0.75" and pair({}, "x") == ""


def test_the_progress_line():
    counts = {"done": 3, "failed": 1, "skipped": 0, "cancelled": 0, "pending": 0, "running": 0}
    assert overall_text(counts, False, False, "report.html") == \
        "Finished \u00b7 4 of 4 photos \u00b7 1 failed \u00b7 report: report.html"
    running = {**counts, "pending": 2}
    assert overall_text(running, True, True, None).endswith("paused (the photo being enhanced finishes first)")
    assert overall_text(running, True, False, None) == "4 of 6 photos \u00b7 1 failed \u00b7 running"
    assert rate_text(2, 60.0, 4, True) == "2.0 photos/min \u00b7 about 2 min left"
    assert rate_text(0, 5.0, 4, False) == "loading the model\u2026"
    assert format_eta(30) == "30 s" and format_eta(7200) == "2 h 00 min"
