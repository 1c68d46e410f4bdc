"""One task model for background work in the GUI, after superqt's WorkerBase.

A Task has the same signals whatever runs it: `progress(done, total, message)`,
`returned(result)`, `errored(message)`, `cancelled(message)` and `finished()` (always
last, on the GUI thread). Its stop event is what the work polls through the core
`should_stop()` contract, because a busy thread cannot receive signals. Errors take one
path, `failure_text`: the window gets a sentence a clinician can read, the rotating log
file gets the traceback (the packaged application has no console).

ThreadTask runs `work()` on a QThread of its own. ProcessTask runs a child process, for
work that cannot be interrupted from inside (compiling): stop() kills it.

A running ThreadTask is kept alive here until its thread has ended, whoever dropped it,
and so is any other thread handed to `retire()` (the engine's): closing a window never
has to wait for a slow step, and a running QThread is never destroyed with its widget
(Qt would abort). `wait_for_tasks()` at exit stops and waits for all of them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QProcess, QThread, Signal

from core.errors import Cancelled, FundusError

log = logging.getLogger(__name__)

_LIVE: set["ThreadTask"] = set()
_RETIRED: list[tuple[QThread, tuple[Any, ...]]] = []
_LIVE_LOCK = threading.Lock()


def failure_text(exc: BaseException, what: str, consequence: str = "") -> str:
    """The message for the window; the detail goes to the log (the one place both happen).

    A FundusError already says what went wrong in plain words; anything else is a bug, so
    its traceback is logged and the message says it was unexpected.
    """
    if isinstance(exc, FundusError):
        log.warning("%s: %s", what, exc)
        return str(exc)
    log.error("%s failed unexpectedly", what, exc_info=exc)
    text = f"Unexpected error ({type(exc).__name__}: {exc})."
    return f"{text} {consequence}" if consequence else text


class Task(QObject):
    """Background work with one set of signals, a stop event and one error path."""

    progress = Signal(int, int, str)
    returned = Signal(object)
    errored = Signal(str)
    cancelled = Signal(str)
    finished = Signal()

    consequence = ""
    """Said after an unexpected error, e.g. "The photo was not changed."."""

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.stop_event = threading.Event()

    # ------------------------------------------------------------ any thread
    def stop(self) -> None:
        """Ask the work to stop at its next check (it then emits `cancelled`)."""
        self.stop_event.set()

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def report(self, done: int, total: int, message: str = "") -> None:
        """The core `progress(done, total, message)` callback."""
        self.progress.emit(int(done), int(total), str(message))

    def fail(self, exc: BaseException) -> None:
        self.errored.emit(failure_text(exc, self.objectName(), self.consequence))

    # ------------------------------------------------------------ GUI thread
    def start(self) -> None:
        raise NotImplementedError

    def is_running(self) -> bool:
        raise NotImplementedError

    def wait(self, ms: int) -> bool:
        """Block up to `ms` for the work to end; True when it has."""
        raise NotImplementedError

    def stop_and_wait(self, ms: int = 60000) -> bool:
        self.stop()
        return self.wait(ms)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Like every worker's shutdown: stop, wait up to `timeout_ms`; a ThreadTask still running lives on here."""
        return self.stop_and_wait(timeout_ms)


class _Runner(QThread):
    def __init__(self, task: "ThreadTask") -> None:
        super().__init__()  # no Qt parent: it must not be deleted with a widget while running
        self._task = task

    def run(self) -> None:  # noqa: D401 - QThread entry point
        self._task._run()


