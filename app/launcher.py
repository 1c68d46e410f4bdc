"""The `fundus-studio` console entry: no arguments opens the GUI, anything else is the core CLI.

Handled here, before anything imports Qt:
- `--selftest [...]`: core.selftest (no display needed; the installer's check);
- `--startup-time`: open the window, print launch-to-ready time, quit;
- only existing photos/folders as arguments (a desktop entry's `%F`, a file dropped on
  the icon): open the window with them.

It lives in `app` so that `core` never imports the GUI.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from app import startup

startup.mark_entry()  # fallback start of the launch clock where the OS does not report process start

from core.cli import main as cli_main  # noqa: E402

GUI_FLAGS = ("--startup-time",)


def _commands() -> set[str]:
    from core.cli import COMMAND_MODULES  # noqa: PLC0415 - a list of names, nothing imported

    return {m.rsplit(".", 1)[-1].replace("_", "-") for m in COMMAND_MODULES} | {
        m.rsplit(".", 1)[-1] for m in COMMAND_MODULES}


def _is_gui_invocation(argv: list[str]) -> bool:
    """No arguments, GUI flags, or nothing but existing paths (that are not command names)."""
    if all(a in GUI_FLAGS for a in argv):
        return True
    paths = [a for a in argv if a not in GUI_FLAGS]
    return (not paths[0].startswith("-") and paths[0] not in _commands()
            and all(not a.startswith("-") and os.path.exists(a) for a in paths))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--selftest":
        from core.selftest import main as selftest_main  # noqa: PLC0415 - no Qt on this path

        return selftest_main(argv[1:])
    if argv and not _is_gui_invocation(argv):
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
