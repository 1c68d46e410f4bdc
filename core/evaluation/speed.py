"""Speed benchmark: every way to enhance a photo, timed in one process on the same photos.

What `fundus-studio bench` runs, importable so tests can check the report's structure on
tiny inputs. Measured, per photo (DRIVE 565 x 584, a 1411 x 1411 sample, HRF 3504 x 2336):

- each classical baseline (core.evaluation.baselines) and MAGE-Net through every
  inference path, end to end: read, field of view, prepare (square + resize), inference,
  upsampling, write (PNG + provenance sidecar); median, min and max over the repeats;
- the network alone at the working size on every path (median/min/max, PSNR against
  eager float32, preparation time such as ONNX export or compilation);
- the path the Enhancer chooses by itself (core.inference.selector) and why;
- tiled mode: tile size and overlap swept, time and PSNR against the untiled network;
- peak resident memory of each run (sampled by a thread) and of the whole process;
- ratios against eager float32 and the issue's targets.

It asserts nothing: targets belong to the people reading the figures. Other programs on
the machine slow single runs; the minimum and the spread show how much.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch

import core.paths
from core.enhance import Enhancer, EnhanceSettings
from core.evaluation.baselines import BASELINES
from core.imaging import read, write
from core.imaging.fov import SquareFrame, detect_fov
from core.imaging.synthetic import synthetic_photo
from core.inference import PATHS, InferenceChoice, default_candidates, fixed_backend, make_backend, psnr_db, selector
from core.inference.allocator import tune_malloc
from core.inference.graph import module_fingerprint
from core.inference.selector import CPU_PATHS, CUDA_PATHS, machine_descriptor
from core.memory import peak_rss_mb, rss_mb
from core.models.magenet import MageNet, preset
from core.models.registry import ModelRegistry

SCHEMA = "fundus-studio/bench/1"
IMAGE_SIZES = {"drive": (584, 565), "sample": (1411, 1411), "hrf": (2336, 3504)}  # (height, width)
TILE_SIZES = (256, 384, 512)
TILE_OVERLAPS = (32, 64)
TARGETS = {
    "hrf_fast_end_to_end_s": 2.5,
    "chosen_vs_eager_network_speedup": 2.0,
    "gpu_photos_per_s": 20.0,
}


# ---------------------------------------------------------------- memory
class PeakSampler:
    """Highest resident memory while the block runs (a thread reads it every few ms)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakSampler":
        self.peak = rss_mb()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, rss_mb())


# ---------------------------------------------------------------- statistics
def summary(values: Sequence[float]) -> dict[str, float]:
    """median, min, max (seconds, 4 decimals) of the repeats."""
    v = [float(x) for x in values]
    return {"median": round(statistics.median(v), 4), "min": round(min(v), 4), "max": round(max(v), 4), "n": len(v)}


# ---------------------------------------------------------------- photos
@dataclass
class BenchImage:
    key: str
    path: Path
    source: str  # "research data", "bundled sample", "synthetic (...)", or "given"
    width: int
    height: int


def default_images(workdir: Path, keys: Sequence[str] = ("drive", "sample", "hrf")) -> list[BenchImage]:
    """DRIVE test 01, the bundled 1411 x 1411 sample, HRF 01_h; sample-derived stand-ins of the
    same sizes where the research data is absent (said in `source`)."""

    data = core.paths.shared_data_dir()
    research = {
        "drive": data / "drive" / "test" / "images" / "01_test.tif" if data else None,
        "hrf": data / "hrf" / "images" / "01_h.jpg" if data else None,
    }
    out: list[BenchImage] = []
    for key in keys:
        h, w = IMAGE_SIZES[key]
        if key == "sample":
            path, source = core.paths.resources_dir() / "samples" / "fundus_normal_left_eye_cc0.jpg", "bundled sample (CC0)"
        elif research.get(key) is not None and research[key].exists():
            path, source = research[key], "research data"
        else:
            path = workdir / f"synthetic_{key}_{w}x{h}.jpg"
            synthetic_photo(path, (h, w))
            source = f"synthetic {w}x{h} made from the bundled sample (research data absent)"
        img = read(path)
        out.append(BenchImage(key, Path(path), source, img.width, img.height))
    return out


