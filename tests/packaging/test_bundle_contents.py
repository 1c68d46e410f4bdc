"""What the installer bundles: only resources we may ship, small enough, never research data."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "fundus_studio.spec"
SHARED_SUMS = ROOT.parent / "shared" / "data" / "fundus" / "SHA256SUMS"


def bundled_resource_files() -> list[Path]:
    """The files the spec's shipped_resources() collects (same rule, read from the spec)."""
    tree = ast.parse(SPEC.read_text())
    suffixes = next(
        ast.literal_eval(node.value) for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "RESOURCE_SUFFIXES"
    )
    return [p for p in sorted((ROOT / "resources").rglob("*")) if p.is_file() and p.suffix.lower() in suffixes]


def test_spec_is_valid_python_and_bundles_resources_only():
    compile(SPEC.read_text(), str(SPEC), "exec")
    text = SPEC.read_text()
    assert "shared" not in text.replace("shipped_resources", ""), "the spec must not reach into ../shared"
    assert bundled_resource_files(), "resources/ should hold something to ship (icons at least)"


def test_no_research_data_is_bundled():
    files = bundled_resource_files()
    if SHARED_SUMS.exists():
        research = {line.split()[0] for line in SHARED_SUMS.read_text().splitlines() if line.strip()}
        clash = [p for p in files if hashlib.sha256(p.read_bytes()).hexdigest() in research]
        assert not clash, f"research-only data would ship in the installer: {clash}"
    total_mb = sum(p.stat().st_size for p in files) / 2**20
    assert total_mb < 60, f"resources are {total_mb:.0f} MB; weights should be a few MB"


def test_entry_point_calls_the_cli():
    assert "from app.launcher import main" in (ROOT / "packaging" / "entry.py").read_text()
