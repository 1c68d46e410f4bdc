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
    outputs = unclaimed_outputs(queue, items, outputs, settings.get("format", "auto"))
    given = [str(Path(i).resolve()) for i in inputs]
    if batch_id is None:
        batch_id = queue.create_batch(out.resolve(), settings, name=name, options={
            "inputs": given, "include": list(include), "allow_inside_input": allow_inside_input})
    else:  # remember what was added, so a resume looks there again
        options = queue.batch(batch_id).options
        options["inputs"] = list(dict.fromkeys([*options.get("inputs", []), *given]))
        queue.set_options(batch_id, options)
    added = queue.add_jobs(batch_id, [(it.path.resolve(), dest) for it, dest in zip(items, outputs)], settings)
    return batch_id, added


def _variants(path: Path, fmt: str) -> list[Path]:
    """Names an output may take: with `auto`, a 16-bit photo's output becomes .tif."""
    return [path.with_suffix(".png"), path.with_suffix(".tif")] if fmt == "auto" else [path]


def unclaimed_outputs(queue: BatchQueue, items: Sequence[Any], outputs: Sequence[Path], fmt: str) -> list[Path]:
    """Output paths that overwrite nothing belonging to another photo.

    A name already used by another photo's job (an earlier batch into the same folder, or a
    second folder added to this batch with the same file names), or a file on disk that no
    job made (the user's own), gets a number: `eye_enhanced-2.png`. The same photo queued
    again keeps its name, so skip-if-done and resume find its output.
    """
    resolved = [Path(o).resolve() for o in outputs]
    if not resolved:
        return []
    top = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    owners = queue.output_owners(top)
    final: list[Path] = []
    for item, dest in zip(items, resolved):
        me = str(item.path.resolve())
        stem = dest.stem
        candidate, n = dest, 2
        while True:
            names = _variants(candidate, fmt)
            owner = next((owners[str(v)] for v in names if str(v) in owners), None)
            on_disk = any(v.exists() or v.with_name(v.name + ".json").exists() for v in names)
            if owner == me or (owner is None and not on_disk):
                break
            candidate = dest.with_name(f"{stem}-{n}{dest.suffix}")
            n += 1
        owners[str(candidate)] = me
        final.append(candidate)
    return final
