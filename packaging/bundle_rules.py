"""What goes into the PyInstaller bundle and what stays out (used by the spec, its hooks and tests).

Why a module of its own: the spec, packaging/hooks/hook-torch.py and
tests/packaging read the same rules, so the test checks what the build really does.
Each exclusion names what it saves (measured on the CPU build, see docs/packaging.md).
Nothing here imports PyInstaller, torch or Qt.
"""

from __future__ import annotations

import fnmatch
import json
import importlib.metadata as metadata
import os
from pathlib import Path
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "FundusStudio"
DIST_NAME = "fundus-studio"

# ----------------------------------------------------------------------------- our resources
RESOURCE_DIRS = ("models", "samples", "icons")
"""The only folders of resources/ that ship: our weights + cards, the CC0 sample and images made from it, icons."""
RESOURCE_SUFFIXES = {".safetensors", ".json", ".png", ".jpg", ".md", ".svg", ".ico", ".icns", ".txt"}
MAX_RESOURCE_MB = 60


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in str(version).split("."))


def superseded_model_stems(models_dir: Path) -> set[str]:
    """Stems (``mage-s-1.1.0``) of model cards that a newer version of the same model replaces.

    The repository keeps older shipped versions for comparison (evaluate, ship's do-no-harm check);
    the installer carries only the newest of each name, the one the app makes active.
    """
    newest: dict[str, tuple[tuple[int, ...], str]] = {}
    stems: list[tuple[str, tuple[int, ...], str]] = []
    for card in sorted(models_dir.glob("*.json")):
        try:
            data = json.loads(card.read_text())
            name, version = str(data["name"]), str(data["version"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a model card: ships as it is
        key = _version_key(version)
        stems.append((name, key, card.stem))
        if name not in newest or key > newest[name][0]:
            newest[name] = (key, card.stem)
    return {stem for name, key, stem in stems if newest[name][1] != stem}


def shipped_resources(root: Path = ROOT) -> Iterator[tuple[str, str]]:
    """(source file, folder inside the bundle) for every resource we may ship.

    Only regular files under resources/{models,samples,icons} with a known suffix; never
    a symlink (it could point into ../shared/data, the research datasets); of a model with
    several versions, only the newest (the bundle has a size budget, and older ones stay in the
    repository).
    """
    base = root / "resources"
    old = superseded_model_stems(base / "models") if (base / "models").is_dir() else set()
    for sub in RESOURCE_DIRS:
        for path in sorted((base / sub).rglob("*")):
            if path.is_symlink() or not path.is_file() or path.suffix.lower() not in RESOURCE_SUFFIXES:
                continue
            if any(part.startswith(".") for part in path.relative_to(base).parts):
                continue
            if sub == "models" and path.stem in old:  # mage-s-1.1.0.json / .safetensors
                continue
            yield str(path), str(path.parent.relative_to(root))


# ----------------------------------------------------------------------------- python modules
EXCLUDED_MODULES = [
    # development and test tools the app never imports (pytest alone pulls ~10 MB with its plugins)
    "pytest", "_pytest", "pytestqt", "pytest_timeout", "pluggy", "py", "hypothesis", "pygments",
    "IPython", "jedi", "parso", "pip", "wheel", "setuptools", "pkg_resources", "_distutils_hack",
    "tkinter", "_tkinter", "matplotlib", "pandas", "scipy", "PyQt5", "PyQt6", "PySide2",
    # only torch.compile's code generator uses these (training runs eagerly)
    "networkx", "jinja2", "markupsafe",
    # no network access in the app: without ssl/_hashlib the bundle needs no OpenSSL (hashlib keeps
    # its built-in sha256); Pillow's AVIF plugin (4.7 MB) reads no format we accept
    "ssl", "_ssl", "_hashlib", "PIL._avif", "PIL.AvifImagePlugin", "readline",
    # export/visualisation parts of torch we do not use (ONNX export needs `onnx`, which is not onnxruntime)
    "onnx", "onnxscript", "tensorboard", "torch.utils.tensorboard", "torch.utils.benchmark",
    "torch.utils.bottleneck", "torch.utils.hipify", "torch.utils.model_dump", "torch.utils.viz",
    # Qt bindings the app does not use (pyqtgraph imports QtTest and QtSvg inside try/except;
    # it needs QtOpenGL, for its OpenGL helpers)
    "PySide6.QtTest", "PySide6.QtSvg", "PySide6.QtSvgWidgets",
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtSql",
    "PySide6.QtDBus", "PySide6.QtDesigner", "PySide6.QtUiTools", "PySide6.QtHelp", "PySide6.QtXml",
    "PySide6.QtPdf", "PySide6.QtPdfWidgets", "PySide6.QtMultimedia", "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets", "PySide6.Qt3DCore", "PySide6.QtCharts", "PySide6.QtDataVisualization",
    "PySide6.QtConcurrent", "PySide6.QtPrintSupport",
    "cv2.qt", "pyqtgraph.opengl", "pyqtgraph.examples", "pyqtgraph.jupyter", "pyqtgraph.canvas",
    "pyqtgraph.flowchart",
]
"""Never bundled, even when something imports them (they are all optional or test-only there)."""

TORCH_SKIPPED_SUBMODULES = (
    # torch's hook collects every submodule; these are for its own tests, torch.compile code
    # generation and distributed tooling. Ones a kept module imports still come in through the
    # import graph (only the blanket collection skips them).
    "torch.testing._internal",
    "torch._inductor.codegen",
    "torch._inductor.fx_passes",
    "torch._inductor.kernel",
    "torch._inductor.autoheuristic",
    "torch._vendor.quack",
    "torch.distributed.checkpoint",
    "torch.distributed.pipelining",
    "torch.distributed._tools",
    "torch.ao.ns",
    "torch.contrib",
)
TORCH_ONNX_EXPORTER = "torch.onnx._internal"
"""Skipped too unless core exports ONNX itself (core.inference's onnxruntime path does)."""


TORCH_SOURCE: tuple[str, ...] = (
    # torch.utils._config_module reads each config module's own source at import time
    "torch._dynamo.config", "torch._export.config", "torch._functorch.config", "torch._inductor.config",
    "torch._inductor.config_comms", "torch.compiler.config", "torch.distributed.config",
    "torch.fx.experimental._config", "torch.utils.serialization.config",
    # source read while importing torch.distributed / torch.onnx / torch._dynamo, registering custom ops,
    # and in an optimiser step (recorded with inspect.findsource instrumented: docs/packaging.md)
    "torch._dynamo._trace_wrapped_higher_order_op", "torch._dynamo.variables.streams", "torch._library.custom_ops",
    "torch._native.registry", "torch.distributed._functional_collectives", "torch.distributed.tensor._collective_utils",
    "torch.functional", "torch.nn.functional", "torch.nn.modules.rnn", "torch.onnx.ops._impl",
    "torch.onnx.ops._symbolic_impl", "torch.utils._debug_mode._mode",
)
"""torch modules whose .py source ships next to the .pyc (inspect.getsource at run time); the rest
of torch (37 MB of .py) ships compiled only."""


def torch_skipped_submodules(root: Path | None = None) -> tuple[str, ...]:
    skipped = TORCH_SKIPPED_SUBMODULES + tuple(m for m in EXCLUDED_MODULES if m.startswith("torch."))
    if not uses_torch_onnx_export(root or ROOT):
        skipped += (TORCH_ONNX_EXPORTER,)
    return skipped


def keep_torch_submodule(name: str, _skipped: list = []) -> bool:  # noqa: B006 - computed once per build
    """Filter for collect_submodules("torch")."""
    if not _skipped:
        _skipped.extend(torch_skipped_submodules())
    return not any(name == p or name.startswith(p + ".") for p in _skipped)


# ----------------------------------------------------------------------------- files
SYSTEM_LIBRARIES = [
    "libX11", "libX11-xcb", "libXau", "libXdmcp", "libXext", "libXrender", "libxcb", "libglib-2.0", "libgio-2.0",
    "libgobject-2.0", "libgmodule-2.0", "libgthread-2.0", "libdbus-1", "libsystemd", "libgcrypt", "libgpg-error",
    "libfontconfig", "libfreetype", "libharfbuzz", "libgraphite2", "libexpat", "libffi", "libpcre2-8", "libselinux",
    "libmount", "libblkid", "libuuid", "libcap", "liblz4", "libbz2", "libkrb5", "libkrb5support", "libk5crypto",
    "libgssapi_krb5", "libcom_err", "libkeyutils", "libcairo", "libcairo-gobject", "libpixman-1", "libpango-1.0",
    "libpangocairo-1.0", "libpangoft2-1.0", "libfribidi", "libthai", "libdatrie", "libgdk_pixbuf-2.0",
    "libatk-1.0", "libbsd", "libmd", "libreadline", "libtinfo", "libz", "libzstd",
]
"""System libraries left to the workstation (matched at the bundle's top level only)."""

STRIP_PATTERNS = ["torch/lib/*.so*", "torch/_C*.so", "libpython3*.so*", "PySide6/Qt/lib/libicu*",
                  "python3.*/lib-dynload/*.so", "numpy/*/*.so", "_libjpeg*.so", "safetensors/*.so",
                  "google/_upb/*.so"]
"""Linux: libraries stripped of their symbol tables at build time (-100 MB for torch, -20 MB for the
rest). Only these: strip on the libraries auditwheel vendored and renamed (numpy.libs, opencv's .libs)
makes them unloadable ("ELF load command address/offset not page-aligned")."""

EXCLUDED_FILE_PATTERNS = [
    # torch: C++ test programs and protoc (torch/test 83 MB, torch/bin 50 MB), headers, test libraries
    "torch/test/*", "torch/bin/*", "torch/include/*", "torch/share/*", "torch/lib/libtorchbind_test.so",
    "torch/lib/libjitbackend_test.so", "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so",
    "torch/lib/*.a", "torch/_inductor/codegen/*.h", "torch/_inductor/codegen/*.cpp",
    "torch/testing/_internal/*", "torch/utils/benchmark/*", "torch/_export/serde/schema.yaml",
    # Qt: translations (the app is in English), platform plugins for embedded/kiosk displays,
    # Qt modules nobody imports (pulled as plugin dependencies)
    "PySide6/Qt/translations/*",
    "PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so", "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so", "PySide6/Qt/plugins/egldeviceintegrations/*",
    "PySide6/Qt/plugins/generic/*", "PySide6/Qt/plugins/networkinformation/*", "PySide6/Qt/plugins/tls/*",
    "PySide6/Qt/plugins/qmltooling/*", "PySide6/Qt/plugins/platformthemes/libqgtk3.so", "PySide6/Qt/plugins/sqldrivers/*", "PySide6/Qt/plugins/designer/*",
    "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so*", "PySide6/Qt/lib/libQt6EglFsKmsSupport.so*",
    "PySide6/Qt/lib/libQt6Test.so*", "PySide6/Qt/lib/libQt6Network.so*", "PySide6/Qt/lib/libQt6Qml*",
    "PySide6/Qt/lib/libQt6Quick*", "PySide6/Qt/lib/libQt6WaylandCompositor*",
    "PySide6/Qt/qml/*", "PySide6/Qt/metatypes/*", "PySide6/include/*", "PySide6/typesystems/*",
    # type stubs and sources of C extensions
    "*.pyi", "*.pxd", "*.h", "*.hpp", "*.cpp", "*.cuh",
    # Libraries every Linux desktop provides (X11 core, GLib, D-Bus, fontconfig/FreeType, Kerberos,
    # compression): the bundle uses the system's, as AppImage's exclude list recommends; a bundled
    # fontconfig or GLib older than the system's configuration is a classic source of breakage.
    # The small xcb-util libraries Qt's xcb plugin needs (libxcb-cursor & co., often missing) stay in.
    *[f"{name}.so*" for name in SYSTEM_LIBRARIES],
]
"""Globs over paths inside the bundle (forward slashes); matching data files and binaries are dropped."""


KEPT_FILES = {"torch/bin/torch_shm_manager"}
"""Exceptions to the patterns: `import torch` refuses to start without its shared-memory helper."""


def excluded(dest: str) -> bool:
    """Whether a file at bundle path `dest` is left out."""
    path = dest.replace(os.sep, "/")
    return path not in KEPT_FILES and any(fnmatch.fnmatch(path, pat) for pat in EXCLUDED_FILE_PATTERNS)


def should_strip(dest: str) -> bool:
    path = dest.replace(os.sep, "/")
    return any(fnmatch.fnmatch(path, pat) for pat in STRIP_PATTERNS)


def filter_toc(toc: Iterable[tuple]) -> tuple[list[tuple], int]:
    """A PyInstaller TOC without excluded entries (and without links to them), and the bytes dropped."""
    entries = list(toc)
    gone = {e[0].replace(os.sep, "/") for e in entries if excluded(e[0])}
    kept, dropped = [], 0
    for entry in entries:
        dest = entry[0].replace(os.sep, "/")
        if dest in gone:
            try:
                dropped += os.path.getsize(entry[1])
            except (OSError, TypeError):
                pass
            continue
        if len(entry) > 2 and entry[2] == "SYMLINK":  # (link, target relative to the link's folder)
            target = os.path.normpath(os.path.join(os.path.dirname(dest), entry[1])).replace(os.sep, "/")
            if target in gone:
                continue
        kept.append(entry)
    return kept, dropped


# ----------------------------------------------------------------------------- version, licences
def app_version() -> str:
    """The version from the installed package metadata (pyproject.toml), checked against core.__version__."""
    version = metadata.version(DIST_NAME)
    text = (ROOT / "core" / "__init__.py").read_text(encoding="utf-8")
    if f'__version__ = "{version}"' not in text:
        raise SystemExit(f"package metadata says {version} but core/__init__.py disagrees; reinstall with `make venv`")
    return version


COMMON_LICENSES = {"LGPL": "/usr/share/common-licenses/LGPL-3", "GPL": "/usr/share/common-licenses/GPL-3"}
_LICENSE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")


def distributions_for(top_level_names: Iterable[str]) -> list[metadata.Distribution]:
    """Installed distributions that provide any of these top-level modules (sorted by name)."""
    mapping = metadata.packages_distributions()
    names = sorted({d for top in top_level_names for d in mapping.get(top, []) if d.lower() != DIST_NAME},
                   key=str.lower)
    out = []
    for name in names:
        try:
            out.append(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue
    return out


def licence_text(dist: metadata.Distribution) -> str:
    """One distribution's section of THIRD-PARTY-LICENSES.txt: name, version, licence, and licence files."""
    meta = dist.metadata
    name, version = meta.get("Name", "?"), dist.version
    expr = meta.get("License-Expression") or meta.get("License") or ", ".join(
        c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
    ) or "see the project"
    home = meta.get("Home-page") or next((u.split(",", 1)[-1].strip() for u in meta.get_all("Project-URL") or []), "")
    parts = [f"{'=' * 78}\n{name} {version}\nLicence: {expr}\n{('Home: ' + home) if home else ''}\n"]
    files = [f for f in dist.files or [] if Path(str(f)).name.upper().startswith(_LICENSE_NAMES)
             and "dist-info" in str(f) and not str(f).endswith((".py", ".pyc"))]
    for f in files:
        try:
            parts.append(f"--- {f}\n{Path(dist.locate_file(f)).read_text(encoding='utf-8', errors='replace')}\n")
        except OSError:
            continue
    if not files:
        for key, path in COMMON_LICENSES.items():
            if key in expr and Path(path).exists():
                parts.append(f"--- full text of {key}-3.0 ({path})\n{Path(path).read_text(encoding='utf-8')}\n")
                break
    return "\n".join(parts)


def write_third_party_licences(out: Path, top_level_names: Iterable[str]) -> Path:
    """THIRD-PARTY-LICENSES.txt for everything bundled, from the installed packages' own metadata."""
    dists = distributions_for(top_level_names)
    header = (f"Fundus Studio bundles the following open-source packages. Their licences follow,\n"
              f"copied from each package's metadata at build time ({len(dists)} packages).\n"
              f"Qt and PySide6 are used under the LGPL-3.0 as unmodified shared libraries; you may\n"
              f"replace them in the _internal/PySide6 folder.\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "\n".join(licence_text(d) for d in dists), encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- optional backends
_ORT_IMPORT = ("import onnxruntime", "from onnxruntime", "import_module(\"onnxruntime\"", "import_module('onnxruntime'")
_ONNX_EXPORT = ("torch.onnx.export", "from torch.onnx import", "import onnxscript", "import onnx\n", "from onnx ")
ORT_SKIPPED = ("onnxruntime.transformers", "onnxruntime.quantization", "onnxruntime.tools", "onnxruntime.training",
               "onnxruntime.backend", "onnxruntime.datasets")


def _core_sources(root: Path = ROOT) -> Iterator[str]:
    for path in sorted((root / "core").rglob("*.py")):
        if path.name != "selftest.py":
            yield path.read_text(encoding="utf-8", errors="replace")


def uses_onnxruntime(root: Path = ROOT) -> bool:
    """Whether onnxruntime (and onnx for the exporter) ship: only with FUNDUS_STUDIO_ONNXRUNTIME=1,
    and then only when it is installed and core imports it (core.inference's backend).

    Left out of the CPU bundle by default: on the machine we measured it was no faster than
    eager PyTorch (0.95x, docs/performance.md) and it costs 30 MB, which takes the bundle
    over its 700 MB budget. Without it the inference selector simply skips that path.
    """
    if os.environ.get("FUNDUS_STUDIO_ONNXRUNTIME") != "1":
        return False
    try:
        metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        return False
    return any(any(pat in text for pat in _ORT_IMPORT) for text in _core_sources(root))


def uses_torch_onnx_export(root: Path = ROOT) -> bool:
    """Whether core exports ONNX itself at run time (then `onnx`/`onnxscript` must ship)."""
    return any(any(pat in text for pat in _ONNX_EXPORT) for text in _core_sources(root))


def excluded_modules(root: Path = ROOT) -> list[str]:
    """EXCLUDED_MODULES, plus onnxruntime when core does not use it, minus onnx when core exports ONNX."""
    mods = list(EXCLUDED_MODULES)
    if not uses_onnxruntime(root):
        # torch.onnx's exporter imports them lazily; without onnxruntime nothing runs an export
        return mods + ["onnxruntime", "ml_dtypes", "onnx"]
    if uses_torch_onnx_export(root):
        mods = [m for m in mods if m != "onnx"]  # the legacy exporter needs onnx, not onnxscript
    elif "ml_dtypes" not in mods:
        mods.append("ml_dtypes")  # only onnx and torch.onnx import it
    return mods


def keep_onnxruntime_submodule(name: str) -> bool:
    """onnxruntime's inference API only: not its model-conversion, quantisation or training tools."""
    return not any(name == p or name.startswith(p + ".") for p in ORT_SKIPPED)


def write_windows_version_info(out: Path, version: str) -> bool:
    """The version resource of FundusStudio.exe (Explorer's Details tab), from the package version."""
    nums = [int(p) if p.isdigit() else 0 for p in version.split(".")[:4]]
    nums += [0] * (4 - len(nums))
    t = tuple(nums)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={t}, prodvers={t}, mask=0x3f, flags=0x0, OS=0x40004, fileType=0x1, subtype=0x0),
  kids=[StringFileInfo([StringTable('040904B0', [
    StringStruct('CompanyName', 'Fundus Studio'), StringStruct('FileDescription', 'Fundus Studio'),
    StringStruct('FileVersion', '{version}'), StringStruct('ProductName', 'Fundus Studio'),
    StringStruct('ProductVersion', '{version}'), StringStruct('OriginalFilename', 'FundusStudio.exe'),
    StringStruct('LegalCopyright', 'Not for diagnostic use')])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])]
)
""", encoding="utf-8")
    return True


# ----------------------------------------------------------------------------- ICU data (Linux)
ICU_DROPPED_ITEMS = ("zone/", "unit/", "curr/", "lang/", "region/", "translit/", "rbnf/", ".cnv")
"""Qt links ICU for collation (file-name sorting), text boundaries and case mapping; these parts of
ICU's 31 MB data library it never uses here: localised names of time zones, units, currencies,
languages and regions, transliterators, spelled-out numbers, and legacy code-page converters
(Qt decodes UTF-8/16 and Latin-1 itself; we decode no other text through Qt). QLocale's own
names and formats are compiled into QtCore and unaffected. Saves ~20 MB."""


def trim_icu_data(lib: Path, work: Path) -> Path | None:
    """A copy of libicudata without ICU_DROPPED_ITEMS, or None when icupkg/cc are missing or it fails.

    The data is the icudt<N>_dat symbol of the library; icupkg (Debian: icu-devtools) removes
    items from it, and the C compiler wraps it back into a library with the same soname.
    """
    import re  # noqa: PLC0415
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    tools = {t: shutil.which(t) for t in ("icupkg", "cc", "readelf", "objcopy")}
    if not all(tools.values()):
        print(f"bundle_rules: ICU data not trimmed (missing {[t for t, p in tools.items() if not p]}; "
              "apt install icu-devtools gcc binutils): the bundle is ~20 MB larger")
        return None
    try:
        syms = subprocess.run([tools["readelf"], "-Ws", "--dyn-syms", str(lib)], capture_output=True, text=True,
                              check=True).stdout
        m = re.search(r"\s([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+OBJECT\s+GLOBAL\s+\S+\s+\d+\s+(icudt(\d+)_dat)", syms)
        secs = subprocess.run([tools["readelf"], "-SW", str(lib)], capture_output=True, text=True, check=True).stdout
        ro = re.search(r"\.rodata\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)", secs)
        if not m or not ro:
            return None
        value, size, symbol, ver = int(m.group(1), 16), int(m.group(2), 0), m.group(3), m.group(4)
        offset = value - int(ro.group(1), 16) + int(ro.group(2), 16)
        name = f"icudt{ver}l"
        work.mkdir(parents=True, exist_ok=True)
        with open(lib, "rb") as f:
            f.seek(offset)
            (work / f"{name}.dat").write_bytes(f.read(size))
        listing = subprocess.run([tools["icupkg"], "-l", str(work / f"{name}.dat")], capture_output=True, text=True,
                                 check=True).stdout.split()
        drop = [i for i in listing if i.startswith(ICU_DROPPED_ITEMS[:-1]) or i.endswith(ICU_DROPPED_ITEMS[-1])]
        (work / "drop.txt").write_text("\n".join(drop) + "\n")
        (work / "out").mkdir(exist_ok=True)
        subprocess.run([tools["icupkg"], "-r", str(work / "drop.txt"), str(work / f"{name}.dat"),
                        str(work / "out" / f"{name}.dat")], check=True, capture_output=True)
        (work / "icudata.S").write_text(
            f'    .section .rodata\n    .globl {symbol}\n    .type {symbol}, @object\n    .balign 16\n{symbol}:\n'
            f'    .incbin "{work / "out" / (name + ".dat")}"\n    .size {symbol}, .-{symbol}\n'
            '    .section .note.GNU-stack,"",@progbits\n')
        out = work / lib.name
        subprocess.run([tools["cc"], "-shared", "-nostdlib", f"-Wl,-soname,{lib.name}", "-o", str(out),
                        str(work / "icudata.S")], check=True, capture_output=True)
        import ctypes  # noqa: PLC0415

        ctypes.CDLL(str(out))[symbol]  # loads and exports the data symbol
        print(f"bundle_rules: ICU data {lib.stat().st_size / 2**20:.1f} -> {out.stat().st_size / 2**20:.1f} MB "
              f"({len(drop)} of {len(listing)} items dropped)")
        return out
    except (OSError, subprocess.CalledProcessError, AttributeError, ValueError) as exc:
        print(f"bundle_rules: ICU data not trimmed ({exc}); the bundle is ~20 MB larger")
        return None
