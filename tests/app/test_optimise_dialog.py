"""Models > Optimise for this computer: the child process's progress, success, failure and cancel."""

from __future__ import annotations

import sys

from app.dialogs.optimise_dialog import OptimiseDialog, optimise_command

FAKE_OK = (
    "import time\n"
    "print('2 size(s) to compile: 384, 512 px', flush=True)\n"
    "for side in (384, 512):\n"
    "    print(f'Compiling mage-s@1.1.0 for {side} px, bfloat16, 2 thread(s) (about a minute, once)...', flush=True)\n"
    "    time.sleep(0.2)\n"
    "    print(f'  built in 1 s: /cache/aot/x-{side}.pt2', flush=True)\n"
)


def test_command_runs_the_cli_of_this_python_with_the_model():
    program, args = optimise_command("mage-s@1.1.0")
    assert program == sys.executable
    assert args == ["-m", "core.cli", "optimise", "--model", "mage-s@1.1.0"]
    assert optimise_command(None)[1] == ["-m", "core.cli", "optimise"]


def test_success_fills_the_bar_shows_the_log_and_signals(qtbot):
    dialog = OptimiseDialog(None, command=(sys.executable, ["-c", FAKE_OK]))
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.succeeded, timeout=20000):
        dialog.start()
    assert dialog.state == "done" and dialog.sides == 2 and dialog.progress.maximum() == 2
    assert dialog.progress.value() == 2
    text = dialog.log.toPlainText()
    assert "for 384 px" in text and "for 512 px" in text
    assert dialog.close_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_failure_keeps_the_message_and_does_not_signal(qtbot):
    fail = "import sys; print('No C++ compiler was found', flush=True); sys.exit(2)"
    dialog = OptimiseDialog(None, command=(sys.executable, ["-c", fail]))
    qtbot.addWidget(dialog)
    fired = []
    dialog.succeeded.connect(lambda: fired.append(True))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.state == "failed", timeout=20000)
    assert not fired and "No C++ compiler" in dialog.log.toPlainText()
    assert "Enhancement works as before" in dialog.status.text()


SLOW = "import time; print('Compiling m for 512 px', flush=True); time.sleep(60)"


def test_cancel_stops_the_process_at_once(qtbot):
    dialog = OptimiseDialog(None, command=(sys.executable, ["-c", SLOW]))
    qtbot.addWidget(dialog)
    dialog.start()
    qtbot.waitUntil(lambda: "for 512 px" in dialog.log.toPlainText(), timeout=20000)
    assert dialog.status.text().startswith("Compiling") and "about a minute per size" in dialog.status.text()
    dialog.cancel_button.click()
    assert dialog.state == "cancelled"
    assert dialog.process.state() == dialog.process.ProcessState.NotRunning


def test_closing_the_window_or_escape_also_stops_the_process(qtbot):
    from PySide6.QtCore import Qt

    dialog = OptimiseDialog(None, command=(sys.executable, ["-c", SLOW]))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.start()
    qtbot.waitUntil(lambda: "for 512 px" in dialog.log.toPlainText(), timeout=20000)
    qtbot.keyClick(dialog, Qt.Key_Escape)
    assert dialog.state == "cancelled" and not dialog.isVisible()
    assert dialog.process.state() == dialog.process.ProcessState.NotRunning


def test_a_missing_program_is_reported(qtbot):
    dialog = OptimiseDialog(None, command=("/nonexistent/fundus-studio", ["optimise"]))
    qtbot.addWidget(dialog)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.state == "failed", timeout=20000)
    assert "Could not start the optimiser" in dialog.log.toPlainText()
