"""`fundus-studio` command line (the engine side; app.launcher opens the GUI when no arguments are given).

Each subcommand lives in its own module under core.commands and exposes
`register(subparsers)`; the handler it sets returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from core import DISCLAIMER, __version__

COMMAND_MODULES = [
    "core.commands.info",
    "core.commands.enhance",
    "core.commands.models",
    "core.commands.bench",
    "core.commands.optimise",
    "core.commands.batch",
    "core.commands.bench_batch",
    "core.commands.train",
    "core.commands.evaluate",
    "core.commands.vessels",
    "core.commands.adapt",
    "core.commands.ship",
    "core.commands.select",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fundus-studio",
        description=f"Fundus Studio {__version__}: enhance retinal photographs with MAGE-Net. {DISCLAIMER}.",
        epilog="Run without arguments to open the desktop application.",
    )
    parser.add_argument("--version", action="version", version=f"fundus-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):  # no subcommand
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
