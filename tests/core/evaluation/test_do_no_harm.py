"""The do-no-harm tables (photometric, real-photo fidelity, lesions, guard) on tiny synthetic photos."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from core.evaluation import do_no_harm as D
from core.evaluation import protocol as P
from tests.synthetic import make_fundus

SIDE = 160


def _photo(i: int, dataset: str = "drive", population: str | None = None, stratum: str | None = None,
           quality: str | None = None) -> D.EvalPhoto:
    px = make_fundus(SIDE, SIDE, radius=0.47 * SIDE, seed=30 + i).astype(np.float32) / 255
    yy, xx = np.mgrid[:SIDE, :SIDE]
    fov = np.hypot(yy - SIDE / 2, xx - SIDE / 2) <= 0.47 * SIDE - 1
    # a dark macula, so that "filling it in" is something a method can do wrong
    px *= (1 - 0.35 * np.exp(-(np.hypot(yy - SIDE / 2, xx - 0.35 * SIDE) / (0.07 * SIDE)) ** 2))[..., None]
    return D.EvalPhoto(f"{dataset}/{i:02d}", (px * fov[..., None]).astype(np.float32), fov, dataset, population,
                       stratum, quality)


def _blotcher(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """A harmful 'enhancer': brightens a disc with an edge and fills the macula (what 1.1.0 does)."""
    h, w = fov.shape
    patch = np.zeros((h, w), np.float32)
    cv2.circle(patch, (int(0.35 * w), int(0.5 * h)), int(0.15 * w), 1.0, -1)
    out = rgb * (1 + 0.8 * cv2.GaussianBlur(patch, (0, 0), 1.5))[..., None]
    return np.clip(out, 0, 1) * fov[..., None]


def _sharpen(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    return np.clip(rgb + 1.5 * (rgb - cv2.GaussianBlur(rgb, (0, 0), 2.0)), 0, 1) * fov[..., None]


def test_photometric_params_are_fixed_and_in_range():
    a, b = D.photometric_params("drive/01"), D.photometric_params("drive/02")
    assert a == D.photometric_params("drive/01") and a != b
    for i in range(200):
        p = D.photometric_params(f"x/{i}")
        assert 0.45 <= p["exposure"] <= 0.8 or 1.1 <= p["exposure"] <= 1.3
        assert 0.85 <= p["gamma"] <= 1.25 and 0.75 <= p["green"] <= 1.05 and 0.6 <= p["blue"] <= 1.1
    ph = _photo(0)
    shifted = D.apply_photometric(ph.rgb, ph.fov, a)
    assert shifted.dtype == np.float32 and np.all(shifted[~ph.fov] == 0)
    assert np.allclose(shifted * 255, np.rint(shifted * 255), atol=1e-3)  # 8-bit, as on disk


def test_photometric_table_tells_a_colour_fix_from_a_blotch():
    photos = [_photo(i, "hei_med", "african" if i < 5 else "caucasian") for i in range(7)]
    methods = {"degraded input": P.identity, "blotch": _blotcher, "sharpen": _sharpen}
    t = D.photometric_table(photos, methods, models=["blotch", "sharpen"])
    rows = t["rows"]
    assert rows["degraded input"]["structure_psnr"]["mean"] > rows["blotch"]["structure_psnr"]["mean"] + 5
    # the input differs from the clean photo only by a global shift: structure PSNR far above plain PSNR
    assert rows["degraded input"]["structure_psnr"]["mean"] > rows["degraded input"]["psnr"]["mean"] + 5
    w = rows["blotch"]["structure_psnr"]
    assert w["worst"] == min(r["structure_psnr"] for r in t["per_image"]["blotch"].values())
    assert w["worst_image"] in t["images"] and w["n"] == 7
    pops = rows["blotch"]["by_population"]["structure_psnr"]
    assert pops["african"]["n"] == 5 and pops["african"]["mean"] is not None
    assert pops["caucasian"] == {"n": 2, "mean": None, "worst": None}  # fewer than 5: the count only
    assert "guard" in t["per_image"]["blotch"]["hei_med/00"] and "guard" not in t["per_image"]["degraded input"]["hei_med/00"]
    assert t["per_image"]["sharpen"]["hei_med/00"]["guard"] > t["per_image"]["blotch"]["hei_med/00"]["guard"]
    md = "\n".join(D.markdown({"photometric": t}))
    assert "(n=2)" in md and "| blotch |" in md and "worst photo" in md


def test_real_table_ratio_by_quality_and_skips_flat_inputs():
    photos = [_photo(i, "eyeq", stratum="eyeq usable", quality="low") for i in range(3)]
    photos += [_photo(10 + i, "csdi", stratum="csdi normal (NL)", quality="normal") for i in range(2)]
    flat = D.EvalPhoto("flat/0", np.full((SIDE, SIDE, 3), 0.4, np.float32) * photos[0].fov[..., None],
                       photos[0].fov, "clinical", stratum="clinical", quality="ungraded")
    methods = {"degraded input": P.identity, "sharpen": _sharpen, "blotch": _blotcher}
    t = D.real_table([*photos, flat], methods, models=["sharpen"])
    r = t["rows"]
    assert r["degraded input"]["bandpass_correlation"]["mean"] == pytest.approx(1.0)
    assert r["degraded input"]["vessel_contrast_ratio"]["geo_mean"] == pytest.approx(1.0)
    assert r["sharpen"]["vessel_contrast_ratio"]["geo_mean"] > 1.1
    assert r["sharpen"]["vessel_contrast_ratio"]["skipped"] == 1  # the flat photo has no vessels to compare
    assert r["sharpen"]["vessel_contrast_ratio"]["by_quality"]["low"]["n"] == 3
    assert r["sharpen"]["vessel_contrast_ratio"]["by_quality"]["normal"]["n"] == 2
    assert r["blotch"]["bandpass_correlation"]["mean"] < r["sharpen"]["bandpass_correlation"]["mean"]
    assert r["blotch"]["bandpass_correlation"]["worst_image"] in t["images"]
    assert set(r["sharpen"]["by_stratum"]) == {"eyeq usable", "csdi normal (NL)", "clinical"}
    md = "\n".join(D.markdown({"real": t}))
    assert "| sharpen |" in md and "low quality" in md


def test_lesion_table_and_guard_calibration():
    photos = [_photo(i) for i in range(6)]

    def noisy(rgb, fov):
        rng = np.random.default_rng(int(rgb.sum() * 1000) % 2**31)
        return np.clip(rgb + rng.normal(0, 0.04, rgb.shape).astype(np.float32), 0, 1) * fov[..., None]

    methods = {"degraded input": P.identity, "noisy": noisy, "blotch": _blotcher}
    ph = D.photometric_table(photos, methods, models=["noisy", "blotch"])
    le = D.lesion_table(ph, None)["rows"]
    assert le["degraded input"]["photometric"]["geo_mean"] == pytest.approx(1.0)
    assert le["noisy"]["photometric"]["geo_mean"] > 1.5 and "real" not in le["noisy"]
    g = D.guard_calibration(ph, None, ["noisy", "blotch"])
    for name in ("noisy", "blotch"):
        per = ph["per_image"][name]
        assert g[name]["n"] == 6 and g[name]["side"] == 256
        assert g[name]["n_good"] == sum(r["structure_psnr"] >= 36 for r in per.values())
        assert g[name]["n_bad"] == sum(r["structure_psnr"] < 30 for r in per.values())
    assert g["blotch"]["n_bad"] == 6 and g["blotch"]["threshold"] is None  # nothing good to calibrate on


def test_run_protocol_includes_do_no_harm_tables_and_sheets(tmp_path):
    from tests.core.evaluation.test_protocol import _test_images, _tiny_model

    imgs = _test_images(tmp_path)
    model = _tiny_model()
    photometric = [_photo(i, "idrid" if i % 2 else "hei_med", "african" if i % 2 else None) for i in range(4)]
    real = [_photo(20 + i, "eyeq", stratum="eyeq usable", quality="low") for i in range(3)]
    rep = P.run_protocol({"tiny": model}, tmp_path, P.ProtocolOptions(native="none", vessels=False),
                         test_images=imgs, real_images=[P.RealImage("r/0", make_fundus(96, 120, seed=3))],
                         photometric_photos=photometric, real_subset_photos=real)
    dnh = rep["do_no_harm"]
    assert set(dnh["photometric"]["rows"]) == {"degraded input", "clahe_lab", "clahe_green", "dcp", "structured", "tiny"}
    assert set(dnh["real"]["rows"]) == set(dnh["photometric"]["rows"])
    assert set(dnh["guard"]) == {"tiny"} and "threshold" in dnh["guard"]["tiny"]
    assert set(dnh["targets"]["tiny"]) >= {"photometric_structure_psnr_mean_db", "real_correlation_mean",
                                           "meets_blob_ratio"}
    syn = rep["synthetic_512"]["rows"]["tiny"]
    assert "structure_psnr" in syn and all("structure_psnr" in v for v in syn["by_combination"].values())
    sheets = P.contact_sheets(rep, tmp_path / "out")
    names = [p.name for p in sheets]
    assert {"contact_photometric.png", "contact_real_fidelity.png"} <= set(names)
    assert "contact_lesions.png" in names  # the idrid photos get crops around their blobs
    clean = P.strip_examples(rep)
    assert "examples" not in clean["do_no_harm"]["photometric"] and "lesion_crops" not in clean["do_no_harm"]["photometric"]
    text = json.dumps(clean, default=float)
    back = json.loads(text)
    assert back["do_no_harm"]["photometric"]["per_image"]["tiny"]["idrid/01"]["structure_psnr"] > 0
    md = P.markdown(clean)
    for title in ("Do no harm (a)", "Do no harm (b)", "Do no harm (c)", "Guard calibration",
                  "structure PSNR (dB)", "Structure PSNR by combination"):
        assert title in md
    assert rep["protocol_version"] == 2 and "do_no_harm" in rep["timings_s"]


def test_run_protocol_without_data_leaves_do_no_harm_empty(tmp_path):
    from tests.core.evaluation.test_protocol import _test_images, _tiny_model

    rep = P.run_protocol({"tiny": _tiny_model()}, tmp_path, P.ProtocolOptions(native="none", vessels=False),
                         test_images=_test_images(tmp_path)[:1], real_images=[])
    dnh = rep["do_no_harm"]
    assert dnh["photometric"] is None and dnh["real"] is None and dnh["guard"] == {}
    assert "drive/01" in dnh["skipped_photos"]["photometric"]
    assert "Left out" in P.markdown(P.strip_examples(rep))


def test_do_no_harm_on_real_data(fundus_data):
    """A few photos of each split through the real loading path (skips without ../shared/data/fundus)."""
    from core.data.splits import photometric_test, real_subset

    ph_specs = photometric_test(fundus_data)
    pick = [next(p for p in ph_specs if p.dataset == d) for d in ("drive", "hrf", "hei_med", "idrid")]
    photos, skipped = D.load_split(pick, 512)
    assert not skipped and [p.rgb.shape for p in photos] == [(512, 512, 3)] * 4
    assert all(0.4 < p.fov.mean() < 0.85 for p in photos)
    real_specs = real_subset(fundus_data)
    rpick = [next(p for p in real_specs if p.stratum == s) for s in ("eyeq usable", "cataract 6-10", "clinical")]
    real, rskipped = D.load_split(rpick, 512)
    assert len(real) + len(rskipped) == 3 and len(real) >= 2
    t = D.photometric_table(photos, {"degraded input": P.identity}, [])
    r = t["rows"]["degraded input"]
    # a global shift of a clean photo keeps its structure: far above the plain PSNR of the shifted photo
    assert r["structure_psnr"]["mean"] > 35 and r["structure_psnr"]["mean"] > r["psnr"]["mean"] + 5
    assert all(math.isfinite(x["structure_psnr"]) for x in t["per_image"]["degraded input"].values())
