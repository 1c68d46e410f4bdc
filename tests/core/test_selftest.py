"""core.selftest: the installation check runs end to end on tiny models and fails loudly on broken output."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core import selftest
from core.models.magenet import MageNet
from core.models.registry import ModelCard, ModelRegistry
from core.models.vesselnet import VesselNet, VesselNetConfig
from tests.synthetic import TINY_MAGENET, make_fundus


@pytest.fixture
def tiny_registry(isolated_home, tmp_path) -> ModelRegistry:
    """A registry with no shipped models and a tiny enhancer + vessel model installed and active."""
    torch.manual_seed(0)
    reg = ModelRegistry(shipped_dir=tmp_path / "no-shipped")
    net = MageNet.from_config(dict(TINY_MAGENET))
    reg.install(net, ModelCard(name="tinymage", version="0.1", kind="enhancer", architecture="magenet",
                               config={**TINY_MAGENET, "inference": {"working_size": 64}}))
    vnet = VesselNet(VesselNetConfig(channels=[4, 8, 8, 8]))
    # threshold 0: an untrained net still marks vessels, so the densities are defined
    reg.install(vnet, ModelCard(name="tinyvessel", version="0.1", kind="vessel", architecture="vesselnet",
                                config={**vnet.cfg.to_dict(), "inference": {"working_fov_diameter": 96,
                                                                            "threshold": 0.0, "tile": 64,
                                                                            "overlap": 16}}))
    reg.set_active("enhancer", "tinymage")
    reg.set_active("vessel", "tinyvessel")
    return reg


@pytest.fixture
def sample(tmp_path) -> Path:
    path = tmp_path / "sample.png"
    cv2.imwrite(str(path), cv2.cvtColor(make_fundus(120, 144), cv2.COLOR_RGB2BGR))
    return path


def test_selftest_passes_and_verifies_its_outputs(tiny_registry, sample, tmp_path):
    out = tmp_path / "out"
    report = selftest.run_selftest(out, sample=sample, registry=tiny_registry, device="cpu", backend="eager")
    assert report.ok, report.message
    assert report.enhancer == "tinymage@0.1" and report.vessel_model == "tinyvessel@0.1"
    assert report.size == (120, 144) and report.device == "cpu"
    assert 0.0 <= report.dice <= 1.0 and report.density_before > 0
    names = sorted(Path(f).name for f in report.files)
    assert names == ["sample_enhanced.png", "sample_enhanced.png.json",
                     "sample_vessel_comparison.png", "sample_vessel_comparison.png.json"]
    record = json.loads((out / "sample_enhanced.png.json").read_text())
    assert record["model"]["name"] == "tinymage"
    line = report.summary()
    assert "\n" not in line and line.startswith("Fundus Studio") and "PASSED" in line and "tinymage@0.1" in line


def test_main_prints_one_summary_line_and_cleans_up(tiny_registry, sample, capsys, monkeypatch, tmp_path):
    made = []
    real_mkdtemp = selftest.tempfile.mkdtemp
    monkeypatch.setattr(selftest.tempfile, "mkdtemp", lambda **kw: made.append(real_mkdtemp(dir=tmp_path, **kw))
                        or made[-1])
    rc = selftest.main(["--sample", str(sample), "--device", "cpu"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == selftest.EXIT_OK, lines
    assert "self-test PASSED" in lines[-1] and ", path " in lines[-1]  # the inference path chosen
    assert made and not Path(made[0]).exists(), "the temporary output folder should be removed"
    from core.paths import user_log_dir

    assert "self-test PASSED" in (user_log_dir() / "selftest.log").read_text()


def test_main_keeps_outputs_in_a_given_folder(tiny_registry, sample, capsys, tmp_path):
    out = tmp_path / "kept"
    assert selftest.main(["--sample", str(sample), "--device", "cpu", "--backend", "eager", "--output", str(out),
                          "--quiet"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    summary = json.loads((out / "selftest.json").read_text())
    assert summary["ok"] is True and summary["files"]


def test_an_enhancer_that_changes_nothing_fails(tiny_registry, sample, tmp_path, monkeypatch):
    from core.enhance import Enhancer

    real = Enhancer.enhance

    def identity(self, image, *a, **kw):
        result = real(self, image, *a, **kw)
        result.pixels = image.pixels.copy()
        return result

    monkeypatch.setattr(Enhancer, "enhance", identity)
    report = selftest.run_selftest(tmp_path / "o", sample=sample, registry=tiny_registry, device="cpu", backend="eager")
    assert not report.ok and "identical to the original" in report.message
    assert "FAILED" in report.summary()


def test_broken_written_file_is_caught(tiny_registry, sample, tmp_path, monkeypatch):
    import core.imaging as imaging

    real_write = imaging.write

    def truncating_write(path, pixels, **kw):
        written = real_write(path, pixels, **kw)
        Path(path).write_bytes(Path(path).read_bytes()[:200])  # a crash mid-write, say
        return written

    monkeypatch.setattr(imaging, "write", truncating_write)
    report = selftest.run_selftest(tmp_path / "o", sample=sample, registry=tiny_registry, device="cpu", backend="eager")
    assert not report.ok
    assert "sample_enhanced.png" in report.message and "bytes" in report.message


def test_verify_image_checks_pixels_size_and_sidecar(tmp_path):
    from core.imaging import write

    rgb = make_fundus(64, 64)
    written = write(tmp_path / "x.png", rgb, provenance={"model": {"name": "m"}})
    selftest.verify_image(written.path, rgb)  # intact: no exception
    with pytest.raises(selftest.SelfTestFailure, match="different pixels"):
        selftest.verify_image(written.path, np.ascontiguousarray(rgb[::-1]))
    noisy = np.random.default_rng(0).integers(0, 255, rgb.shape, dtype=np.uint8)
    fov = np.zeros(rgb.shape[:2], bool)
    fov[16:48, 16:48] = True
    noisy[fov] = 7  # flat inside the field of view: the enhancer produced nothing
    w2 = write(tmp_path / "blank.png", noisy, provenance={})
    with pytest.raises(selftest.SelfTestFailure, match="blank inside"):
        selftest.verify_image(w2.path, noisy, fov)
    other = write(tmp_path / "y.png", rgb[::-1].copy(), provenance={})
    (tmp_path / "x.png").write_bytes(other.path.read_bytes())  # swapped after writing
    with pytest.raises(selftest.SelfTestFailure, match="sha256|different pixels"):
        selftest.verify_image(written.path, rgb)


def test_no_model_is_a_clear_cannot_run(tmp_path, sample, capsys, monkeypatch):
    import core.models.registry as registry_module

    empty = tmp_path / "empty"
    monkeypatch.setattr(registry_module.paths, "resources_dir", lambda: empty)
    rc = selftest.main(["--sample", str(sample), "--device", "cpu", "--backend", "eager", "--quiet"])
    out = capsys.readouterr().out
    assert rc == selftest.EXIT_CANNOT_RUN
    assert "FAILED" in out and "No enhancement model" in out


def test_default_sample_is_the_bundled_cc0_photo():
    path = selftest.default_sample()
    assert path.is_file() and "cc0" in path.name


def test_inference_path_is_reported_only_when_exposed():
    class Result:
        model_info = {}

    class Backend:
        name = "onnxruntime CPUExecutionProvider"

    r = Result()
    assert selftest.inference_path(r, object()) is None
    r.backend = Backend()
    assert selftest.inference_path(r, object()) == "onnxruntime CPUExecutionProvider"
    r2 = Result()
    r2.model_info = {"inference_path": "torch"}
    assert selftest.inference_path(r2, object()) == "torch"
