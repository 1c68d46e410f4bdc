"""AOTInductor: the network compiled ahead of time for this computer, loaded in about a second.

torch.compile is the fastest way to run MAGE-Net on a CPU: it fuses the full-resolution
stage's element-wise work (attention scaling, PReLU, residual adds, all memory-bound at
16 x 512 x 512) into the loops around the convolutions. But compiling costs 25-60 s in
every new process, which is why the in-process `compiled` paths are opt-in. AOTInductor
does the same compilation once and writes a package (.pt2: a shared library plus the
frozen weights) that later processes load in about a second.

Building needs a C++ compiler, loading does not. A package is built only on request
(`fundus-studio optimise`, or the bench), never behind the user's back: the automatic
choice considers it once it exists. Packages live in the user cache dir, keyed by the
model fingerprint, input side, precision, thread count (the generated loops fix it),
torch version and CPU, and are written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.inference.backends import ChannelsLastBackend, cpu_bf16_supported, find_compiler, torch_threads
from core.inference.graph import inference_graph, module_fingerprint
from core.inference.machine import cpu_name
from core.paths import user_cache_dir

log = logging.getLogger(__name__)

AOT_PATHS = ("aot", "aot_bf16")


class PackageMissing(RuntimeError):
    """The network has not been compiled for this input side, precision and thread count yet."""


def package_dir() -> Path:
    """The folder of every compiled package (derived files: safe to delete)."""

    return user_cache_dir() / "aot"


def package_path(model_key: str, size: int, bf16: bool, threads: int) -> Path:
    """Where the package for these settings lives (whether or not it exists yet)."""
    torch_ver = torch.__version__.split("+")[0]
    cpu = hashlib.sha256(cpu_name().encode()).hexdigest()[:8]
    precision = "bf16" if bf16 else "fp32"
    name = f"{model_key[:24]}-{size}-{precision}-t{threads}-torch{torch_ver}-cpu{cpu}.pt2"
    return package_dir() / name


def aot_supported() -> str | None:
    """None when this PyTorch can load AOTInductor packages, else why not (e.g. a trimmed bundle)."""
    try:
        from torch._inductor import aoti_load_package  # noqa: F401, PLC0415 - a probe: this PyTorch may lack it
    except Exception as exc:  # noqa: BLE001 - any import failure means the path is unavailable
        return f"this PyTorch cannot load compiled packages ({type(exc).__name__})"
    return None


def why_cannot_build() -> str | None:
    """None when packages can be built here, else a reason a site engineer can act on."""

    if getattr(sys, "frozen", False):
        return ("the installed application cannot compile (it carries no compiler tool chain); "
                "it already uses the fastest path that needs none")
    if find_compiler() is None:
        return "no C++ compiler (g++ or clang++) was found on this computer"
    return None


def build_package(module: nn.Module, size: int, bf16: bool, threads: int, path: Path) -> Path:
    """Export and compile ImageOnly(module) for (1,3,size,size) channels-last input; atomic write.

    Costs 25-60 s and a C++ compiler; the weights are frozen into the package.
    """
    why = why_cannot_build()
    if why:
        raise RuntimeError(f"cannot compile the model here: {why}")
    import torch._inductor.config as inductor_config  # noqa: PLC0415 - torch._inductor takes seconds to import; only compiled paths need it

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(user_cache_dir() / "inductor"))
    graph = inference_graph(module.cpu(), torch.bfloat16 if bf16 else None, channels_last=True)
    x = torch.zeros(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    m = torch.ones(1, 1, size, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    freezing = inductor_config.freezing
    try:
        inductor_config.freezing = True  # weights become constants: prepacked for oneDNN, folded
        with torch.no_grad(), torch_threads(threads):
            exported = torch.export.export(graph, (x, m))
            built = torch._inductor.aoti_compile_and_package(exported, package_path=str(work / path.name))
        os.replace(built, path)
    finally:
        inductor_config.freezing = freezing
        shutil.rmtree(work, ignore_errors=True)
    return path


def built_packages(model_key: str, size: int) -> dict[str, list[int]]:
    """AOT path name -> thread counts that have a package for this model and side."""
    out: dict[str, list[int]] = {}
    for name, bf16 in (("aot", False), ("aot_bf16", True)):
        probe = package_path(model_key, size, bf16, 0)
        prefix, suffix = probe.name.split("-t0-")
        counts = []
        for f in package_dir().glob(f"{prefix}-t*-{suffix}"):
            n = f.name[len(prefix) + 2:-len(suffix) - 1]
            if n.isdigit():
                counts.append(int(n))
        if counts:
            out[name] = sorted(counts)
    return out


class AotBackend(ChannelsLastBackend):
    """A package built ahead of time by AOTInductor, float32; `build=True` compiles it when missing."""

    name = "aot"
    label = "AOTInductor float32, channels-last"
    bf16 = False

    def __init__(self, threads: int | None = None, model_key: str | None = None, build: bool = False) -> None:
        super().__init__(threads)
        self.model_key = model_key
        self.build = build
        self.runner: Any = None
        self.package: Path | None = None
        self.built_now = False
        self.build_seconds = 0.0

    def available(self) -> str | None:
        if self.bf16 and not cpu_bf16_supported():
            return "this CPU has no native bfloat16 instructions (AVX512-BF16 or AMX)"
        return aot_supported()

    def with_threads(self, threads: int | None) -> "AotBackend":
        other = super().with_threads(threads)
        other.runner = None
        other.package = None
        return other  # type: ignore[return-value]

    def _threads(self) -> int:
        return int(self.threads or torch.get_num_threads())

    def prepare(self, module: nn.Module, size: int) -> None:
        t = time.perf_counter()
        key = self.model_key or module_fingerprint(module)
        path = package_path(key, size, self.bf16, self._threads())
        self.built_now = False
        if not path.exists():
            if not self.build:
                raise PackageMissing(
                    f"not compiled for this computer at {size} px and {self._threads()} threads yet "
                    "(run `fundus-studio optimise`)"
                )
            b = time.perf_counter()
            build_package(module, size, self.bf16, self._threads(), path)
            self.build_seconds = time.perf_counter() - b
            self.built_now = True
        from torch._inductor import aoti_load_package  # noqa: PLC0415 - torch._inductor takes seconds to import; only compiled paths need it

        try:
            self.runner = aoti_load_package(str(path))
        except Exception:
            path.unlink(missing_ok=True)  # a damaged or foreign package must not fail every later start
            raise
        self.package = path
        self.size = size
        self.module = None
        self.prepare_seconds = time.perf_counter() - t

    def __call__(self, x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        assert self.runner is not None, "prepare() first"
        with torch.inference_mode(), torch_threads(self.threads):
            out = self.runner(x.contiguous(memory_format=torch.channels_last), fov.contiguous())
        y = out[0] if isinstance(out, (list, tuple)) else out
        return y.float().contiguous()


class AotBF16Backend(AotBackend):
    """The bfloat16 graph of cpu_bf16, compiled ahead of time."""

    name = "aot_bf16"
    label = "AOTInductor bfloat16, channels-last"
    bf16 = True
