"""The `fundus-studio` console entry: no arguments opens the GUI, anything else is the core CLI.

It lives in `app` so that `core` never imports the GUI.
"""

from __future__ import annotations

import sys
from typing import Sequence

from core.cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv:
        return cli_main(argv)
    try:
        from app.main import run_app  # noqa: PLC0415 - Qt loads only when the window is wanted
    except ImportError as exc:  # PySide6 missing or broken
        print(f"The desktop application is not available: {exc}", file=sys.stderr)
        print("Use the command line: fundus-studio --help", file=sys.stderr)
        return 2
    return run_app([])


if __name__ == "__main__":
    sys.exit(main())
