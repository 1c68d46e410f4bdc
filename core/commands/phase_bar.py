"""One terminal progress bar for a command whose work runs in phases of different lengths.

Why: evaluate, select and the ablation tool report through core.progress callbacks
(done, total, message) whose total changes from phase to phase; the bar restarts its count and
ETA at each new total, and shows the phase's message, so the ETA is the current phase's.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from core.progress import ProgressCallback


def phase_bar(mininterval: float = 1.0) -> tuple[tqdm, ProgressCallback]:
    """(bar, callback): pass the callback to the work, close the bar when it ends."""
    bar = tqdm(total=0, file=sys.stderr, dynamic_ncols=True, leave=False, mininterval=mininterval)

    def progress(done: int, total: int, message: str) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.set_description_str(message[:40], refresh=False)
        bar.update(0)

    return bar, progress
