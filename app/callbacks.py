"""Plain callbacks for Qt-free models: `changed.connect(fn)`, `changed.emit(...)`.

The same interface as ViewState's Qt signals, so app.session reads like the view state it
sits beside, while it imports no Qt and its tests need no QApplication. Callbacks run at
once, in the emitting thread, in the order they were connected.
"""

from __future__ import annotations

from typing import Any, Callable


class Callback:
    """A list of functions called with the same arguments on every emit."""

    def __init__(self) -> None:
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> None:
        self._slots.append(slot)

    def disconnect(self, slot: Callable[..., Any]) -> None:
        self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        for slot in list(self._slots):
            slot(*args)