class ThreadTask(Task):
    """Runs `work()` (override it, or pass `work(task)`) on a QThread of its own."""

    def __init__(self, name: str, work: Callable[["ThreadTask"], Any] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(name, parent)
        self._work = work
        self.thread = _Runner(self)
        self.thread.setObjectName(name)
        self.thread.finished.connect(self._ended)  # queued: _ended runs on the GUI thread

    def work(self) -> Any:
        if self._work is None:
            raise NotImplementedError("pass work= or override work()")
        return self._work(self)

    def start(self) -> None:
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.thread.start()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def wait(self, ms: int) -> bool:
        done = bool(self.thread.wait(max(0, int(ms))))
        if done:
            _forget(self)
        return done

    def _run(self) -> None:
        try:
            if self.should_stop():
                raise Cancelled()
            result = self.work()
        except Cancelled as exc:
            self.cancelled.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - the one error path of background work
            self.fail(exc)
        else:
            self.returned.emit(result)

    def _ended(self) -> None:
        self.thread.wait()  # `finished` comes just before the thread really ends
        _forget(self)
        self.finished.emit()


def _forget(task: ThreadTask) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(task)


def retire(thread: QThread, *keep: Any) -> None:
    """Keep a thread that was asked to stop (and the objects it uses) alive until it has ended."""
    with _LIVE_LOCK:
        _RETIRED[:] = [(t, k) for t, k in _RETIRED if not t.isFinished()]
        _RETIRED.append((thread, keep))


def running_tasks() -> list[ThreadTask]:
    with _LIVE_LOCK:
        return [t for t in _LIVE if t.is_running()]


def running_threads() -> list[QThread]:
    """Threads of running tasks and retired threads not yet ended."""
    with _LIVE_LOCK:
        retired = [t for t, _k in _RETIRED if t.isRunning()]
    return [t.thread for t in running_tasks()] + retired


def wait_for_tasks(timeout_s: float = 15.0) -> bool:
    """Stop every running task and wait for it and every retired thread (at exit); True when none is left."""
    deadline = time.monotonic() + timeout_s
    for t in running_tasks():
        t.stop()
    for thread in running_threads():
        thread.wait(int(max(0.0, deadline - time.monotonic()) * 1000))
    with _LIVE_LOCK:
        _LIVE.difference_update([t for t in _LIVE if not t.is_running()])
        _RETIRED[:] = [(t, k) for t, k in _RETIRED if not t.isFinished()]
    return not running_threads()


class ProcessTask(Task):
    """A child process behind the Task interface: each output line as `line`, stop() kills it.

    returned(0) on exit code 0; errored(message) when it cannot start, crashes or exits
    with another code; cancelled when it was stopped.
    """

    line = Signal(str)

    def __init__(self, name: str, program: str, args: list[str], title: str = "the program",
                 parent: QObject | None = None) -> None:
        super().__init__(name, parent)
        self.program, self.args, self.title = program, list(args), title
        self._buffer = ""
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._exited)
        self.process.errorOccurred.connect(self._error)

    def start(self) -> None:
        self.process.start(self.program, self.args)

    def stop(self) -> None:
        super().stop()
        if self.is_running():
            self.process.kill()  # at once: the work cannot be interrupted from inside

    def is_running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def wait(self, ms: int) -> bool:
        if self.is_running():
            self.process.waitForFinished(max(0, int(ms)))
        return not self.is_running()

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        *lines, self._buffer = self._buffer.split("\n")
        for text in lines:
            self.line.emit(text.rstrip())

    def _exited(self, code: int, status: QProcess.ExitStatus = QProcess.ExitStatus.NormalExit) -> None:
        self._read()
        if self._buffer:
            self.line.emit(self._buffer.rstrip())
            self._buffer = ""
        if self.should_stop():
            self.cancelled.emit("Cancelled by the user.")
        elif status == QProcess.ExitStatus.CrashExit:
            self._failed_message(f"{self.title} stopped unexpectedly.")
        elif code != 0:
            self._failed_message(f"{self.title} ended with exit code {code}.")
        else:
            self.returned.emit(code)
        self.finished.emit()

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:  # no `finished` follows this one
            self._failed_message(f"Could not start {self.title}: {self.process.errorString()}")
            self.finished.emit()

    def _failed_message(self, text: str) -> None:
        log.warning("%s (%s %s)", text, self.program, " ".join(self.args))
        self.errored.emit(text[:1].upper() + text[1:])
