"""The launcher's installer flags: --selftest goes to core.selftest without Qt; --startup-time opens the window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import app.launcher as launcher

ROOT = Path(__file__).resolve().parents[2]


def test_selftest_flag_dispatches_to_core_selftest(monkeypatch):
    import core.selftest

    calls = []
    monkeypatch.setattr(core.selftest, "main", lambda argv: calls.append(list(argv)) or 7)
    assert launcher.main(["--selftest", "--keep", "--device", "cpu"]) == 7
    assert calls == [["--keep", "--device", "cpu"]]


def test_startup_time_flag_opens_the_gui(monkeypatch):
    import app.main

    calls = []
    monkeypatch.setattr(app.main, "run_app", lambda argv: calls.append(list(argv)) or 0)
    assert launcher.main(["--startup-time"]) == 0 and calls == [["--startup-time"]]
    assert launcher.main([]) == 0 and calls[-1] == []


def _run(args: list[str], home: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(FUNDUS_STUDIO_HOME=str(home), QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=str(ROOT))


def test_selftest_never_imports_qt_and_needs_no_display(tmp_path):
    """A missing photo makes it stop early (exit 2); Qt must not have been imported on the way."""
    code = ("import sys; from app.launcher import main; "
            "rc = main(['--selftest', '--quiet', '--sample', sys.argv[1]]); "
            "print('qt-imported', 'PySide6' in sys.modules); sys.exit(rc)")
    proc = _run(["-c", code, str(tmp_path / "missing.png")], tmp_path / "home")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "self-test FAILED" in lines[0]
    assert lines[-1] == "qt-imported False"


def test_startup_time_prints_and_logs_the_time_to_a_painted_window(tmp_path):
    home = tmp_path / "home"
    proc = _run(["-m", "app.launcher", "--startup-time"], home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("startup-time:"))
    seconds = float(line.split()[1])
    assert 0.0 < seconds < 60.0
    assert "shown and painted" in line
    log = (home / "logs" / "fundus-studio.log").read_text()
    assert "startup: window ready" in log


def test_launch_clock_starts_before_the_entry_point():
    from app import startup

    start, origin = startup.launch_time()
    import time

    assert start <= time.time()
    if sys.platform.startswith("linux"):
        assert origin == "process start"
        assert time.time() - start < 24 * 3600  # this test process, not the machine's boot


def test_photo_paths_open_the_window(monkeypatch, tmp_path):
    """What the desktop entry's %F passes: existing files go to the window, not the CLI."""
    import app.main

    photo = tmp_path / "eye.png"
    photo.write_bytes(b"x")
    calls = []
    monkeypatch.setattr(app.main, "run_app", lambda argv: calls.append(list(argv)) or 0)
    assert launcher.main([str(photo)]) == 0 and calls == [[str(photo)]]
    cli = []
    monkeypatch.setattr(launcher, "cli_main", lambda argv: cli.append(list(argv)) or 0)
    launcher.main(["models"])  # a command, even if a file of that name existed
    launcher.main([str(tmp_path / "missing.png")])  # not a path: the CLI explains
    assert cli == [["models"], [str(tmp_path / "missing.png")]]
