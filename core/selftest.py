"""Installation self-test: `FundusStudio --selftest` (also `fundus-studio --selftest` from source).

Why: after an install on a clinic workstation (or in CI after `make package`) one
command must show that the bundle is whole - the active enhancement model loads
(sha256 checked), the bundled CC0 sample photo enhances, the vessel comparison
runs, results and their provenance sidecars are written and read back intact.
It never imports Qt, so it runs with no display. Exit code: 0 passed, 1 a check
failed (broken output), 2 the test could not run (no model, unreadable sample).
The last line printed is a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import core.paths
from core import DISCLAIMER, __version__, imaging
from core.choices import DEVICE_PREFERENCES
from core.errors import FundusError
from core.imaging import read
from core.paths import user_log_dir
from core.provenance import sha256_file

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_RUN = 0, 1, 2
MIN_IMAGE_BYTES = 1024
"""A written photo smaller than this cannot hold a real image: the writer failed silently."""

# Attributes under which an inference backend may report which path it took (issue 9 adds one);
# looked for on the result, then the enhancer, then the result's model info. None of them is required.
_PATH_ATTRIBUTES = ("inference_path", "backend", "inference_backend", "engine", "runtime", "provider")


class SelfTestFailure(Exception):
    """A check on the outputs failed; the message says which and why."""


@dataclass
class SelfTestReport:
    """What the self-test did and measured; `summary()` is the one line printed last."""

    ok: bool = False
    message: str = ""
    enhancer: str = ""
    vessel_model: str = ""
    device: str = ""
    inference_path: str | None = None
    sample: str = ""
    size: tuple[int, int] = (0, 0)
    dice: float = float("nan")
    density_before: float = float("nan")
    density_after: float = float("nan")
    files: list[str] = field(default_factory=list)
    output_dir: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    traceback: str = ""
    """Where an unexpected error came from (printed with --verbose; the summary stays one line)."""

    def summary(self) -> str:
        if not self.ok:
            return f"Fundus Studio {__version__} self-test FAILED: {self.message}"
        path = f", path {self.inference_path}" if self.inference_path else ""
        h, w = self.size
        return (
            f"Fundus Studio {__version__} self-test PASSED: {self.enhancer} on {self.device}{path} enhanced "
            f"{self.sample} ({w}x{h}) in {self.timings.get('enhance', 0):.1f} s; vessels {self.vessel_model} "
            f"Dice {self.dice:.3f}, density {self.density_before:.3f}->{self.density_after:.3f}; "
            f"{len(self.files)} files written and verified; total {self.timings.get('total', 0):.1f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["size"] = list(self.size)
        d["summary"] = self.summary()
        return d


# ----------------------------------------------------------------------------- pieces

def default_sample() -> Path:
    """The bundled real (CC0) sample photo: the first non-synthetic entry of samples.json."""

    folder = core.paths.resources_dir() / "samples"
    try:
        items = json.loads((folder / "samples.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FundusError(f"The bundled samples list {folder / 'samples.json'} cannot be read ({exc}).") from exc
    for item in items:
        if isinstance(item, dict) and not item.get("synthetic", True) and (folder / str(item.get("file"))).is_file():
            return folder / str(item["file"])
    raise FundusError(f"No real sample photo was found in {folder}; the installation is incomplete.")


def inference_path(result: Any, enhancer: Any) -> str | None:
    """Which inference path the enhancer chose (e.g. "onnxruntime CPU"), when it says; else None."""
    info = getattr(result, "model_info", None) or {}
    for source in (result, enhancer, info):
        for name in _PATH_ATTRIBUTES:
            value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
            if value is not None and not callable(value):
                label = getattr(value, "name", None) or getattr(value, "label", None) or value
                return str(label)
    return None


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SelfTestFailure(message)


def _finite(value: float, what: str, low: float = 0.0, high: float = 1.0) -> None:
    _check(isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high,
           f"{what} is {value!r}, not a number between {low} and {high}")


def verify_image(path: Path, expected: np.ndarray, fov: np.ndarray | None = None, *, lossless: bool = True) -> None:
    """A written image exists, is big enough, reads back with the expected size (and pixels when lossless),
    and its sidecar is valid JSON naming the file and its sha256."""

    name = path.name
    _check(path.is_file(), f"{name} was not written")
    size = path.stat().st_size
    _check(size >= MIN_IMAGE_BYTES, f"{name} is only {size} bytes")
    try:
        back = read(path).pixels
    except FundusError as exc:
        raise SelfTestFailure(f"{name} cannot be read back: {exc}") from exc
    _check(back.shape == expected.shape, f"{name} reads back as {back.shape}, expected {expected.shape}")
    if lossless:
        _check(bool(np.array_equal(back, expected)), f"{name} reads back with different pixels than were written")
    if fov is not None:
        inside = back[fov]
        _check(inside.size > 0 and float(inside.std()) > 1.0, f"{name} is blank inside the field of view")
    sidecar = path.with_name(name + ".json")
    _check(sidecar.is_file(), f"the record {sidecar.name} was not written")
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SelfTestFailure(f"the record {sidecar.name} is not valid JSON ({exc})") from exc
    out = record.get("output", {}) if isinstance(record, dict) else {}
    _check(out.get("name") == name, f"the record {sidecar.name} does not name {name}")
    _check(out.get("sha256") == sha256_file(path), f"{name} does not match the sha256 in {sidecar.name}")


# ----------------------------------------------------------------------------- the test

def run_selftest(
    output_dir: str | Path,
    *,
    sample: str | Path | None = None,
    registry: Any = None,
    device: str = "auto",
    backend: str = "auto",
    log: Callable[[str], None] | None = None,
) -> SelfTestReport:
    """Run every step into `output_dir`; never raises for a failed check (the report says why)."""
    report = SelfTestReport(output_dir=str(output_dir))
    say = log or (lambda _m: None)
    t_start = time.perf_counter()
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _run_steps(report, out, sample, registry, device, backend, say)
        report.ok = True
    except SelfTestFailure as exc:
        report.message = str(exc)
    except FundusError as exc:
        report.message = str(exc)
    except Exception as exc:  # noqa: BLE001 - a self-test reports every failure, including bugs
        report.message = f"{type(exc).__name__}: {exc}"
        report.traceback = traceback.format_exc()
    report.timings["total"] = time.perf_counter() - t_start
    return report


def _run_steps(report: SelfTestReport, out: Path, sample: str | Path | None, registry: Any, device: str,
               backend: str, say: Callable[[str], None]) -> None:
    t = time.perf_counter()
    import torch  # noqa: F401, PLC0415 - timed on its own: most of a cold start is this import

    from core.enhance import Enhancer  # noqa: PLC0415 - timed step by step: torch and the models load after the start-up checks
    from core.models.registry import ModelRegistry  # noqa: PLC0415 - timed step by step: torch and the models load after the start-up checks
    from core.vessels import VesselSegmenter, compare_vessels, difference_overlay  # noqa: PLC0415 - timed step by step: torch and the models load after the start-up checks
    report.timings["import"] = time.perf_counter() - t

    registry = registry or ModelRegistry()
    t = time.perf_counter()
    active = registry.active("enhancer")
    if active is None:
        raise FundusError("No enhancement model is installed or active; the installation is incomplete.")
    say(f"loading {active.ref} ({active.origin})")
    kwargs = {} if backend == "auto" else {"backend": backend}  # "auto": the enhancer's own default
    enhancer = Enhancer(model=active, device=device, registry=registry, **kwargs)
    report.enhancer, report.device = active.ref, enhancer.device
    vessel_model = registry.active("vessel")
    if vessel_model is None:
        raise FundusError("No vessel model is installed or active; the installation is incomplete.")
    segmenter = VesselSegmenter(vessel_model, device=enhancer.device)
    report.vessel_model = vessel_model.ref
    report.timings["load"] = time.perf_counter() - t

    sample_path = Path(sample) if sample else default_sample()
    image = read(sample_path)
    report.sample, report.size = sample_path.name, tuple(image.pixels.shape[:2])
    say(f"enhancing {sample_path.name}")
    t = time.perf_counter()
    result = enhancer.enhance(image)
    report.timings["enhance"] = time.perf_counter() - t
    report.inference_path = inference_path(result, enhancer)
    _check(result.pixels.shape == image.pixels.shape and result.pixels.dtype == image.pixels.dtype,
           f"the enhanced photo is {result.pixels.shape} {result.pixels.dtype}, "
           f"expected {image.pixels.shape} {image.pixels.dtype}")
    fov = np.asarray(result.fov.mask, dtype=bool)
    _check(fov.any(), "no field of view was found in the sample photo")
    changed = float(np.abs(result.pixels[fov].astype(np.float32) - image.pixels[fov].astype(np.float32)).mean())
    _check(math.isfinite(changed) and changed > 0.0, "the enhanced photo is identical to the original")

    say("comparing vessels")
    t = time.perf_counter()
    before = segmenter.segment(image.pixels, fov)
    after = segmenter.segment(result.pixels, fov)
    comparison = compare_vessels(before, after, fov, image.pixels)
    report.timings["vessels"] = time.perf_counter() - t
    for name, vmap in (("original", before), ("enhanced", after)):
        _check(bool(np.isfinite(vmap.prob).all()) and float(vmap.prob.min()) >= 0 and float(vmap.prob.max()) <= 1,
               f"the vessel probabilities of the {name} photo are not finite values in [0, 1]")
    report.dice = float(comparison.dice)
    report.density_before = float(comparison.density_before)
    report.density_after = float(comparison.density_after)
    _finite(report.dice, "the vessel Dice")
    _finite(report.density_before, "the vessel density of the original")
    _finite(report.density_after, "the vessel density of the enhanced photo")
    _check(report.density_before > 0 and report.density_after > 0, "no vessels were found in the sample photo")

    say(f"writing to {out}")
    t = time.perf_counter()
    provenance = result.provenance(image)
    enhanced = imaging.write(out / f"{sample_path.stem}_enhanced.png", result.pixels, provenance=provenance,
                     input_path=image.source_path)
    overlay_pixels = difference_overlay(result.pixels, comparison)
    overlay = imaging.write(out / f"{sample_path.stem}_vessel_comparison.png", overlay_pixels,
                    provenance={**provenance, "vessels": {"model": vessel_model.ref, **comparison.summary()}},
                    input_path=image.source_path)
    report.timings["write"] = time.perf_counter() - t

    verify_image(enhanced.path, result.pixels, fov)
    verify_image(overlay.path, overlay_pixels)
    report.files = [str(p) for w in (enhanced, overlay) for p in (w.path, w.sidecar_path) if p is not None]


# ----------------------------------------------------------------------------- command

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="FundusStudio --selftest",
        description="Check this installation: load the active model, enhance the bundled sample, "
        "compare vessels, write and verify the outputs. Needs no display.",
    )
    p.add_argument("--output", metavar="DIR", help="write the outputs here and keep them "
                   "(default: a temporary folder, removed afterwards)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    p.add_argument("--sample", metavar="PHOTO", help="another photo instead of the bundled CC0 sample")
    p.add_argument("--device", default="auto", choices=DEVICE_PREFERENCES)
    p.add_argument("--backend", default="auto", metavar="PATH",
                   help="inference path (default: the one the enhancer picks for this computer)")
    p.add_argument("--json", action="store_true", help="also print the full report as JSON")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    p.add_argument("--verbose", action="store_true", help="print the traceback of an unexpected error")
    return p


def _append_to_log(line: str) -> None:
    """Keep the summary in <user log dir>/selftest.log too: a windowed app (Windows) has no console."""

    try:
        with open(user_log_dir() / "selftest.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the self-test; the summary is the last line on stdout; the exit code says the outcome."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    say = (lambda _m: None) if args.quiet else (lambda m: print(f"selftest: {m}", flush=True))
    say(f"Fundus Studio {__version__} ({DISCLAIMER}); python {sys.version.split()[0]}, "
        f"{'frozen bundle' if getattr(sys, 'frozen', False) else 'source install'}")
    keep = bool(args.output or args.keep)
    out = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="fundus-selftest-"))
    try:
        report = run_selftest(out, sample=args.sample, device=args.device, backend=args.backend, log=say)
        if report.ok:
            (out / "selftest.json").write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    if keep:
        say(f"outputs kept in {out}")
    if args.verbose and report.traceback:
        print(report.traceback, file=sys.stderr)
    print(report.summary(), flush=True)
    _append_to_log(report.summary())
    if report.ok:
        return EXIT_OK
    cannot_run = not report.enhancer or not report.vessel_model or not report.sample
    return EXIT_CANNOT_RUN if cannot_run else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
