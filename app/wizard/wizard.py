"""The site-adaptation wizard: six steps, each enabled only when the one before it is ready.

A list of the steps on the left (as ilastik's applet drawer): done ones ticked, the
current one bold. The scan, training and evaluation run as app.tasks ThreadTasks owned by their pages;
closing the wizard in any way stops them and waits, and a stopped training run is
kept on disk, so the first page offers to continue it next time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QMessageBox, QWizard

from app.wizard.pages import ResultsPage, SavePage, SettingsPage, SitePage, TrainPage, WelcomePage
from app.wizard.state import WizardState
from app.wizard.widgets import StepList

STEP_TITLES = ["Welcome", "Site photographs", "Settings", "Training", "Results", "Save"]


class AdaptWizard(QWizard):
    WELCOME, SITE, SETTINGS, TRAIN, RESULTS, SAVE = range(6)

    def __init__(self, parent=None, registry: Any = None, runs_dir: str | Path | None = None,
                 segmenter: Any = "default", overrides: dict[str, Any] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Adapt to this site")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self.state = WizardState(registry, runs_dir, segmenter, overrides)
        self.welcome, self.site, self.settings_page = WelcomePage(), SitePage(), SettingsPage()
        self.train_page, self.results, self.save = TrainPage(), ResultsPage(), SavePage()
        for pid, page in zip(range(6), (self.welcome, self.site, self.settings_page, self.train_page,
                                        self.results, self.save)):
            self.setPage(pid, page)
        self.steps = StepList(STEP_TITLES)
        self.setSideWidget(self.steps)
        self.currentIdChanged.connect(self._page_changed)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Save")
        self.resize(QSize(980, 760))
        self.setMinimumSize(QSize(820, 620))

    def _page_changed(self, pid: int) -> None:
        skipped = {self.SITE, self.SETTINGS} if self.state.resumed else set()
        self.steps.set_current(max(0, pid), skipped)

    def training_running(self) -> bool:
        t = self.train_page.thread
        return t is not None and t.is_running()

    def confirm_close(self) -> bool:
        """Ask before stopping a running training (replaced in tests)."""
        answer = QMessageBox.question(
            self, "Stop the adaptation?",
            "Training is still running. Stop it now? The run is saved and can be continued later "
            "from the first page of this wizard.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def reject(self) -> None:
        if self.training_running() and not self.confirm_close():
            return
        self.shutdown()
        super().reject()

    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)

    def stop(self) -> None:
        """Ask every task of the pages to stop, without waiting (the main window stops all its workers at once)."""
        for task in (self.site.thread, self.train_page.thread, self.results.thread):
            if task is not None:
                task.stop()
        if self.train_page.thread is not None:
            self.train_page.thread.set_paused(False)

    def shutdown(self, timeout_ms: int = 60000) -> bool:
        """Stop every task and wait up to `timeout_ms` for all (training saves its checkpoint on the way out).

        True when none is left running; one that is goes on in the background until it has saved.
        """
        deadline = time.monotonic() + timeout_ms / 1000

        def left() -> int:
            return int(max(0.0, deadline - time.monotonic()) * 1000)

        self.stop()
        self.site.stop(left())
        self.train_page.stop_and_wait(left())
        self.results.stop_and_wait(left())
        return not any(t is not None and t.is_running() for t in (self.train_page.thread, self.results.thread))

    def closeEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if self.training_running() and not self.confirm_close():
            ev.ignore()
            return
        self.shutdown()
        super().closeEvent(ev)


def open_adapt_wizard(parent=None) -> AdaptWizard:
    """Show the wizard (non-modal, so the main window stays usable) and return it."""
    w = AdaptWizard(parent)
    w.show()
    return w
