"""What the installer bundles: only resources we may ship, small enough, never research data."""

from __future__ import annotations

import hashlib
import json
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "fundus_studio.spec"
SHARED = ROOT.parent / "shared" / "data" / "fundus"


@pytest.fixture(scope="module")
def rules():
    spec = importlib.util.spec_from_file_location("bundle_rules", ROOT / "packaging" / "bundle_rules.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bundle_rules", module)
    spec.loader.exec_module(module)
    return module


def test_spec_is_valid_python_and_takes_its_rules_from_bundle_rules():
    text = SPEC.read_text()
    compile(text, str(SPEC), "exec")
    assert "rules.shipped_resources(ROOT)" in text and "rules.filter_toc(a.datas)" in text
    assert "shared" not in text, "the spec must not reach into ../shared"
    assert "console=False" in text and "upx=False" in text


def test_only_our_resource_folders_ship(rules):
    files = list(rules.shipped_resources(ROOT))
    assert files, "resources/ should hold something to ship"
    folders = {Path(dest).parts[1] for _src, dest in files}
    assert folders <= set(rules.RESOURCE_DIRS)
    for src, dest in files:
        path = Path(src)
        assert path.resolve().is_relative_to((ROOT / "resources").resolve()), src
        assert path.suffix.lower() in rules.RESOURCE_SUFFIXES
        assert dest.startswith("resources/") or dest.startswith("resources\\")
    names = {Path(src).name for src, _ in files}
    assert any(n.endswith(".safetensors") for n in names), "the shipped models must be bundled"
    assert "fundus_normal_left_eye_cc0.jpg" in names, "the self-test's CC0 sample must be bundled"


def test_research_data_cannot_slip_in(rules, tmp_path):
    """A symlink into the research data, a hidden file or a stray folder is not collected."""
    res = tmp_path / "resources"
    (res / "samples").mkdir(parents=True)
    (res / "samples" / "ok.png").write_bytes(b"png")
    (res / "samples" / ".cache.png").write_bytes(b"x")
    (res / "data").mkdir()
    (res / "data" / "drive_01.png").write_bytes(b"x")
    target = tmp_path / "elsewhere.png"
    target.write_bytes(b"x")
    (res / "samples" / "linked.png").symlink_to(target)
    got = [Path(src).name for src, _ in rules.shipped_resources(tmp_path)]
    assert got == ["ok.png"]


def test_only_the_newest_version_of_each_model_ships(rules, tmp_path):
    models = tmp_path / "resources" / "models"
    models.mkdir(parents=True)
    for stem, name, version in (("mage-s-1.1.0", "mage-s", "1.1.0"), ("mage-s-2.0.0", "mage-s", "2.0.0"),
                                ("mage-s-10.0.0", "mage-s", "10.0.0"), ("vesselnet-1.0.0", "vesselnet", "1.0.0")):
        (models / f"{stem}.json").write_text(json.dumps({"name": name, "version": version}))
        (models / f"{stem}.safetensors").write_bytes(b"w")
    got = sorted(Path(src).name for src, _ in rules.shipped_resources(tmp_path))
    assert got == ["mage-s-10.0.0.json", "mage-s-10.0.0.safetensors", "vesselnet-1.0.0.json",
                   "vesselnet-1.0.0.safetensors"]


def test_no_research_data_is_bundled(rules):
    files = [Path(src) for src, _ in rules.shipped_resources(ROOT)]
    sums = SHARED / "SHA256SUMS"
    if sums.exists():
        research = {line.split()[0] for line in sums.read_text().splitlines() if line.strip()}
        clash = [p for p in files if hashlib.sha256(p.read_bytes()).hexdigest() in research]
        assert not clash, f"research-only data would ship in the installer: {clash}"
    total_mb = sum(p.stat().st_size for p in files) / 2**20
    assert total_mb < rules.MAX_RESOURCE_MB, f"resources are {total_mb:.0f} MB; weights should be a few MB"


def test_exclusions_drop_tests_and_keep_what_the_app_loads(rules):
    for dropped in ("torch/test/FileStoreTest", "torch/bin/protoc", "torch/include/ATen/ATen.h",
                    "PySide6/Qt/translations/qtbase_de.qm", "PySide6/Qt/plugins/platforms/libqvnc.so",
                    "torch/lib/libtorchbind_test.so"):
        assert rules.excluded(dropped), dropped
    for kept in ("torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "PySide6/Qt/plugins/platforms/libqxcb.so",
                 "PySide6/Qt/plugins/platforms/libqoffscreen.so", "PySide6/Qt/plugins/platforms/libqwayland.so",
                 "PySide6/Qt/lib/libQt6Widgets.so.6", "resources/models/mage-s-1.0.0.safetensors",
                 "cv2/cv2.abi3.so", "torch/bin/torch_shm_manager"):
        assert not rules.excluded(kept), kept
    mods = rules.excluded_modules(ROOT)
    for needed in ("torch", "PySide6.QtWidgets", "PySide6.QtGui", "cv2", "numpy", "pyqtgraph", "sqlite3",
                   "sympy", "core", "app"):
        assert needed not in mods, needed
    assert "pytest" in mods and "PySide6.QtTest" in mods


