"""`fundus-studio vessels FILE -o OUTDIR [--compare ENHANCED]`: vessel maps and the before/after comparison.

Writes the vessel probability map and binary map of FILE (and, with --compare,
of the enhanced photo plus the three-colour comparison overlay), each PNG with a
provenance sidecar, and prints vessel density, Dice and any hallucination warning.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FundusError
from core.imaging import read, write
from core.imaging.fov import detect_fov
from core.provenance import build_provenance


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vessels", help="vessel maps of a photo, and the comparison with its enhanced version")
    p.add_argument("file", metavar="FILE", help="the original photo")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the PNG maps")
    p.add_argument("--compare", metavar="ENHANCED", help="the enhanced photo to compare with (same size as FILE)")
    p.add_argument("--model", metavar="NAME[@VERSION]", help="vessel model (default: the active vessel model)")
    p.add_argument("--opacity", type=float, default=0.8, help="overlay opacity, 0-1 (default 0.8)")
    p.add_argument("--json", action="store_true", help="print the measures as JSON")
    p.set_defaults(handler=run)


def _segmenter(model: str | None):
    from core.models.registry import ModelRegistry  # noqa: PLC0415 - torch only when needed
    from core.vessels import VesselSegmenter  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    installed = ModelRegistry().get(model) if model else None
    return VesselSegmenter(installed)


def _write_maps(outdir: Path, stem: str, vm, prov: dict[str, Any], protected: list[str]) -> list[Path]:
    prob = np.round(vm.prob * 255.0).astype(np.uint8)
    binary = np.where(vm.binary, 255, 0).astype(np.uint8)
    written = []
    for name, arr, what in ((f"{stem}_vessel_prob.png", prob, "vessel probability x 255"),
                            (f"{stem}_vessels.png", binary, f"vessel map, probability >= {vm.threshold:.3f}")):
        p = dict(prov)
        p["extra"] = {**dict(prov.get("extra") or {}), "content": what}
        written.append(write(outdir / name, arr, provenance=p, protected=protected).path)
    return written


def run(args: argparse.Namespace) -> int:
    from core.vessels import compare_vessels, difference_overlay  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    try:
        outdir = Path(args.output)
        outdir.mkdir(parents=True, exist_ok=True)
        image = read(args.file)
        fov = detect_fov(image.pixels).mask
        seg = _segmenter(args.model)
        protected = [args.file] + ([args.compare] if args.compare else [])
        model_info = {"name": seg.card.get("name"), "version": seg.card.get("version"),
                      "weights_sha256": seg.card.get("sha256")}
        params = {"threshold": seg.threshold, "working_fov_diameter": seg.working_diameter,
                  "tile": seg.tile, "overlap": seg.overlap}
        before = seg.segment(image.pixels, fov)
        density = float(before.binary[fov].mean()) if fov.any() else 0.0
        prov = build_provenance(input_sha256=image.source_sha256, input_path=args.file, model=model_info,
                                device=seg.device, parameters=params,
                                extra={"operation": "vessel segmentation", "vessel_density": density})
        written = _write_maps(outdir, Path(args.file).stem, before, prov, protected)
        measures: dict[str, Any] = {"file": args.file, "vessel_density": density, "threshold": seg.threshold}

        if args.compare:
            enhanced = read(args.compare)
            if enhanced.pixels.shape[:2] != image.pixels.shape[:2]:
                raise FundusError(
                    f"The enhanced photo is {enhanced.width}x{enhanced.height} but the original is "
                    f"{image.width}x{image.height}; compare photos of the same size."
                )
            after = seg.segment(enhanced.pixels, fov)  # same FOV as the original, so the maps line up
            comp = compare_vessels(before, after, fov, original_rgb=image.pixels)
            summary = comp.summary()
            prov_after = build_provenance(input_sha256=enhanced.source_sha256, input_path=args.compare,
                                          model=model_info, device=seg.device, parameters=params,
                                          extra={"operation": "vessel segmentation",
                                                 "vessel_density": comp.density_after})
            written += _write_maps(outdir, Path(args.compare).stem, after, prov_after, protected)
            overlay = difference_overlay(image.pixels, comp, args.opacity)
            prov_cmp = build_provenance(
                input_sha256=image.source_sha256, input_path=args.file, model=model_info, device=seg.device,
                parameters={**params, "opacity": args.opacity, **comp.settings},
                extra={"operation": "vessel comparison", "enhanced": {"path": args.compare,
                                                                        "sha256": enhanced.source_sha256},
                       "colours": {"both": "light yellow", "only_after": "cyan", "only_before": "magenta",
                                   "hallucination": "amber boxes"},
                       "measures": summary},
            )
            name = f"{Path(args.file).stem}_vs_{Path(args.compare).stem}_vessel_overlay.png"
            written.append(write(outdir / name, overlay, provenance=prov_cmp, protected=protected).path)
            measures.update({"compare": args.compare, **summary})
    except FundusError as err:
        print(f"vessels: {err}", file=sys.stderr)
        return 1

    if args.json:
        print(json.dumps(measures, indent=2))
    else:
        print(f"{args.file}: vessel density {100 * measures['vessel_density']:.2f}% of the field of view "
              f"(threshold {seg.threshold:.3f}, model {model_info['name']}-{model_info['version']})")
        if args.compare:
            print(f"{args.compare}: vessel density {100 * measures['density_after']:.2f}%")
            print(f"  Dice between the maps {measures['dice']:.3f}; pixels in both {measures['pixels_both']}, "
                  f"only after enhancement {measures['pixels_only_after']}, only before {measures['pixels_only_before']}")
            if measures["warning"]:
                print(f"  WARNING: {measures['warning']}")
                for r in measures["hallucination_regions"]:
                    print(f"    region x {r['bbox'][0]}-{r['bbox'][2]}, y {r['bbox'][1]}-{r['bbox'][3]}, "
                          f"{r['area']} px")
            else:
                print("  No new vessel-like structure without a trace in the original.")
        for p in written:
            print(f"  wrote {p}")
    return 0
