"""Bench report structure on tiny photos (no timing assertions: only what the report holds)."""

from __future__ import annotations

import json

import torch

from core.evaluation import speed
from core.imaging import write
from core.inference import selector
from core.models.magenet import MageNet, MageNetConfig
from tests.synthetic import TINY_MAGENET, make_fundus


def test_bench_report_structure_and_table(tmp_path, monkeypatch):
    monkeypatch.setattr(selector, "thread_options", lambda: [1])
    monkeypatch.setattr(selector, "default_candidates", lambda device: ["eager", "channels_last"])
    torch.manual_seed(0)
    net = MageNet(MageNetConfig.from_dict(TINY_MAGENET)).eval()
    paths = []
    for i, (h, w) in enumerate([(150, 160), (200, 230)]):
        p = tmp_path / f"eye{i}.png"
        write(p, make_fundus(h, w, seed=i))
        paths.append(str(p))
    images = speed.given_images(paths)
    report = speed.run_bench(images, module=net, working_size=64, paths=["eager", "channels_last", "cuda_fp16"],
                             repeat=2, tile_sizes=(48,), tile_overlaps=(8,), workdir=tmp_path / "work")
    assert report["schema"] == speed.SCHEMA
    assert [i["width"] for i in report["images"]] == [160, 230]
    assert report["chosen"]["path"] in ("eager", "channels_last")
    rows = report["network"]["rows"]
    assert rows["eager@1"]["psnr_db_vs_float32"] == "identical"
    assert rows["channels_last@1"]["psnr_db_vs_float32"] == "identical" or rows["channels_last@1"]["psnr_db_vs_float32"] >= 45
    if not torch.cuda.is_available():
        assert rows["cuda_fp16"]["available"] is False
    for key in ("eye0", "eye1"):
        per = report["pipeline"][key]
        assert {"baseline:clahe_lab", "baseline:clahe_green", "baseline:dcp", "mage:eager", "mage:channels_last"} <= set(per)
        mage = per["mage:eager"]
        assert {"read", "fov", "prepare", "inference", "upsample", "write"} <= set(mage["stages"])
        assert mage["total"]["n"] == 2 and mage["total"]["min"] <= mage["total"]["median"] <= mage["total"]["max"]
        assert mage["ratio_to_float32"] == 1.0 and mage["peak_rss_mb"] > 0
        assert "enhance" in per["baseline:dcp"]["stages"]
    tiles = report["tiles"]
    assert tiles["rows"] and tiles["best"]["tile"] == 48
    assert "chosen_vs_float32_network" in report["targets"]
    assert report["throughput"]["ok"] == report["throughput"]["photos"] and report["throughput"]["photos_per_s"] > 0
    table = speed.format_table(report)
    assert "Network alone" in table and "End to end on eye1" in table and "Tiled mode" in table and "Batch throughput" in table
    out = tmp_path / "bench.json"
    speed.save_json(report, out)
    assert json.loads(out.read_text())["pipeline"]["eye0"]["mage:eager"]["stages"]["read"]["n"] == 2


def test_synthetic_stand_ins_have_the_requested_sizes(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNDUS_DATA", str(tmp_path / "no-data"))
    monkeypatch.setattr("core.paths.shared_data_dir", lambda: None)
    imgs = speed.default_images(tmp_path, ["drive"])
    assert (imgs[0].width, imgs[0].height) == (565, 584) and "synthetic" in imgs[0].source


def test_bench_command_refuses_unknown_paths(capsys):
    from core.cli import main

    assert main(["bench", "--paths", "warp-drive"]) == 2
    assert "Unknown inference path" in capsys.readouterr().err
