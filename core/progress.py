"""Plain callback types for long work, so core stays free of Qt.

A core function takes `progress(done, total, message)` and `should_stop()`;
app/workers.py turns them into Qt signals, the CLI into a progress bar.
"""

from __future__ import annotations

from typing import Callable, Optional

from core.errors import Cancelled

ProgressCallback = Callable[[int, int, str], None]
StopCallback = Callable[[], bool]


def report(progress: Optional[ProgressCallback], done: int, total: int, message: str = "") -> None:
    """Call `progress` if one was given."""
    if progress is not None:
        progress(done, total, message)


def check_stop(should_stop: Optional[StopCallback]) -> None:
    """Raise Cancelled when the caller asked to stop."""
    if should_stop is not None and should_stop():
        raise Cancelled()