def given_images(paths: Sequence[str]) -> list[BenchImage]:
    out = []
    for p in paths:
        img = read(p)
        out.append(BenchImage(Path(p).stem, Path(p), "given", img.width, img.height))
    return out


# ---------------------------------------------------------------- model
def load_model(model: str | None, device: str = "cpu") -> tuple[Any, dict[str, Any], int]:
    """(module, model info, working size): the named or active model, else an untrained mage-s."""

    registry = ModelRegistry()
    if model or registry.active("enhancer") is not None:
        enh = Enhancer(model=model, device=device, registry=registry, backend="eager")
        return enh.model, dict(enh.model_info, origin="installed"), enh.settings.working_size
    return MageNet(preset("mage-s")), {"name": "mage-s", "version": "untrained", "weights_sha256": None,
                                        "origin": "untrained (timing does not depend on weights)"}, 512


def _enhancer(module: Any, info: dict[str, Any], size: int, device: str, backend: str, mode: str = "fast",
              tile: int | None = None, overlap: int | None = None, threads: int | None = None) -> Any:
    kw: dict[str, Any] = {"mode": mode, "working_size": size}
    if tile:
        kw["tile_size"] = tile
    if overlap is not None:
        kw["tile_overlap"] = overlap
    enh = Enhancer.from_module(module, device=device, settings=EnhanceSettings(**kw), backend=backend)
    enh.model_info = {k: v for k, v in info.items() if k in ("name", "version", "weights_sha256", "architecture")}
    if threads and backend != "auto":
        net_size = tile if (mode == "tiled" and tile) else size
        enh._inference[net_size] = fixed_backend(backend, enh.model, net_size, model_key=enh._model_key(),
                                                 device=device, threads=threads)
    return enh


# ---------------------------------------------------------------- runs
def _time_pipeline(image: BenchImage, process: Callable[[Any], tuple[Any, dict[str, float]]],
                   write_fn: Callable[[Any, Any, Path], None], outdir: Path, repeat: int) -> dict[str, Any]:
    """read -> process -> write, `repeat` times after one warm-up; stage summaries and peak memory."""

    stages: dict[str, list[float]] = {}
    totals: list[float] = []
    peak = 0.0
    for i in range(repeat + 1):
        gc.collect()
        with PeakSampler() as mem:
            t0 = time.perf_counter()
            photo = read(image.path)
            t_read = time.perf_counter() - t0
            result, parts = process(photo)
            t1 = time.perf_counter()
            write_fn(photo, result, outdir / f"{image.key}_out.png")
            t_write = time.perf_counter() - t1
            total = time.perf_counter() - t0
        del photo, result
        if i == 0:
            continue  # warm-up: first-call costs (allocations, path preparation) are not per photo
        peak = max(peak, mem.peak)
        for k, v in {"read": t_read, **parts, "write": t_write}.items():
            stages.setdefault(k, []).append(v)
        totals.append(total)
    return {"stages": {k: summary(v) for k, v in stages.items()}, "total": summary(totals),
            "peak_rss_mb": round(peak, 1)}


def _mage_process(enh: Any) -> Callable[[Any], tuple[Any, dict[str, float]]]:
    def run(photo: Any) -> tuple[Any, dict[str, float]]:
        res = enh.enhance(photo)
        t = res.timings
        return res, {"fov": t["fov"], "prepare": t["prepare"], "inference": t["inference"], "upsample": t["upsample"]}
    return run


def _mage_write(photo: Any, result: Any, dest: Path) -> None:
    write(dest, result.pixels, provenance=result.provenance(photo), bit_depth=photo.bit_depth)


