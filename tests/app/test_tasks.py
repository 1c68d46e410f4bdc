"""The one task model (app.tasks): signals, stop event, one error path to the log, child processes."""

from __future__ import annotations

import gc
import logging
import sys
import time

import pytest

from app.tasks import ProcessTask, ThreadTask, failure_text, running_tasks, wait_for_tasks
from core.errors import Cancelled, FundusError
from tests.app.conftest import _live_qthreads


def _record(task) -> list[tuple]:
    seen: list[tuple] = []
    task.progress.connect(lambda d, t, m: seen.append(("progress", d, t, m)))
    task.returned.connect(lambda r: seen.append(("returned", r)))
    task.errored.connect(lambda m: seen.append(("errored", m)))
    task.cancelled.connect(lambda m: seen.append(("cancelled", m)))
    task.finished.connect(lambda: seen.append(("finished",)))
    return seen


def test_progress_then_returned_then_finished(qtbot):
    def work(task):
        for i in range(3):
            task.report(i + 1, 3, f"step {i + 1}")
        return "result"

    task = ThreadTask("t-ok", work)
    seen = _record(task)
    with qtbot.waitSignal(task.finished, timeout=10000):
        task.start()
    assert seen == [("progress", 1, 3, "step 1"), ("progress", 2, 3, "step 2"), ("progress", 3, 3, "step 3"),
                    ("returned", "result"), ("finished",)]
    assert not task.is_running() and task not in running_tasks()


def test_an_unexpected_error_is_one_readable_message_and_a_traceback_in_the_log(qtbot, caplog):
    def work(task):
        raise ZeroDivisionError("division by zero")

    task = ThreadTask("t-bug", work)
    task.consequence = "Nothing was changed."
    seen = _record(task)
    with caplog.at_level(logging.WARNING, logger="app.tasks"), qtbot.waitSignal(task.finished, timeout=10000):
        task.start()
    assert seen == [("errored", "Unexpected error (ZeroDivisionError: division by zero). Nothing was changed."),
                    ("finished",)]
    record = next(r for r in caplog.records if r.name == "app.tasks")
    assert record.levelno == logging.ERROR and "t-bug" in record.getMessage()
    assert record.exc_info and record.exc_info[0] is ZeroDivisionError  # the traceback reaches the log file


def test_a_fundus_error_is_shown_as_it_is():
    assert failure_text(FundusError("The photo has no field of view."), "reading") == "The photo has no field of view."


def test_stop_is_seen_by_the_work_and_ends_in_cancelled(qtbot):
    def work(task):
        while True:
            if task.should_stop():
                raise Cancelled("Stopped.")
            time.sleep(0.01)

    task = ThreadTask("t-stop", work)
    seen = _record(task)
    task.start()
    qtbot.wait(50)
    assert task.is_running()
    with qtbot.waitSignal(task.finished, timeout=10000):
        assert task.stop_and_wait(5000)
    assert seen == [("cancelled", "Stopped."), ("finished",)]


def test_a_dropped_running_task_lives_until_its_thread_ends(qtbot):
    """The window may let go of a task that is still finishing a step: its QThread must not be destroyed."""
    def work(task):
        while not task.should_stop():
            time.sleep(0.01)

    task = ThreadTask("t-dropped", work)
    task.start()
    thread = task.thread
    del task
    gc.collect()
    assert thread in _live_qthreads() and running_tasks()
    assert wait_for_tasks(10.0)
    assert thread not in _live_qthreads() and not running_tasks()


def test_a_child_process_has_the_same_signals_and_stop_kills_it(qtbot):
    code = "import time; print('working', flush=True); time.sleep(60)"
    task = ProcessTask("p-slow", sys.executable, ["-c", code], title="the helper")
    seen = _record(task)
    lines: list[str] = []
    task.line.connect(lines.append)
    task.start()
    qtbot.waitUntil(lambda: lines == ["working"], timeout=20000)
    t0 = time.monotonic()
    assert task.stop_and_wait(5000) and not task.is_running()
    assert time.monotonic() - t0 < 5
    qtbot.waitUntil(lambda: ("finished",) in seen, timeout=5000)
    assert seen == [("cancelled", "Cancelled by the user."), ("finished",)]


@pytest.mark.parametrize("code, message", [
    ("print('ok')", None),
    ("import sys; sys.exit(3)", "The helper ended with exit code 3."),
])
def test_a_child_process_returns_or_errs_by_its_exit_code(qtbot, code, message):
    task = ProcessTask("p", sys.executable, ["-c", code], title="the helper")
    seen = _record(task)
    with qtbot.waitSignal(task.finished, timeout=20000):
        task.start()
    assert seen == ([("returned", 0), ("finished",)] if message is None else [("errored", message), ("finished",)])
