"""Pick the fastest inference path that gives the same picture, once per machine and model.

On first use the candidates are timed on the photo's own working-size input and each
one's output is compared with eager float32 on the same device (PSNR inside the field of
view; below MIN_PSNR_DB a path is refused however fast it is). The fastest survivor,
with its best thread count, is used only if it beats eager by a margin; the choice is
cached in the user cache dir, keyed by everything that could change the answer (model
weights, input side, torch / onnxruntime versions, CPU or GPU model, core count), so a
new model, a library update or another machine measures again. A backend that is
missing or fails is skipped with its reason recorded: the worst case is eager float32.

Measuring takes seconds to minutes on a busy computer, so `should_stop()` is asked
between backends, thread counts and timing repeats: closing the window (or cancelling
a photo) ends it within one network run, raising core.errors.Cancelled; nothing is cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.errors import Cancelled
from core.inference.aot import AOT_PATHS, AotBackend, AotBF16Backend, PackageMissing, built_packages
from core.inference.backends import (
    ChannelsLastBackend,
    CompiledBackend,
    CompiledBF16Backend,
    CpuBF16Backend,
    InferenceBackend,
)
from core.inference.cuda import CudaBackend, CudaBF16Backend, CudaFP16Backend
from core.inference.graph import module_fingerprint
from core.inference.machine import cpu_name
from core.inference.onnx_backend import OnnxRuntimeBackend, ort_version
from core.paths import user_cache_dir
from core.progress import StopCallback, check_stop

log = logging.getLogger(__name__)

MIN_PSNR_DB = 45.0
"""A faster path must reproduce eager float32 to at least this PSNR (inside the FOV)."""

MIN_GAIN = 1.05
"""...and be at least this much faster, or eager stays (no switching for noise)."""

FINAL_ROUNDS = 3
"""Interleaved re-timing rounds of the three fastest paths before choosing."""

CACHE_SCHEMA = 1
CPU_PATHS = ("eager", "channels_last", "cpu_bf16", "onnxruntime", "compiled", "compiled_bf16", "aot", "aot_bf16")
CUDA_PATHS = ("cuda_fp32", "cuda_fp16", "cuda_bf16")
AUTO_EXCLUDED = ("compiled", "compiled_bf16", "aot", "aot_bf16")
"""Compiling costs tens of seconds in every new process: opt in with FUNDUS_STUDIO_COMPILE=1.
The AOT paths join automatically once `fundus-studio optimise` has built their package."""

_FACTORIES: dict[str, Callable[..., InferenceBackend]] = {
    "eager": InferenceBackend,
    "channels_last": ChannelsLastBackend,
    "cpu_bf16": CpuBF16Backend,
    "onnxruntime": OnnxRuntimeBackend,
    "compiled": CompiledBackend,
    "compiled_bf16": CompiledBF16Backend,
    "aot": AotBackend,
    "aot_bf16": AotBF16Backend,
    "cuda_fp32": CudaBackend,
    "cuda_fp16": CudaFP16Backend,
    "cuda_bf16": CudaBF16Backend,
}
PATHS = tuple(_FACTORIES)


def make_backend(name: str, threads: int | None = None, model_key: str | None = None,
                 build: bool = False) -> InferenceBackend:
    """A fresh, unprepared backend by name; `build` lets an AOT path compile its package when missing."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown inference path {name!r}; choose one of {', '.join(PATHS)}")
    if name == "onnxruntime":
        return OnnxRuntimeBackend(threads=threads, model_key=model_key)
    if name in AOT_PATHS:
        return _FACTORIES[name](threads=threads, model_key=model_key, build=build)  # type: ignore[call-arg]
    return _FACTORIES[name](threads=threads)


def reference_for(device: str) -> str:
    return "cuda_fp32" if device == "cuda" else "eager"


def default_candidates(device: str) -> list[str]:
    """The paths automatic selection tries on this device (compiled ones only when opted in)."""
    if device == "cuda":
        return list(CUDA_PATHS)
    paths = list(CPU_PATHS)
    if os.environ.get("FUNDUS_STUDIO_COMPILE", "") not in ("1", "true", "yes"):
        paths = [p for p in paths if p not in AUTO_EXCLUDED]
    return paths


