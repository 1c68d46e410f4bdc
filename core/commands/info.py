"""`fundus-studio info FILE...`: what the reader sees in a photo (size, depth, FOV)."""

from __future__ import annotations

import argparse
import sys

from core.errors import FundusError
from core.imaging import read
from core.imaging.fov import detect_fov


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show what Fundus Studio reads from photos (size, depth, field of view)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(handler=run)


def describe(path: str) -> str:
    image = read(path)
    meta = image.metadata
    lines = [
        f"{path}",
        f"  format      {meta.get('format', '?')}",
        f"  size        {image.width} x {image.height} px, {image.bit_depth}-bit RGB",
        f"  sha256      {image.source_sha256}",
    ]
    if meta.get("exif_orientation") not in (None, 1):
        lines.append(f"  orientation EXIF {meta['exif_orientation']} (applied)")
    try:
        fov = detect_fov(image.pixels)
        cut = [side for side, flag in (("top", fov.cut_top), ("bottom", fov.cut_bottom)) if flag]
        lines.append(
            f"  FOV         circle at ({fov.cx:.0f}, {fov.cy:.0f}), diameter {2 * fov.radius:.0f} px, "
            f"{100 * fov.mask.mean():.1f}% of the frame" + (f", cut at the {' and '.join(cut)}" if cut else "")
        )
    except FundusError as err:
        lines.append(f"  FOV         not found: {err}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            print(describe(path))
        except FundusError as err:
            failed += 1
            print(f"{path}\n  cannot be read: {err}", file=sys.stderr)
    return 1 if failed else 0
