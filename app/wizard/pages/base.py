"""What the wizard's pages share: the page base class, notes, time texts and verdict signs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QWizardPage,
)

BUDGET_MINUTES = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 360, 420, 480)
"""Time-budget slider stops: 5 minutes to 8 hours."""
VERDICT_SIGNS = {"better": "\u25b2 better", "same": "= same", "worse": "\u25bc worse"}


def fmt_minutes(m: float) -> str:
    if m < 60:
        return f"{m:.0f} min"
    h, r = divmod(int(round(m)), 60)
    return f"{h} h {r:02d} min" if r else f"{h} h"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "estimating\u2026"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def note(text: str, kind: str = "info") -> QLabel:
    colours = {"info": ("#eef4fa", "#2f6f9f"), "warn": ("#fff4e5", "#b35c00"), "ok": ("#edf7ef", "#1b7f3b")}
    bg, fg = colours[kind]
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.TextFormat.RichText)
    lab.setStyleSheet(f"QLabel {{ background: {bg}; border-left: 4px solid {fg}; padding: 8px 10px; color: #222; }}")
    return lab


class Page(QWizardPage):
    """A wizard page that reads and writes the wizard's shared WizardState."""

    @property
    def state(self) -> Any:
        return self.wizard().state  # type: ignore[union-attr]



def model_name(text: str) -> str:
    """A name that is safe as a folder and model name (core.training.site_adapt.safe_run_name)."""
    from core.training.site_adapt import safe_run_name  # noqa: PLC0415

    return safe_run_name(text)