def _baseline_process(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[Any], tuple[Any, dict]]:
    def run(photo: Any) -> tuple[Any, dict[str, float]]:
        t0 = time.perf_counter()
        fov = detect_fov(photo.pixels)
        t1 = time.perf_counter()
        out = fn(photo.as_float(), fov.mask)
        return out, {"fov": t1 - t0, "enhance": time.perf_counter() - t1}
    return run


def _baseline_write(photo: Any, result: Any, dest: Path) -> None:
    write(dest, result, bit_depth=photo.bit_depth)


def _working_input(image: BenchImage, size: int) -> tuple[Any, Any]:
    """The network input the Enhancer makes from this photo (FOV squared, resized, masked)."""

    photo = read(image.path)
    fov = detect_fov(photo.pixels)
    frame = SquareFrame.from_fov(fov, photo.pixels.shape)
    sq = frame.to_square(photo.pixels).astype(np.float32) / photo.max_value
    small = cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(frame.to_square(fov.mask).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0.5
    small *= mask[..., None]
    x = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None]
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    return x, m


def bench_network(module: Any, x: Any, m: Any, paths: Sequence[str], repeat: int, model_key: str,
                  log: Callable[[str], None], device: str = "cpu",
                  keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """Network alone at the working size on each path and thread count: time, fidelity, preparation.

    Rows are keyed "path@threads" (CPU) or "path" (GPU); `best` gives each path's fastest row.
    Compiled and AOT paths are measured at the reference's best thread count only (each count
    is another compilation); an AOT package missing for this model is built first. `keep`,
    when given, receives each path's fastest prepared backend, so the end-to-end runs reuse
    it instead of exporting or compiling again.
    """

    rows: dict[str, Any] = {}
    ref_out = None
    ref_name = selector.reference_for(device)
    order = [ref_name] + [p for p in paths if p != ref_name]
    threads = selector.thread_options() if device == "cpu" else [None]
    prepared: dict[str, Any] = {}
    for name in order:
        counts = threads
        if name.startswith(("compiled", "aot")) and device == "cpu" and ref_out is not None:
            ref_rows = [r for r in rows.values() if r.get("path") == ref_name and "seconds" in r]
            counts = [min(ref_rows, key=lambda r: r["seconds"]["median"])["threads"]] if ref_rows else threads[:1]
        for n in counts:
            key = f"{name}@{n}" if n else name
            backend = make_backend(name, threads=n, model_key=model_key, build=True)  # AOT: compile if missing
            why = backend.available()
            if why:
                rows[name] = {"path": name, "available": False, "note": why}
                log(f"  network {name}: not available ({why})")
                break
            try:
                backend.prepare(module, int(x.shape[-1]))
                y = backend(x, m)
                times = []
                with PeakSampler() as mem:
                    for _ in range(repeat):
                        t = time.perf_counter()
                        backend(x, m)
                        times.append(time.perf_counter() - t)
            except Exception as exc:  # noqa: BLE001 - a failing path is reported, not fatal
                rows[key] = {"path": name, "threads": n, "available": True,
                             "failed": f"{type(exc).__name__}: {exc}"[:300]}
                log(f"  network {key}: failed ({exc})")
                continue
            if ref_out is None:
                ref_out = y
            p = psnr_db(y, ref_out, m)
            rows[key] = {"path": name, "threads": n, "available": True, "label": backend.describe(),
                         "seconds": summary(times),
                         "psnr_db_vs_float32": "identical" if not np.isfinite(p) else round(p, 1),
                         "prepare_s": round(backend.prepare_seconds, 2), "peak_rss_mb": round(mem.peak, 1)}
            if getattr(backend, "package", None) is not None:  # AOT: a load, or a one-off build plus a load
                rows[key]["compiled_now_s"] = round(backend.build_seconds, 1) if backend.built_now else None
            log(f"  network {key}: {statistics.median(times):.3f} s (prepare {backend.prepare_seconds:.1f} s, "
                f"{rows[key]['psnr_db_vs_float32']} dB)")
            prepared[key] = backend
            del backend
    best: dict[str, str] = {}
    for key, rec in rows.items():
        if "seconds" in rec:
            cur = best.get(rec["path"])
            if cur is None or rec["seconds"]["median"] < rows[cur]["seconds"]["median"]:
                best[rec["path"]] = key
    ref_key = best.get(ref_name)
    ref = rows[ref_key]["seconds"]["median"] if ref_key else None
    for rec in rows.values():
        if ref and "seconds" in rec:
            rec["speedup_vs_float32"] = round(ref / rec["seconds"]["median"], 2)
    if keep is not None:
        keep.update({name: prepared[key] for name, key in best.items()})
    prepared.clear()
    gc.collect()
    return {"rows": rows, "best": best, "reference": ref_key,
            "note": "speed-ups are against the reference path at its own best thread count"}


def bench_tiles(module: Any, info: dict[str, Any], image: BenchImage, size: int, device: str, backend: str,
                repeat: int, log: Callable[[str], None], tiles: Sequence[int] = TILE_SIZES,
                overlaps: Sequence[int] = TILE_OVERLAPS, threads: int | None = None) -> dict[str, Any]:
    """Tiled mode (network at 2x the working size) over tile sizes and overlaps: time and PSNR
    of the network output against the same network run on the whole input at once."""

    x, m = _working_input(image, size)
    big = min(int(round(size * EnhanceSettings().tiled_scale)), max(image.width, image.height)) // 8 * 8
    xb = torch.from_numpy(cv2.resize(x[0].permute(1, 2, 0).numpy(), (big, big), interpolation=cv2.INTER_CUBIC)
                          .clip(0, 1).transpose(2, 0, 1).copy())[None]
    mb = torch.from_numpy((cv2.resize(m[0, 0].numpy(), (big, big), interpolation=cv2.INTER_NEAREST) > 0.5)
                          .astype(np.float32))[None, None]
    xb = xb * mb
    whole = _enhancer(module, info, big, device, backend, threads=threads)
    ref = whole._forward(xb, mb)
    rgb = xb[0].permute(1, 2, 0).numpy()
    mask = mb[0, 0].numpy() > 0.5
    rows = []
    for tile in tiles:
        for overlap in overlaps:
            if tile > big:
                continue
            enh = _enhancer(module, info, size, device, backend, mode="tiled", tile=tile, overlap=overlap,
                            threads=threads)
            s = enh.settings
            enh._run_tiled(rgb, mask, s, None, None, 0, 1)  # warm-up (prepares the path at this tile size)
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                y = enh._run_tiled(rgb, mask, s, None, None, 0, 1)
                times.append(time.perf_counter() - t)
            yt = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))[None]
            p = psnr_db(yt, ref, mb)
            rows.append({"tile": tile, "overlap": overlap, "tiles": enh.tile_count(big), "seconds": summary(times),
                         "psnr_db_vs_whole": round(p, 1) if np.isfinite(p) else "identical"})
            log(f"  tiles {tile}/{overlap}: {statistics.median(times):.3f} s, {rows[-1]['psnr_db_vs_whole']} dB")
    good = [r for r in rows if r["psnr_db_vs_whole"] == "identical" or r["psnr_db_vs_whole"] >= 45.0]
    best = min(good or rows, key=lambda r: r["seconds"]["median"]) if rows else None
    return {"network_side": big, "path": backend, "rows": rows, "best": best,
            "rule": "fastest tile size / overlap whose output is >= 45 dB from the untiled network"}


