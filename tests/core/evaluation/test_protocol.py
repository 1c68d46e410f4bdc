import argparse
import json
import math

import cv2
import numpy as np
import torch

from core.evaluation import protocol as P
from core.models.magenet import MageNet, MageNetConfig
from core.data.sources import SourceSpec
from tests.core.training.tiny import TINY_MODEL, restore_threads  # noqa: F401
from tests.synthetic import make_fundus


def _test_images(tmp_path, n=2, side=64):
    out = []
    for i in range(n):
        px = make_fundus(side, side, radius=side * 0.47, seed=10 + i)
        yy, xx = np.mgrid[:side, :side]
        fov = np.hypot(yy - side / 2, xx - side / 2) <= side * 0.47
        native = None
        if i == 0:  # one "HRF-like" photo for the native-resolution table
            big = make_fundus(120, 160, seed=20)
            cv2.imwrite(str(tmp_path / "n.png"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(tmp_path / "n_mask.png"), (big.max(axis=2) > 0).astype(np.uint8) * 255)
            native = SourceSpec("hrf/x", tmp_path / "n.png", tmp_path / "n_mask.png")
        out.append(P.TestImage(f"t/{i}", px.astype(np.float32) / 255 * fov[..., None], fov, native))
    return out


def _tiny_model():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    return MageNet(MageNetConfig.from_dict(TINY_MODEL)).eval()


def test_case_seeds_are_fixed_and_distinct():
    assert P.case_seed("drive/01", "isb") == P.case_seed("drive/01", "isb")
    assert P.case_seed("drive/01", "isb") != P.case_seed("drive/01", "ib")
    assert P.case_seed("drive/01", "i") != P.case_seed("drive/02", "i")


def test_synthetic_table_rows_and_reproducibility(tmp_path):
    imgs = _test_images(tmp_path)
    methods = {"degraded input": P.identity, **P.baseline_fns(), "tiny": P.network_fn(_tiny_model())}
    a = P.synthetic_table(imgs, methods, ("i", "isb"), keep=lambda i, c: c == "isb")
    b = P.synthetic_table(imgs, {"degraded input": P.identity}, ("i", "isb"))
    assert a["cases"] == 4 and set(a["rows"]) == {"degraded input", "clahe_lab", "clahe_green", "dcp", "structured", "tiny"}
    assert a["rows"]["degraded input"]["psnr"]["mean"] == b["rows"]["degraded input"]["psnr"]["mean"]  # fixed seeds
    for r in a["rows"].values():
        assert math.isfinite(r["psnr"]["mean"]) and 0 < r["ssim"]["mean"] <= 1
        assert set(r["by_combination"]) == {"i", "isb"}
        # the oracles use the clean photo, so they can only bring the output closer to it
        assert r["psnr_colour_oracle"]["mean"] >= r["psnr"]["mean"] - 1e-6
        assert r["psnr_lowfreq_oracle"]["mean"] >= r["psnr"]["mean"] - 0.5
        for c in ("i", "isb"):
            assert r["by_combination"][c]["psnr_colour_oracle"] >= r["by_combination"][c]["psnr"] - 1e-6
    md = P.markdown({"protocol_version": 1, "seed": 0, "working_size": 64, "synthetic_512": a})
    assert "Error budget" in md and "By combination (PSNR / + oracle colour / + oracle shading)" in md
    assert set(a["examples"]) == {"t/0 isb", "t/1 isb"} and "clean" in a["examples"]["t/0 isb"]
    # degrading lowers the score: the identity's PSNR against the clean image is finite and not huge
    assert a["rows"]["degraded input"]["psnr"]["mean"] < 40


def test_clean_fidelity_and_noref(tmp_path):
    imgs = _test_images(tmp_path)
    cf = P.clean_fidelity(imgs, {"halve": lambda rgb, fov: rgb * 0.5})
    assert 0 < cf["halve"]["mean"] < 30 and cf["halve"]["n"] == 2
    real = [P.RealImage(f"r/{i}", make_fundus(96, 120, seed=i)) for i in range(2)]
    nr = P.noref_table(real, {"gain": lambda rgb, fov: np.clip(rgb * 1.2, 0, 1)}, keep=lambda i: i == "r/0")
    assert nr["images"] == ["r/0", "r/1"]
    assert {"illumination_uniformity", "vessel_cnr", "sharpness"} <= set(nr["rows"]["input"])
    assert "colour_shift" in nr["rows"]["gain"] and "colour_shift" not in nr["rows"]["input"]
    assert set(nr["examples"]) == {"r/0"}


def test_run_protocol_end_to_end_tiny(tmp_path):
    imgs = _test_images(tmp_path)
    real = [P.RealImage("r/0", make_fundus(96, 120, seed=3))]
    model = _tiny_model()
    rep = P.run_protocol({"supervised": model, "teacher-student": model}, tmp_path,
                         P.ProtocolOptions(native="subset", vessels=False), test_images=imgs, real_images=real)
    syn = rep["synthetic_512"]
    assert syn["cases"] == 2 * 7
    assert set(syn["rows"]) == {"degraded input", "clahe_lab", "clahe_green", "dcp", "structured", "supervised",
                                "teacher-student"}
    assert rep["synthetic_native"]["cases"] == ["t/0 i"]  # one fixed combination per native photo
    assert set(rep["clean_fidelity"]) == {"supervised", "teacher-student"}
    rep["targets"] = P.check_targets(rep, "supervised", "teacher-student")
    assert rep["targets"]["ts_minus_supervised_psnr_db"] == 0.0
    assert rep["targets"]["best_baseline"] in ("clahe_lab", "clahe_green", "dcp", "structured")
    sheets = P.contact_sheets(rep, tmp_path / "out")
    assert [p.name for p in sheets] == ["contact_synthetic.png", "contact_real.png"]
    clean = P.strip_examples(rep)
    json.dumps(clean, default=float)
    md = P.markdown(clean)
    assert "| supervised |" in md and "Clean-input fidelity" in md and "native resolution" in md


def test_evaluate_refuses_output_inside_repository(tmp_path, capsys):
    from core.commands import evaluate

    repo = evaluate._repo_root()
    args = argparse.Namespace(output=str(repo / "eval-out"), data=str(tmp_path), models=None, quick=True,
                              native="none", no_vessels=True, threads=None, supervised=None, teacher_student=None)
    assert evaluate.run(args) == 2
    assert "outside the repository" in capsys.readouterr().err
    assert not (repo / "eval-out").exists()
