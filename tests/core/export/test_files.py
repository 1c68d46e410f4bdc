"""Export files with sidecars, shared by the GUI, `fundus-studio enhance --comparison` and the batch."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from core import DISCLAIMER
from core.batch import BatchQueue, BatchRunner, batch_settings, enqueue
from core.enhance import EnhanceSettings, Enhancer
from core.export import comparison_image, export_comparison, export_enhanced, export_vessel_overlay
from core.export.compose import DISCLAIMER_BAND, WARNING_BAND
from core.imaging import read
from core.vessels import VesselMap, compare_vessels
from tests.core.batch.helpers import photo_tree, tiny_enhancer
from tests.synthetic import GainModel, make_fundus


def _photo(tmp_path: Path, name: str = "photo.png", size=(160, 180)) -> Path:
    p = tmp_path / "in" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(p), cv2.cvtColor(make_fundus(*size, seed=3), cv2.COLOR_RGB2BGR))
    return p


def _enhanced(tmp_path: Path):
    image = read(_photo(tmp_path))
    result = Enhancer.from_module(GainModel(0.8, 0.1), settings=EnhanceSettings(working_size=64)).enhance(image)
    return image, result


def _close(rgb, colour, tol=12):
    return np.abs(rgb.astype(int) - colour).sum(-1) < tol


class _Flagged:
    """An EnhancementResult as the guard leaves a flagged one."""

    def __init__(self, result) -> None:
        self._r = result
        self.guard_flagged, self.guard_score = True, 0.42
        self.guard_message = "the enhancement changed large structures"

    def __getattr__(self, name):
        return getattr(self._r, name)


def test_side_and_split_comparisons_carry_the_bands_and_a_sidecar(tmp_path):
    image, result = _enhanced(tmp_path)
    side = export_comparison(image, result, tmp_path / "out")
    split = export_comparison(image, result, tmp_path / "out", layout="split", divider=0.25)
    again = export_comparison(image, result, tmp_path / "out")
    assert side.path.name == "photo_comparison.png" and again.path.name == "photo_comparison-2.png"
    assert split.path.name == "photo_split.png"
    rec = json.loads(side.sidecar_path.read_text())
    assert rec["output_kind"] == "comparison" and rec["burned_in"] == DISCLAIMER and rec["layout"] == "side"
    assert rec["input"]["sha256"] == image.source_sha256
    s, p = read(side.path).pixels, read(split.path).pixels
    assert s.shape[1] > 2 * image.width and image.width <= p.shape[1] < 2 * image.width
    for rgb in (s, p):
        assert _close(rgb[-20:], DISCLAIMER_BAND, 10).mean() > 0.5
        assert _close(rgb, WARNING_BAND).mean() < 0.001


def test_a_flagged_output_has_the_guard_warning_burned_in(tmp_path):
    image, result = _enhanced(tmp_path)
    rgb = comparison_image(image, _Flagged(result))
    rows = np.flatnonzero(_close(rgb, WARNING_BAND).mean(axis=1) > 0.5)
    assert rows.size > 10 and rows.max() < rgb.shape[0] - 20


def test_enhanced_export_keeps_16_bit_and_never_replaces(tmp_path):
    image, result = _enhanced(tmp_path)
    a = export_enhanced(image, result, tmp_path / "out", "tiff16")
    b = export_enhanced(image, result, tmp_path / "out", "tiff16")
    assert a.path != b.path and a.bit_depth == 16
    assert json.loads(a.sidecar_path.read_text())["output_kind"] == "enhanced"


def test_vessel_overlay_export_keys_the_colours_and_records_the_measures(tmp_path):
    image, result = _enhanced(tmp_path)
    h, w = image.pixels.shape[:2]
    fov = np.zeros((h, w), bool)
    fov[10:-10, 10:-10] = True
    before = np.zeros((h, w), bool)
    after = np.zeros((h, w), bool)
    before[50, 20:100] = after[50, 20:100] = True
    after[100:104, 20:160] = True  # new, long and thick: a suspect region
    comp = compare_vessels(VesselMap(before.astype(np.float32), before, 0.5),
                           VesselMap(after.astype(np.float32), after, 0.5), fov)

    class Payload:
        comparison = comp
        model_name = "VesselNet-test 1"

    written = export_vessel_overlay(image, result, Payload(), tmp_path / "out", opacity=1.0)
    rec = json.loads(written.sidecar_path.read_text())
    assert rec["output_kind"] == "vessel_overlay" and rec["vessel_model"] == "VesselNet-test 1"
    assert rec["vessel_measures"]["dice"] == float(comp.dice)
    rgb = read(written.path).pixels
    assert _close(rgb, (0, 220, 255), 6).sum() > 100  # cyan: only after enhancement
    assert _close(rgb[-20:], DISCLAIMER_BAND, 10).mean() > 0.5


def test_enhance_command_writes_comparisons_on_request(tmp_path, capsys):
    from core.cli import main
    from core.models.registry import ModelCard, ModelRegistry, register_architecture

    register_architecture("test-gain-export", lambda cfg: GainModel(0.8, 0.1))
    reg = ModelRegistry(shipped_dir=tmp_path / "none")
    reg.install(GainModel(0.8, 0.1), ModelCard(name="gain", version="1", architecture="test-gain-export",
                                              config={"inference": {"working_size": 64}}))
    reg.set_active("enhancer", "gain", "1")
    src = _photo(tmp_path)
    out = tmp_path / "out"
    assert main(["enhance", str(src), "-o", str(out), "--device", "cpu", "--comparison", "split"]) == 0
    captured = capsys.readouterr()
    assert "comparison ->" in captured.out + captured.err
    comp = out / "photo_comparison.png"
    rec = json.loads(Path(str(comp) + ".json").read_text())
    assert rec["layout"] == "split" and rec["burned_in"] == DISCLAIMER
    assert (out / "photo_enhanced.png").exists()
    assert main(["enhance", str(src), "-o", str(tmp_path / "plain"), "--device", "cpu"]) == 0
    assert not list((tmp_path / "plain").glob("*_comparison.png"))


def test_the_batch_writes_a_comparison_beside_each_output_when_asked(tmp_path):
    src = tmp_path / "in"
    photo_tree(src, 2)
    q = BatchQueue()
    bid, _ = enqueue(q, [src], tmp_path / "out", batch_settings("fast", "png"))
    summary = BatchRunner(q, bid, tiny_enhancer(), comparisons=True).run()
    assert summary.counts == {"done": 2}
    for job in q.jobs(bid):
        out = Path(job.output_path)
        comp = out.with_name(f"{Path(job.input_path).stem}_comparison.png")
        assert comp.exists() and json.loads(Path(str(comp) + ".json").read_text())["output_kind"] == "comparison"
        assert read(comp).pixels.shape[1] > 2 * read(job.input_path).pixels.shape[1]
