"""Which files are photos: the one suffix list, and the one folder walker.

The GUI, the batch queue, `fundus-studio enhance` and the site scan all find photos
here, so a folder gives the same photos everywhere. Hidden files and folders (names
starting with ".", e.g. macOS `._photo.jpg` forks) are never photos; DICOM files come
as .dcm, .dicom and .dic (the reader also recognises DICOM by content).
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Sequence

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}) | DICOM_SUFFIXES


def is_photo_name(name: str) -> bool:
    """True for a visible file name with an image suffix (case ignored)."""
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def name_patterns() -> str:
    """'*.bmp *.dcm ...' for file dialogs, from the same list the walker uses."""
    return " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))


def _matches(name: str, include: Sequence[str]) -> bool:
    return not include or any(fnmatch.fnmatch(name.lower(), pat.lower()) for pat in include)


def _inside(path: Path, folders: Sequence[Path]) -> bool:
    return any(path == d or path.is_relative_to(d) for d in folders)


def find_photos(
    folder: str | os.PathLike[str],
    recursive: bool = True,
    include: Sequence[str] = (),
    exclude: Sequence[str | os.PathLike[str]] = (),
) -> list[Path]:
    """Photos in `folder` (sorted; sub-folders too when `recursive`).

    include: name patterns such as "*.tif" or "*_left.*" (any may match; all photos when
    empty). exclude: folders never searched, e.g. the output folder of a batch (a photo
    that resolves into one, through a link, is left out too).
    """
    root = Path(folder)
    excluded = [Path(d).resolve() for d in exclude]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if recursive:
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and not _inside((here / d).resolve(), excluded)]
        else:
            dirnames[:] = []
        for name in filenames:
            p = here / name
            if is_photo_name(name) and _matches(name, include) and p.is_file() and not _inside(p.resolve(), excluded):
                found.append(p)
    return sorted(found)
