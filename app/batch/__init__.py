"""The batch panel, in parts: texts (Qt-free words and numbers), task (the run on a thread),
table (the Qt model of the jobs) and panel (the widget the main window docks)."""

from app.batch.panel import BatchPanel

__all__ = ["BatchPanel"]
