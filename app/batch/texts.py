"""The batch panel's words and numbers, without Qt: columns, status texts, the progress line.

Kept apart from the widgets so what the clinician reads about a batch can be tested (and
changed) without a window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.batch import Job

STATUS_COLORS = {
    "done": "#2e7d32", "failed": "#c62828", "skipped": "#1f5f9f", "running": "#b36b00",
    "pending": "#6b6b6b", "cancelled": "#6b6b6b",
}
STATUS_TEXT = {
    "done": "Done", "failed": "Failed", "skipped": "Skipped", "running": "Enhancing",
    "pending": "Waiting", "cancelled": "Cancelled",
}
COLUMNS = ["", "Photo", "Status", "Progress", "Time", "Illumination", "Vessel CNR", "Details"]
COLUMN_TIPS = {
    5: "Illumination uniformity, original \u2192 enhanced (1 = perfectly even lighting)",
    6: "Vessel contrast-to-noise ratio, original \u2192 enhanced (higher = vessels stand out more)",
}
COL_THUMB, COL_NAME, COL_STATUS, COL_PROGRESS, COL_TIME, COL_ILLUM, COL_CONTRAST, COL_DETAIL = range(8)
THUMB_H = 40


def format_eta(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60):02d} min"



def pair(m: dict[str, Any], key: str) -> str:
    """"before -> after" of one measure (empty when either is missing)."""
    b, a = m.get(f"{key}_before"), m.get(f"{key}_after")
    if b is None or a is None:
        return ""
    return f"{b:.2f} \u2192 {a:.2f}"


def display_name(job: Job, roots: list[Path]) -> str:
    """The photo's path below the folder the user added (date/patient folders stay visible)."""
    path = Path(job.input_path)
    for root in roots:
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return path.name


def status_text(job: Job, step: str) -> str:
    """The Status column; `step` is the running photo's current step ("saving", "measuring"...)."""
    if job.status == "running" and step in ("saving", "measuring"):
        return "Saving"
    return STATUS_TEXT.get(job.status, job.status)


def detail_text(job: Job, step: str | None) -> str:
    """The Details column: the error, a note, the running step, or the output (with the guard's warning)."""
    if job.error:
        return job.error
    if job.note:
        return job.note
    if job.status == "running" and step is not None:
        return step[:1].upper() + step[1:]
    if job.status in ("done", "skipped"):
        m = job.measures
        if m.get("guard_flagged"):  # the do-no-harm guard (core.guard): flagged, not blocked
            return f"\u26a0 {m.get('guard_warning')}: {Path(job.output_path).name}"
        return Path(job.output_path).name
    return ""


def overall_text(counts: dict[str, int], running: bool, paused: bool, report_name: str | None) -> str:
    """The line under the table: how far the batch is, and whether it runs."""
    total = sum(counts.values()) - counts.get("cancelled", 0)
    finished = counts.get("done", 0) + counts.get("skipped", 0) + counts.get("failed", 0)
    parts = [f"{finished} of {total} photos"]
    for key in ("failed", "skipped", "cancelled"):
        if counts.get(key):
            parts.append(f"{counts[key]} {key}")
    if paused:
        parts.append("paused (the photo being enhanced finishes first)")
    elif running:
        parts.append("running")
    elif total and finished == total:
        parts.insert(0, "Finished")
        if report_name:
            parts.append(f"report: {report_name}")
    return " \u00b7 ".join(parts)


def rate_text(done_now: int, elapsed: float, remaining: int, model_loaded: bool) -> str:
    """Photos per minute and the time left, once one photo of this run is done."""
    if done_now > 0 and elapsed > 0:
        per_min = 60.0 * done_now / elapsed
        return f"{per_min:.1f} photos/min \u00b7 about {format_eta(remaining * elapsed / done_now)} left"
    return "estimating time\u2026" if model_loaded else "loading the model\u2026"
