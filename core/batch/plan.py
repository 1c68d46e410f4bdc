"""Turn what the user picked (files, folders, an output folder) into queued jobs.

Used alike by the CLI and the GUI panel, so both check the same things: there is
something to do, outputs stay out of the originals' folders, no two outputs collide.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from core.batch.inputs import check_outputs_outside_inputs, collect_inputs, plan_outputs
from core.batch.queue import BatchQueue
from core.errors import FundusError


class NothingToDo(FundusError):
    """No photos were found in what was given."""


def enqueue(
    queue: BatchQueue,
    inputs: Sequence[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    settings: dict[str, Any],
    *,
    include: Sequence[str] = (),
    allow_inside_input: bool = False,
    batch_id: int | None = None,
    name: str = "",
) -> tuple[int, list[int]]:
    """Queue every photo found in `inputs`; a new batch unless `batch_id` is given (add or resume).

    Returns (batch id, ids of the jobs added). Raises NothingToDo or OutputError before
    anything is queued.
    """
    out = Path(outdir)
    items = collect_inputs(inputs, include=include, exclude_dirs=[out] if out.exists() else [])
    if not items:
        pattern = f" matching {', '.join(include)}" if include else ""
        raise NothingToDo(f"No photos{pattern} were found in {', '.join(str(i) for i in inputs)}.")
    outputs = plan_outputs(items, out, settings.get("format", "auto"))
    check_outputs_outside_inputs(items, outputs, allow_inside=allow_inside_input)
    out.mkdir(parents=True, exist_ok=True)
    given = [str(Path(i).resolve()) for i in inputs]
    if batch_id is None:
        batch_id = queue.create_batch(out.resolve(), settings, name=name, options={
            "inputs": given, "include": list(include), "allow_inside_input": allow_inside_input})
    else:  # remember what was added, so a resume looks there again
        options = queue.batch(batch_id).options
        options["inputs"] = list(dict.fromkeys([*options.get("inputs", []), *given]))
        queue.set_options(batch_id, options)
    added = queue.add_jobs(batch_id, [(it.path.resolve(), dest.resolve()) for it, dest in zip(items, outputs)],
                           settings)
    return batch_id, added
