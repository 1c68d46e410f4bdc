"""Which files a batch enhances, and where each output goes.

Folders are searched recursively (optionally filtered by an include pattern such as
"*.tif" or "*_h.*"); their sub-folders are mirrored in the output folder, so a clinic's
`patient/visit/eye.jpg` becomes `OUT/patient/visit/eye_enhanced.png`. Outputs are never
placed inside an input folder (or next to an input file) unless the caller allows it:
an archive of originals must not fill up with derived images by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from core.errors import OutputError
from core.imaging.suffixes import find_photos

FORMATS = {"png": ".png", "tiff": ".tif", "jpg": ".jpg"}
OUTPUT_TAG = "_enhanced"


@dataclass(frozen=True)
class BatchInput:
    """One photo to enhance: where it is, and its place relative to the folder it came from."""

    path: Path
    root: Path | None  # the folder given by the user; None for a file given directly
    relative: Path  # path below root (just the name for a file given directly)


def collect_inputs(
    inputs: Iterable[str | os.PathLike[str]],
    include: Sequence[str] = (),
    recursive: bool = True,
    exclude_dirs: Sequence[str | os.PathLike[str]] = (),
) -> list[BatchInput]:
    """Files as given, and image files found in folders (sorted; hidden files and sidecars left out).

    A file named directly is always taken (even with an unusual suffix: it then fails alone
    with a clear reason). `exclude_dirs` (e.g. the output folder) are never searched.
    """
    found: list[BatchInput] = []
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            root = path
            for p in find_photos(root, recursive=recursive, include=include, exclude=exclude_dirs):
                rp = p.resolve()
                if rp in seen:
                    continue
                seen.add(rp)
                found.append(BatchInput(p, root, p.relative_to(root)))
        else:
            rp = path.resolve()
            if rp not in seen:
                seen.add(rp)
                found.append(BatchInput(path, None, Path(path.name)))
    return found


def output_suffix(fmt: str, bit_depth: int = 8) -> str:
    """File suffix for a format; "auto" keeps 16-bit photos 16-bit (TIFF) and uses PNG otherwise."""
    if fmt == "auto":
        return ".tif" if bit_depth > 8 else ".png"
    try:
        return FORMATS[fmt]
    except KeyError:
        raise OutputError(f"Unknown output format '{fmt}': choose png, tiff, jpg or auto.") from None


def plan_outputs(items: Sequence[BatchInput], outdir: str | os.PathLike[str], fmt: str = "auto") -> list[Path]:
    """The output path of every item: sub-folders mirrored, `<stem>_enhanced<suffix>`.

    When several folders are given, each keeps its own top folder (OUT/<folder name>/...);
    photos that would still land on one name (eye.jpg and eye.tif side by side) keep their
    original suffix in the name (eye_jpg_enhanced.png). Names that still clash (the same file
    name given from two unrelated places) are numbered by core.batch.plan.unclaimed_outputs.
    """
    out = Path(outdir)
    roots = {it.root.resolve() for it in items if it.root is not None}
    several = len(roots) > 1
    suffix = output_suffix(fmt)
    base: list[Path] = []
    for it in items:
        folder = out
        if it.root is not None:
            if several:
                folder = folder / (it.root.resolve().name or "input")
            folder = folder / it.relative.parent
        base.append(folder / it.relative.stem)
    suffixes: dict[str, set[str]] = {}
    for it, b in zip(items, base):
        suffixes.setdefault(str(b).lower(), set()).add(it.path.suffix.lower())
    planned = []
    for it, b in zip(items, base):
        stem = b.name
        if len(suffixes[str(b).lower()]) > 1:  # eye.jpg next to eye.tif
            stem = f"{stem}_{it.path.suffix.lstrip('.').lower() or 'file'}"
        planned.append(b.with_name(f"{stem}{OUTPUT_TAG}{suffix}"))
    return planned


def input_trees(items: Sequence[BatchInput]) -> list[Path]:
    """Folders the originals live in: each given folder, and the folder of each file given directly."""
    trees = {(it.root if it.root is not None else it.path.parent).resolve() for it in items}
    return sorted(trees)


def check_outputs_outside_inputs(
    items: Sequence[BatchInput], outputs: Sequence[Path], allow_inside: bool = False
) -> None:
    """Refuse (OutputError) to place outputs among the originals unless the caller allows it."""
    if allow_inside:
        return
    trees = input_trees(items)
    for dest in outputs:
        parent = dest.parent.resolve()
        for tree in trees:
            if parent == tree or parent.is_relative_to(tree):
                raise OutputError(
                    f"The output folder is inside the folder of the original photos ({tree}). "
                    "Choose an output folder outside it, so originals and enhanced copies are not mixed "
                    "(or allow it explicitly)."
                )