def test_filter_toc_drops_files_and_links_to_them(rules, tmp_path):
    lib = tmp_path / "libQt6Test.so.6"
    lib.write_bytes(b"x" * 10)
    toc = [
        ("PySide6/Qt/lib/libQt6Test.so.6", str(lib), "BINARY"),
        ("libQt6Test.so.6", "PySide6/Qt/lib/libQt6Test.so.6", "SYMLINK"),
        ("PySide6/Qt/lib/libQt6Core.so.6", str(lib), "BINARY"),
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
    ]
    kept, dropped = rules.filter_toc(toc)
    assert [e[0] for e in kept] == ["PySide6/Qt/lib/libQt6Core.so.6", "libQt6Core.so.6"]
    assert dropped == 10


def test_inference_backends_follow_the_code(rules, tmp_path, monkeypatch):
    """onnxruntime (and onnx for the exporter) ship only when asked for and core uses them."""
    monkeypatch.setenv("FUNDUS_STUDIO_ONNXRUNTIME", "1")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "a.py").write_text("import numpy\n")
    assert not rules.uses_onnxruntime(tmp_path) and not rules.uses_torch_onnx_export(tmp_path)
    assert {"onnxruntime", "onnx", "ml_dtypes"} <= set(rules.excluded_modules(tmp_path))
    (tmp_path / "core" / "b.py").write_text("def f():\n    import onnxruntime as ort\n    torch.onnx.export(m)\n")
    if importlib.util.find_spec("onnxruntime") is not None:
        assert rules.uses_onnxruntime(tmp_path)
        assert "onnxruntime" not in rules.excluded_modules(tmp_path)
    assert "onnx" not in rules.excluded_modules(tmp_path)
    monkeypatch.delenv("FUNDUS_STUDIO_ONNXRUNTIME")  # the default CPU bundle leaves it out (700 MB budget)
    assert not rules.uses_onnxruntime(tmp_path)
    assert {"onnxruntime", "onnx", "ml_dtypes"} <= set(rules.excluded_modules(tmp_path))


def test_version_comes_from_package_metadata(rules):
    from core import __version__

    assert rules.app_version() == __version__


def test_licences_are_collected_from_package_metadata(rules, tmp_path):
    out = rules.write_third_party_licences(tmp_path / "L.txt", ["numpy", "PySide6", "torch", "core", "app"])
    text = out.read_text()
    assert "numpy" in text and "torch" in text and "PySide6" in text
    assert "BSD" in text and "LGPL" in text
    assert "fundus-studio " not in text  # our own package is not third-party


def test_entry_point_calls_the_launcher():
    text = (ROOT / "packaging" / "entry.py").read_text()
    assert "from app.launcher import main" in text and "freeze_support()" in text


def test_icu_data_trim_keeps_a_loadable_library(rules, tmp_path):
    import ctypes
    import shutil

    lib = next((ROOT / ".venv").glob("lib/python3*/site-packages/PySide6/Qt/lib/libicudata.so.*"), None)
    if lib is None or not all(shutil.which(t) for t in ("icupkg", "cc", "readelf")):
        pytest.skip("needs PySide6's ICU on Linux and icupkg + cc (apt install icu-devtools gcc)")
    out = rules.trim_icu_data(lib, tmp_path / "icu")
    assert out is not None and out.name == lib.name
    assert out.stat().st_size < lib.stat().st_size * 0.6
    ctypes.CDLL(str(out))  # a real shared library that exports the data symbol
    dropped = (tmp_path / "icu" / "drop.txt").read_text().split()
    assert dropped and not any(i.startswith(("coll/", "brkitr/")) or i.endswith(".nrm") for i in dropped)


def test_training_only_networks_never_ship(rules):
    """resources/training (the vessel-loss network of issue 17) is for training runs, not for clinics."""
    assert (ROOT / "resources" / "training").is_dir()
    assert not [src for src, _ in rules.shipped_resources(ROOT) if "training" in Path(src).relative_to(ROOT).parts]
