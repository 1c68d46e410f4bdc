"""User settings, persisted as JSON in the platformdirs config folder (core.paths).

Plain data with a tolerant loader: an unreadable or partial file falls back to defaults
field by field, so a damaged settings file never stops the application from starting.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from core.choices import DEVICE_PREFERENCES as DEVICES
from core.choices import MODES
from core.paths import user_config_dir

FILE_NAME = "settings.json"
MAX_RECENT = 12
COMPARE_MODES = ("single", "split", "side", "flicker")


def default_output_dir() -> str:
    """Outputs go to the user's documents, never beside the originals unless the user picks it."""
    return str(Path(platformdirs.user_documents_dir()) / "Fundus Studio")


@dataclass
class Settings:
    device: str = "auto"
    mode: str = "fast"
    compare_mode: str = "split"
    output_dir: str = field(default_factory=default_output_dir)
    recent_files: list[str] = field(default_factory=list)
    overlay_opacity: float = 0.6
    window_geometry: str = ""  # base64 of QMainWindow.saveGeometry()
    window_state: str = ""  # base64 of QMainWindow.saveState() (docks, toolbars)
    last_open_dir: str = ""
    export_formats: list[str] = field(default_factory=lambda: ["png", "comparison"])

    @staticmethod
    def path() -> Path:
        return user_config_dir() / FILE_NAME

    @classmethod
    def load(cls) -> "Settings":
        s = cls()
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return s
        if not isinstance(data, dict):
            return s
        for f in fields(cls):
            if f.name in data:
                value = data[f.name]
                default = getattr(s, f.name)
                if isinstance(default, list) and isinstance(value, list):
                    setattr(s, f.name, [str(v) for v in value])
                elif isinstance(default, float) and isinstance(value, (int, float)):
                    setattr(s, f.name, float(value))
                elif isinstance(default, str) and isinstance(value, str):
                    setattr(s, f.name, value)
        s._sanitize()
        return s

    def _sanitize(self) -> None:
        if self.device not in DEVICES:
            self.device = "auto"
        if self.mode not in MODES:
            self.mode = "fast"
        if self.compare_mode not in COMPARE_MODES:
            self.compare_mode = "split"
        self.overlay_opacity = min(1.0, max(0.0, self.overlay_opacity))
        self.recent_files = self.recent_files[:MAX_RECENT]

    def save(self) -> None:
        """Atomic write (temporary file, then rename)."""
        path = self.path()
        data: dict[str, Any] = asdict(self)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=str(path.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def add_recent(self, path: str | Path) -> None:
        p = str(Path(path))
        self.recent_files = [p] + [r for r in self.recent_files if r != p]
        self.recent_files = self.recent_files[:MAX_RECENT]
