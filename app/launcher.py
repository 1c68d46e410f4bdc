"""The `fundus-studio` console entry: no arguments opens the GUI, anything else is the core CLI.

Two flags are handled here, before anything imports Qt:
- `--selftest [...]`: core.selftest (no display needed; the installer's check);
- `--startup-time`: open the window, print launch-to-ready time, quit.

It lives in `app` so that `core` never imports the GUI.
"""

from __future__ import annotations

import sys
from typing import Sequence

from app import startup

startup.mark_entry()  # fallback start of the launch clock where the OS does not report process start

from core.cli import main as cli_main  # noqa: E402

GUI_FLAGS = ("--startup-time",)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--selftest":
        from core.selftest import main as selftest_main  # noqa: PLC0415 - no Qt on this path

        return selftest_main(argv[1:])
    if argv and not all(a in GUI_FLAGS for a in argv):
        return cli_main(argv)
    try:
        from app.main import run_app  # noqa: PLC0415 - Qt loads only when the window is wanted
    except ImportError as exc:  # PySide6 missing or broken
        print(f"The desktop application is not available: {exc}", file=sys.stderr)
        print("Use the command line: fundus-studio --help", file=sys.stderr)
        return 2
    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
