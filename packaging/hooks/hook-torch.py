"""torch for the Fundus Studio bundle: the contrib hook, minus torch's tests, C++ test programs and codegen.

Overrides pyinstaller-hooks-contrib's hook-torch (hooks in the spec's hookspath win).
Modules go into the PYZ archive only, without the 37 MB of .py source the contrib hook adds
for TorchScript (we never script or compile models in the app; bundle_rules.TORCH_SOURCE
keeps the source of packages that need it). Same binaries, but the blanket submodule collection skips the
prefixes in bundle_rules.TORCH_SKIPPED_SUBMODULES; anything a kept module imports still
comes in through the import graph.
"""

from PyInstaller.utils.hooks import PY_DYLIB_PATTERNS, collect_data_files, collect_dynamic_libs, collect_submodules

from bundle_rules import TORCH_SOURCE, excluded, keep_torch_submodule

module_collection_mode = {"torch": "pyz", **{name: "pyz+py" for name in TORCH_SOURCE}}
warn_on_missing_hiddenimports = False

datas = [d for d in collect_data_files(
    "torch", excludes=["**/*.h", "**/*.hpp", "**/*.cuh", "**/*.lib", "**/*.cpp", "**/*.pyi", "**/*.cmake",
                       "**/test/**", "**/include/**", "**/testing/_internal/**"],
) if not excluded(d[1] + "/" + d[0].rsplit("/", 1)[-1])]
hiddenimports = collect_submodules("torch", filter=keep_torch_submodule)
binaries = [b for b in collect_dynamic_libs("torch", search_patterns=PY_DYLIB_PATTERNS + ["*.so.*"])
            if not excluded(b[1] + "/" + b[0].rsplit("/", 1)[-1])]
# torch looks its libraries up next to itself (torch/lib); links to them at the top level confuse it
bindepend_symlink_suppression = ["**/torch/lib/*.so*"]


def _nvidia_hiddenimports() -> list:
    """CUDA build: the nvidia-* wheels torch depends on (cuBLAS, cuDNN...), as the contrib hook infers them."""
    try:
        import packaging.requirements
        from _pyinstaller_hooks_contrib.compat import importlib_metadata
        from _pyinstaller_hooks_contrib.utils import nvidia_cuda

        dist = importlib_metadata.distribution("torch")
        reqs = [packaging.requirements.Requirement(r) for r in dist.requires or []]
        names = [r.name for r in reqs if r.marker is None or r.marker.evaluate()]
        return nvidia_cuda.infer_hiddenimports_from_requirements(names)
    except Exception:  # noqa: BLE001 - CPU build: nothing to add
        return []


hiddenimports += _nvidia_hiddenimports()