def bench_throughput(enh: Any, image: BenchImage, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Photos per second through Enhancer.enhance_many (photos already in memory, nothing written):
    on a GPU path the network takes several photos per call and the guided step runs on the GPU."""

    photo = read(image.path)
    list(enh.enhance_many([photo]))  # warm-up
    with PeakSampler() as mem:
        t = time.perf_counter()
        results = list(enh.enhance_many([photo] * n))
        dt = time.perf_counter() - t
    ok = sum(1 for r in results if hasattr(r, "pixels"))
    rec = {"photo": image.key, "photos": n, "ok": ok, "seconds": round(dt, 3), "photos_per_s": round(ok / dt, 2),
           "batch": enh.max_batch_for(enh.settings.working_size), "path": enh.inference.name if enh.inference else None,
           "peak_rss_mb": round(mem.peak, 1)}
    log(f"  throughput on {image.key}: {rec['photos_per_s']} photos/s ({n} photos, batch {rec['batch']})")
    return rec


def machine_info(device: str) -> dict[str, Any]:
    info = machine_descriptor(device)
    info["malloc"] = tune_malloc()  # as the application does; applies to every path alike
    info["torch_threads"] = torch.get_num_threads()
    info["python"] = platform.python_version()
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


def run_bench(
    images: Sequence[BenchImage] | None = None,
    *,
    model: str | None = None,
    module: Any = None,
    working_size: int | None = None,
    paths: Sequence[str] | None = None,
    repeat: int = 3,
    device: str = "cpu",
    baselines: bool = True,
    tiles: bool = True,
    tile_sizes: Sequence[int] = TILE_SIZES,
    tile_overlaps: Sequence[int] = TILE_OVERLAPS,
    log: Callable[[str], None] = lambda s: None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run the whole benchmark and return the report (a JSON-ready dict)."""

    tmp = tempfile.TemporaryDirectory(prefix="fundus-bench-")
    work = Path(workdir) if workdir else Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    try:
        if module is None:
            module, info, size = load_model(model, device)
        else:
            info, size = {"name": "given module", "version": "-", "weights_sha256": None, "origin": "given"}, 512
        size = working_size or size
        model_key = info.get("weights_sha256") or module_fingerprint(module)
        if paths is None:
            paths = list(CUDA_PATHS) if device == "cuda" else list(CPU_PATHS)
        paths = [p for p in paths if p in PATHS]
        images = list(images) if images is not None else default_images(work)
        report: dict[str, Any] = {
            "schema": SCHEMA,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine_info(device),
            "model": {k: info.get(k) for k in ("name", "version", "weights_sha256", "origin")},
            "working_size": size,
            "repeat": repeat,
            "images": [{"key": i.key, "path": str(i.path), "source": i.source, "width": i.width, "height": i.height}
                       for i in images],
        }
        # 1. the path the Enhancer picks by itself (measured on the largest photo's input, or cached)
        biggest = max(images, key=lambda i: i.width * i.height)
        x, m = _working_input(biggest, size)
        log(f"choosing the inference path on {biggest.key} ({biggest.width}x{biggest.height})")
        auto = _enhancer(module, info, size, device, "auto")
        t = time.perf_counter()
        choice = auto._choice_for(x, m)
        measured = list(dict.fromkeys(m.path for m in choice.measurements))  # includes built AOT paths
        report["chosen"] = {**choice.to_dict(), "selection_s": round(time.perf_counter() - t, 2),
                            "candidates": measured or default_candidates(device)}
        log(f"  chosen: {choice.label} ({choice.reason})")
        # 2. the network alone on every path
        log(f"network alone at {size}x{size} on {biggest.key}'s working input")
        backends: dict[str, Any] = {}
        report["network"] = bench_network(module, x, m, paths, repeat, model_key, log, device, keep=backends)
        # 3. end to end per photo: baselines, and MAGE-Net on each path that runs, at its best thread count
        best_rows = report["network"]["best"]
        runnable = [p for p in [selector.reference_for(device), *paths] if p in best_rows]
        runnable = list(dict.fromkeys(runnable))
        pipeline: dict[str, Any] = {}
        for image in images:
            log(f"end to end on {image.key} ({image.width}x{image.height}, {image.source})")
            rows: dict[str, Any] = {}
            if baselines:
                for name, fn in BASELINES.items():
                    rows[f"baseline:{name}"] = _time_pipeline(image, _baseline_process(fn), _baseline_write, work, repeat)
                    log(f"  {name}: {rows[f'baseline:{name}']['total']['median']:.3f} s")
            for name in runnable:
                enh = _enhancer(module, info, size, device, name)
                enh._inference[size] = InferenceChoice(backends[name], "bench: the network measurement's backend")
                rows[f"mage:{name}"] = _time_pipeline(image, _mage_process(enh), _mage_write, work, repeat)
                log(f"  mage {name}: {rows[f'mage:{name}']['total']['median']:.3f} s")
                del enh
                gc.collect()
            ref = rows.get(f"mage:{runnable[0]}" if runnable else "", {}).get("total", {}).get("median")
            for rec in rows.values():
                if ref:
                    rec["ratio_to_float32"] = round(rec["total"]["median"] / ref, 3)
            pipeline[image.key] = rows
        report["pipeline"] = pipeline
        # 4. tile size and overlap for tiled mode, on the chosen path
        if tiles:
            sample = next((i for i in images if i.key == "sample"), biggest)
            log(f"tiled mode on {sample.key}: tile sizes {list(tile_sizes)}, overlaps {list(tile_overlaps)}")
            report["tiles"] = bench_tiles(module, info, sample, size, device, choice.name, repeat, log,
                                          tile_sizes, tile_overlaps, threads=choice.backend.threads)
        # 5. photos per second in a batch (the GPU target; on the CPU for comparison)
        n = 32 if device == "cuda" else 3
        log(f"batch throughput on {biggest.key}: {n} photos")
        report["throughput"] = bench_throughput(auto, biggest, n, log)
        report["peak_rss_mb"] = round(peak_rss_mb(), 1)
        report["targets"] = _targets(report, choice.name, device)
        report["machine"]["load_average_end"] = machine_info(device).get("load_average")
        return report
    finally:
        tmp.cleanup()


def _targets(report: dict[str, Any], chosen: str, device: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    net = report.get("network", {})
    rows, best = net.get("rows", {}), net.get("best", {})
    ref = "cuda_fp32" if device == "cuda" else "eager"
    if chosen in best and ref in best:
        sp = rows[best[ref]]["seconds"]["median"] / rows[best[chosen]]["seconds"]["median"]
        out["chosen_vs_float32_network"] = {
            "value": round(sp, 2), "target": ">= 2.0x", "met": sp >= TARGETS["chosen_vs_eager_network_speedup"],
            "note": f"against {ref} in this process, at its best thread count and with the same allocator "
                    f"settings ({report.get('machine', {}).get('malloc', 'n/a')})",
        }
    hrf = report.get("pipeline", {}).get("hrf", {}).get(f"mage:{chosen}")
    if hrf:
        v = hrf["total"]["median"]
        out["hrf_fast_end_to_end"] = {"value_s": v, "target": "<= 2.5 s", "met": v <= TARGETS["hrf_fast_end_to_end_s"]}
    thr = report.get("throughput")
    if device == "cuda" and thr:
        v = thr["photos_per_s"]
        out["gpu_photos_per_s"] = {"value": v, "target": ">= 20 /s", "met": v >= TARGETS["gpu_photos_per_s"],
                                   "note": f"{thr['photos']} x {thr['photo']} in memory, enhance_many, nothing written"}
    else:
        out["gpu_photos_per_s"] = {"value": None, "target": ">= 20 /s", "met": None,
                                   "note": "no GPU in this run: run `fundus-studio bench --device cuda` on a GPU"}
    return out


# ---------------------------------------------------------------- table
def format_table(report: dict[str, Any]) -> str:
    """The report as plain-text tables (what the command prints)."""
    lines: list[str] = []
    mach = report["machine"]
    lines.append(f"Fundus Studio bench  {report['created_utc']}  {mach.get('cpu')} ({mach.get('cores')} cores), "
                 f"torch {mach.get('torch')}, onnxruntime {mach.get('onnxruntime')}, device {mach.get('device')}, "
                 f"load {mach.get('load_average')} -> {mach.get('load_average_end')}")
    mod = report["model"]
    lines.append(f"model {mod['name']} {mod['version']} ({mod['origin']}), working size {report['working_size']}, "
                 f"repeats {report['repeat']} (median [min-max] seconds)")
    for img in report["images"]:
        lines.append(f"  photo {img['key']}: {img['width']}x{img['height']}  {img['source']}")
    ch = report["chosen"]
    lines.append(f"chosen path: {ch['label']} - {ch['reason']}"
                 f"{' (cached)' if ch.get('from_cache') else ''}; selection took {ch['selection_s']} s")
    lines.append("")
    lines.append(f"Network alone at {report['working_size']}x{report['working_size']}:")
    lines.append(f"  {'path@threads':<18}{'median':>8}{'min':>8}{'max':>8}{'x f32':>8}{'PSNR dB':>10}{'prep s':>8}{'peak MB':>9}")
    for name, r in report["network"]["rows"].items():
        if "seconds" not in r:
            lines.append(f"  {name:<18}{r.get('note') or r.get('failed', '')}")
            continue
        s = r["seconds"]
        lines.append(f"  {name:<18}{s['median']:>8.3f}{s['min']:>8.3f}{s['max']:>8.3f}{r.get('speedup_vs_float32', 0):>8.2f}"
                     f"{str(r['psnr_db_vs_float32']):>10}{r['prepare_s']:>8.1f}{r['peak_rss_mb']:>9.0f}")
    for key, rows in report["pipeline"].items():
        img = next(i for i in report["images"] if i["key"] == key)
        lines.append("")
        lines.append(f"End to end on {key} ({img['width']}x{img['height']}), median s per stage:")
        stage_names = ["read", "fov", "prepare", "enhance", "inference", "upsample", "write"]
        lines.append(f"  {'method':<24}" + "".join(f"{n:>10}" for n in stage_names)
                     + f"{'total':>18}{'x f32':>7}{'peak MB':>9}")
        for name, r in rows.items():
            st = r["stages"]
            cells = "".join(f"{st[n]['median']:>10.3f}" if n in st else f"{'':>10}" for n in stage_names)
            t = r["total"]
            lines.append(f"  {name:<24}{cells}{t['median']:>8.3f} [{t['min']:.2f}-{t['max']:.2f}]"
                         f"{r.get('ratio_to_float32', 0):>7.2f}{r['peak_rss_mb']:>9.0f}")
    if "tiles" in report:
        tl = report["tiles"]
        lines.append("")
        lines.append(f"Tiled mode, network at {tl['network_side']}px on {tl['path']}:")
        for r in tl["rows"]:
            lines.append(f"  tile {r['tile']:>4} overlap {r['overlap']:>3} ({r['tiles']:>2} tiles): "
                         f"{r['seconds']['median']:.3f} s, {r['psnr_db_vs_whole']} dB vs untiled")
        if tl["best"]:
            lines.append(f"  best: tile {tl['best']['tile']}, overlap {tl['best']['overlap']}")
    if "throughput" in report:
        th = report["throughput"]
        lines.append("")
        lines.append(f"Batch throughput ({th['photos']} x {th['photo']} in memory, path {th['path']}, batch {th['batch']}): "
                     f"{th['photos_per_s']} photos/s, peak {th['peak_rss_mb']:.0f} MB")
    lines.append("")
    lines.append(f"peak resident memory of the process: {report['peak_rss_mb']:.0f} MB")
    for name, t in report["targets"].items():
        met = {True: "MET", False: "NOT MET", None: "not measured"}[t["met"]]
        val = t.get("value", t.get("value_s"))
        lines.append(f"target {name}: {val} (target {t['target']}) {met}{' - ' + t['note'] if t.get('note') else ''}")
    return "\n".join(lines)


def save_json(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    Path(path).write_text(json.dumps(report, indent=1, default=str))
