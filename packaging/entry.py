"""Entry point of the frozen application (PyInstaller): the same `fundus-studio` command.

`FundusStudio` opens the window, `FundusStudio --selftest` checks the installation
without a display, `FundusStudio --startup-time` prints launch-to-window time,
anything else is the command line (`FundusStudio --help`).
"""

import time

_T0 = time.time()  # first thing: the launch clock where the OS cannot say when the process began

import multiprocessing  # noqa: E402
import sys  # noqa: E402

from app import startup  # noqa: E402

startup.mark_entry(_T0)

from app.launcher import main  # noqa: E402

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader / torchrun children in a frozen app
    sys.exit(main())