def thread_options() -> list[int]:
    """Intra-op thread counts worth trying: 1 and all cores (on 2 cores that is all of them)."""
    n = max(1, os.cpu_count() or 1)
    opts = {1, n, torch.get_num_threads()}
    if n >= 8:
        opts.add(n // 2)
    return sorted(o for o in opts if 1 <= o <= n)


def psnr_db(a: torch.Tensor, b: torch.Tensor, fov: torch.Tensor | None = None) -> float:
    """PSNR of a against b (both in [0, 1]) over the FOV pixels; inf when identical."""
    diff = (a.float().clamp(0, 1) - b.float().clamp(0, 1)) ** 2
    if fov is not None:
        w = fov.float().expand_as(diff)
        mse = float((diff * w).sum() / w.sum().clamp_min(1.0))
    else:
        mse = float(diff.mean())
    return float("inf") if mse <= 0 else float(10.0 * np.log10(1.0 / mse))


def machine_descriptor(device: str) -> dict[str, Any]:
    """What makes timings differ between machines (part of the cache key)."""
    desc: dict[str, Any] = {
        "device": device,
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "onnxruntime": ort_version(),
        "platform": platform.system(),
    }
    if device == "cuda" and torch.cuda.is_available():
        desc["gpu"] = torch.cuda.get_device_name(0)
    return desc


def cache_key(model_key: str, size: int, device: str, candidates: Sequence[str]) -> str:
    payload = {
        "schema": CACHE_SCHEMA,
        "model": model_key,
        "size": int(size),
        "machine": machine_descriptor(device),
        "candidates": sorted(candidates),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_file() -> Path:
    return user_cache_dir() / "inference" / "choices.json"


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, key: str, record: dict[str, Any]) -> None:
    data = _read_cache(path)
    data[key] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


@dataclass
class Measurement:
    """One candidate path on the selection input."""

    path: str
    threads: int | None
    seconds: float | None = None
    psnr_db: float | None = None
    prepare_seconds: float | None = None
    ok: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        if d["psnr_db"] is not None and not np.isfinite(d["psnr_db"]):
            d["psnr_db"] = "inf"
        return d


@dataclass
class InferenceChoice:
    """The path in use: the prepared backend, why it was chosen, and what was measured."""

    backend: InferenceBackend
    reason: str
    measurements: list[Measurement] = field(default_factory=list)
    from_cache: bool = False
    key: str = ""

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def label(self) -> str:
        return self.backend.describe()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.name,
            "threads": self.backend.threads,
            "label": self.label,
            "reason": self.reason,
            "from_cache": self.from_cache,
            "measurements": [m.to_dict() for m in self.measurements],
        }


def _time(backend: InferenceBackend, x: torch.Tensor, m: torch.Tensor, repeats: int,
          should_stop: StopCallback | None = None) -> float:
    """Best of `repeats` runs after the warm-up already done (least disturbed by other programs)."""
    times = []
    for _ in range(max(1, repeats)):
        check_stop(should_stop)
        t = time.perf_counter()
        backend(x, m)
        times.append(time.perf_counter() - t)
    return min(times)


def _try(
    backend: InferenceBackend, module: nn.Module, x: torch.Tensor, m: torch.Tensor,
    ref: torch.Tensor | None, repeats: int, budget: float | None = None,
    should_stop: StopCallback | None = None,
) -> tuple[Measurement, torch.Tensor | None]:
    """Prepare, check fidelity, time. With `budget` (seconds), a warm-up slower than that
    ends the try: the path cannot win, and timing it again would only delay the first photo."""
    check_stop(should_stop)
    meas = Measurement(backend.name, backend.threads)
    why = backend.available()
    if why:
        meas.note = f"not available: {why}"
        return meas, None
    try:
        backend.prepare(module, int(x.shape[-1]))
        meas.prepare_seconds = round(backend.prepare_seconds, 3)
        check_stop(should_stop)  # preparing (an ONNX export, a compile) can take long on a busy computer
        t = time.perf_counter()
        out = backend(x, m)  # warm-up, and the output checked for fidelity
        warm = time.perf_counter() - t
        meas.psnr_db = psnr_db(out, ref, m) if ref is not None else float("inf")
        if ref is not None and meas.psnr_db < MIN_PSNR_DB:
            meas.note = f"refused: output {meas.psnr_db:.1f} dB from float32 (needs >= {MIN_PSNR_DB:.0f} dB)"
            return meas, out
        if budget is not None and warm > budget:
            meas.note = f"slower: first run {warm:.3f} s against {budget:.3f} s allowed"
            return meas, out
        meas.seconds = _time(backend, x, m, repeats, should_stop)
        meas.ok = True
        return meas, out
    except Cancelled:
        raise
    except PackageMissing as exc:
        meas.note = f"not available: {exc}"
        return meas, None
    except Exception as exc:  # noqa: BLE001 - any failing path is skipped, with the reason kept
        meas.note = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
        log.warning("inference path %s failed: %s", backend.name, exc)
        return meas, None


