"""malloc tuning: applied once, and left alone when the site turns it off."""

from __future__ import annotations

import sys

from core.inference import allocator


def test_turned_off_by_environment(monkeypatch):
    monkeypatch.setattr(allocator, "_state", {})
    monkeypatch.setenv("FUNDUS_STUDIO_MALLOC_TUNE", "0")
    assert allocator.tune_malloc().startswith("unchanged")


def test_applied_once_per_process(monkeypatch):
    monkeypatch.setattr(allocator, "_state", {})
    monkeypatch.delenv("FUNDUS_STUDIO_MALLOC_TUNE", raising=False)
    first = allocator.tune_malloc()
    if sys.platform.startswith("linux"):
        assert "threshold" in first or first.startswith("unchanged")
    monkeypatch.setenv("FUNDUS_STUDIO_MALLOC_TUNE", "0")
    assert allocator.tune_malloc() == first, "the result is remembered, not re-applied"
