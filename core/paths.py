"""Where things live: shipped resources next to the code, user data where platformdirs says."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "FundusStudio"
APP_AUTHOR = "FundusStudio"


def resources_dir() -> Path:
    """Shipped resources (models, samples, icons); inside the bundle when frozen by PyInstaller."""
    if getattr(sys, "frozen", False):
        return Path(sys._MEIPASS) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def repo_root() -> Path:
    """The source checkout (where configs/ and resources/ live): relative paths in configs/ start here,
    so a run reproduces from a fresh clone whatever the current directory."""
    return Path(__file__).resolve().parent.parent


def _override(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value) if value else None


def user_data_dir() -> Path:
    """Site-adapted models, batch queue database. FUNDUS_STUDIO_HOME overrides (tests, portable installs)."""
    home = _override("FUNDUS_STUDIO_HOME")
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_config_dir() -> Path:
    home = _override("FUNDUS_STUDIO_HOME")
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_cache_dir() -> Path:
    home = _override("FUNDUS_STUDIO_HOME")
    path = home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_log_dir() -> Path:
    home = _override("FUNDUS_STUDIO_HOME")
    path = home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_data_dir() -> Path | None:
    """The research datasets (../shared/data/fundus), read only; None when absent.

    FUNDUS_DATA overrides. Never copied into the repository or the package.
    """
    env = _override("FUNDUS_DATA")
    candidates = [env] if env else []
    candidates.append(Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fundus")
    for c in candidates:
        if c is not None and (c / "README.md").exists():
            return c
    return None