def select_backend(
    module: nn.Module,
    x: torch.Tensor,
    fov: torch.Tensor,
    *,
    device: str = "cpu",
    model_key: str | None = None,
    candidates: Sequence[str] | None = None,
    use_cache: bool = True,
    repeats: int = 2,
    progress: Callable[[str], None] | None = None,
    should_stop: StopCallback | None = None,
) -> InferenceChoice:
    """Measure the candidate paths on (x, fov) and return the fastest faithful one, prepared.

    x (1,3,S,S), fov (1,1,S,S): CPU float32, a real working-size input preferably.
    Raises Cancelled (between two runs) once `should_stop()` is true.
    """

    model_key = model_key or module_fingerprint(module)
    size = int(x.shape[-1])
    built = built_packages(model_key, size) if device == "cpu" else {}
    if candidates is None:  # automatic: the AOT paths join once their package exists
        cands = default_candidates(device)
        cands += [p for p in built if p not in cands]
    else:
        cands = list(candidates)
    ref_name = reference_for(device)
    key = cache_key(model_key, size, device, cands)
    path = cache_file()
    if use_cache:
        cached = _read_cache(path).get(key)
        if cached:
            choice = _from_cache(cached, module, size, model_key, key)
            if choice is not None:
                return choice
    if progress:
        progress("measuring the inference paths of this computer (once)")

    measurements: list[Measurement] = []
    cpu = device == "cpu"
    threads = thread_options() if cpu else [None]
    # 1. the reference at every thread count: its best is what a faster path must beat
    ref_out: torch.Tensor | None = None
    survivors: list[tuple[Measurement, InferenceBackend]] = []
    for n in threads:
        ref_backend = make_backend(ref_name, threads=n, model_key=model_key)
        fastest = min((mb[0].seconds for mb in survivors if mb[0].seconds), default=None)
        meas, out = _try(ref_backend, module, x, fov, None, repeats, _budget(fastest), should_stop)
        measurements.append(meas)
        if out is not None and ref_out is None:
            ref_out = out
        if meas.ok:
            survivors.append((meas, ref_backend))
    if ref_out is None or not survivors:  # the reference itself failed: nothing to compare with
        raise RuntimeError(f"the model does not run on {device}: {measurements[0].note}")
    best_threads = min(survivors, key=lambda mb: mb[0].seconds or float("inf"))[1].threads
    # 2. every other path at that thread count
    others: list[tuple[Measurement, InferenceBackend]] = []
    for name in cands:
        if name == ref_name:
            continue
        n = best_threads
        if name in built and n not in built[name]:
            n = max(built[name])  # a package fixes its thread count: time the one that exists
        backend = make_backend(name, threads=n, model_key=model_key)
        meas, _ = _try(backend, module, x, fov, ref_out, repeats, should_stop=should_stop)
        measurements.append(meas)
        if meas.ok:
            others.append((meas, backend))
    # 3. the two best of them at the other thread counts (the best count differs per path)
    others.sort(key=lambda mb: mb[0].seconds or float("inf"))
    for meas, backend in list(others[:2]):
        for n in threads:
            if n == backend.threads:  # already measured at this count (an AOT package may fix another)
                continue
            other = backend.with_threads(n)
            m2, _ = _try(other, module, x, fov, ref_out, repeats, _budget(meas.seconds), should_stop)
            measurements.append(m2)
            if m2.ok:
                others.append((m2, other))
    survivors += others
    # 4. a final round: the three fastest (and the best float32) timed again in turn, so a burst
    # of load from another program during one path's turn does not decide the choice
    survivors.sort(key=lambda mb: mb[0].seconds or float("inf"))
    finalists = survivors[:3]
    best_ref = next((mb for mb in survivors if mb[1].reference), None)
    if best_ref is not None and best_ref not in finalists:
        finalists.append(best_ref)  # the bar is re-timed too, so the reported gain is fair
    for _ in range(FINAL_ROUNDS if len(finalists) > 1 else 0):
        for meas, backend in finalists:
            check_stop(should_stop)
            t = time.perf_counter()
            backend(x, fov)
            meas.seconds = min(meas.seconds or float("inf"), time.perf_counter() - t)

    check_stop(should_stop)  # before choosing and caching: a stopped measurement leaves no record
    survivors.sort(key=lambda mb: mb[0].seconds or float("inf"))
    best_meas, best = survivors[0]
    ref_time = min(m.seconds for m, b in survivors if b.reference and m.seconds)
    if not best.reference and ref_time / best_meas.seconds < MIN_GAIN:
        best_meas, best = min(((m, b) for m, b in survivors if b.reference), key=lambda mb: mb[0].seconds)
        reason = f"no path beat {ref_name} by {MIN_GAIN:.2f}x"
    else:
        reason = (f"fastest of {len(survivors)} measured paths: {best_meas.seconds:.3f} s vs "
                  f"{ref_time:.3f} s for float32 ({ref_time / best_meas.seconds:.2f}x), "
                  f"{_fmt_db(best_meas.psnr_db)} from float32")
    record = {
        "path": best.name,
        "threads": best.threads,
        "reason": reason,
        "size": size,
        "model_key": model_key,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_descriptor(device),
        "measurements": [m.to_dict() for m in measurements],
    }
    if use_cache:
        try:
            _write_cache(path, key, record)
        except OSError as exc:  # a read-only cache dir only costs a re-measurement next time
            log.warning("could not cache the inference choice: %s", exc)
    if best.size != size:
        best.prepare(module, size)
    return InferenceChoice(best, reason, measurements, from_cache=False, key=key)


