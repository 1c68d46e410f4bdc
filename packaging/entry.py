"""Entry point of the frozen application (PyInstaller): the same `fundus-studio` command."""

import multiprocessing
import sys

from app.launcher import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader / torchrun children in a frozen app
    sys.exit(main())
