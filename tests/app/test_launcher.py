"""The console entry: arguments go to the core CLI; none opens the window."""

from __future__ import annotations

import app.launcher as launcher


def test_arguments_go_to_the_core_cli(capsys):
    assert launcher.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "KIND" in out or "No MAGE-Net model" in out


def test_no_arguments_opens_the_gui(monkeypatch):
    calls = []
    import app.main

    monkeypatch.setattr(app.main, "run_app", lambda argv: calls.append(argv) or 0)
    assert launcher.main([]) == 0 and calls == [[]]