def _budget(best: float | None) -> float | None:
    """Warm-up time beyond which a try is abandoned: clearly slower than the best so far
    (a warm-up includes one-off costs, hence the margin)."""
    return None if best is None else 2.0 * best + 0.05


def _fmt_db(v: float | None) -> str:
    if v is None:
        return "n/a"
    return "identical" if not np.isfinite(v) else f"{v:.1f} dB"


def _from_cache(record: dict[str, Any], module: nn.Module, size: int, model_key: str, key: str) -> InferenceChoice | None:
    """Rebuild a cached choice; None when it no longer works here (then we measure again)."""
    try:
        backend = make_backend(str(record["path"]), threads=record.get("threads"), model_key=model_key)
        if record.get("model_key") != model_key or backend.available():
            return None
        backend.prepare(module, size)
    except Exception as exc:  # noqa: BLE001 - e.g. a deleted ONNX file that fails to re-export
        log.warning("cached inference path %s no longer works (%s); measuring again", record.get("path"), exc)
        return None
    meas = [Measurement(**{k: (float("inf") if v == "inf" else v) for k, v in m.items()})
            for m in record.get("measurements", []) if isinstance(m, dict)]
    return InferenceChoice(backend, str(record.get("reason", "cached")) + " (measured earlier)", meas,
                           from_cache=True, key=key)


def fixed_backend(
    name: str, module: nn.Module, size: int, *, model_key: str | None = None, device: str = "cpu",
    threads: int | None = None,
) -> InferenceChoice:
    """A named path without measuring; falls back to the reference with the reason when it cannot run."""
    backend = make_backend(name, threads=threads, model_key=model_key)
    why = backend.available()
    if why is None:
        try:
            backend.prepare(module, size)
            return InferenceChoice(backend, "chosen in settings")
        except Exception as exc:  # noqa: BLE001
            why = f"{type(exc).__name__}: {exc}"
    log.warning("inference path %s unavailable (%s); using %s", name, why, reference_for(device))
    ref = make_backend(reference_for(device), model_key=model_key)
    ref.prepare(module, size)
    return InferenceChoice(ref, f"{name} unavailable ({why}); fell back to float32")
