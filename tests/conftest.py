"""Shared fixtures: an isolated user home per test, and the research data location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fundus"
if os.environ.get("FUNDUS_DATA"):
    DATA = Path(os.environ["FUNDUS_DATA"])


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own settings/data dirs, so nothing touches the real user profile."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FUNDUS_STUDIO_HOME", str(home))
    return home


@pytest.fixture
def fundus_data() -> Path:
    """../shared/data/fundus, or skip with a clear reason."""
    if not (DATA / "README.md").exists():
        pytest.skip(f"research data not found at {DATA} (set FUNDUS_DATA); skipping data test")
    return DATA
