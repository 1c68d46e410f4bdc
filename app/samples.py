"""The bundled sample photographs (resources/samples), listed with their labels."""

from __future__ import annotations

import json
from pathlib import Path

from app.image_list import ImageEntry
from core.paths import resources_dir


def samples_dir() -> Path:
    return resources_dir() / "samples"


def sample_entries() -> list[ImageEntry]:
    """Entries from samples.json (file, label) in its order; labels say which are synthetic."""
    folder = samples_dir()
    index = folder / "samples.json"
    entries: list[ImageEntry] = []
    try:
        items = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        items = [{"file": p.name, "label": ""} for p in sorted(folder.glob("*.png")) + sorted(folder.glob("*.jpg"))]
    for item in items:
        path = folder / str(item.get("file", ""))
        if path.is_file():
            entries.append(ImageEntry(path=path, label=str(item.get("label", ""))))
    return entries
