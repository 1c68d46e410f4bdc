"""Site scan: every kind of exclusion with its reason, duplicates, ranking by quality, round trip."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from core.errors import FundusError
from core.training.site_scan import SiteScan, rank_by_quality, scan_site, thumbnail
from tests.core.training.site_helpers import make_site, write_rgb
from tests.synthetic import make_fundus


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "site"
    make_site(folder, n=4)
    sharp = make_fundus(256, 256, seed=11)
    write_rgb(folder / "sub" / "sharp.png", sharp)
    cv2.imwrite(str(folder / "sub" / "sharp_again.bmp"), cv2.cvtColor(sharp, cv2.COLOR_RGB2BGR))  # same pixels
    shutil.copy(folder / "photo_00.png", folder / "copy_of_00.png")  # same bytes
    cv2.imwrite(str(folder / "fov_mask.png"), np.where(make_fundus(256, 256)[..., 0] > 0, 255, 0).astype(np.uint8))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    write_rgb(folder / "tiny.png", make_fundus(120, 120, seed=3))
    write_rgb(folder / "flat.png", np.full((256, 256, 3), (160, 80, 40), np.uint8))  # no dark border: no FOV
    (folder / "notes.txt").write_text("not an image")
    write_rgb(folder / ".hidden" / "x.png", make_fundus(256, 256, seed=5))
    return folder


def test_exclusions_have_reasons(site):
    scan = scan_site(site)
    by_name = {e.name: e for e in scan.excluded}
    assert by_name["broken.jpg"].category == "unreadable"
    assert by_name["fov_mask.png"].category == "not a colour photograph"
    assert by_name["tiny.png"].category == "too small"
    assert "120 x 120" in by_name["tiny.png"].reason
    assert by_name["flat.png"].category == "no field of view"
    dups = {e.name: e.reason for e in scan.excluded if e.category == "duplicate"}
    assert len(dups) == 2
    assert any("same pixels" in r for r in dups.values()) and any("identical file" in r for r in dups.values())
    names = {u.name for u in scan.usable}
    assert len(names) == 5 and "x.png" not in names  # hidden folder skipped, one of each duplicate pair kept
    assert scan.counts() == {"found": 11, "readable": 10, "usable": 5, "excluded": 6}
    assert scan.reasons()["duplicate"] == 2


def test_too_dark_is_excluded(tmp_path):
    rgb = make_fundus(256, 256, seed=2)
    dark = (rgb.astype(np.float32) * 0.1).astype(np.uint8)
    write_rgb(tmp_path / "dark.png", dark)
    write_rgb(tmp_path / "ok.png", rgb)
    scan = scan_site(tmp_path)
    assert [u.name for u in scan.usable] == ["ok.png"]
    assert scan.excluded[0].name == "dark.png" and scan.excluded[0].category in ("too dark", "no field of view")


def test_ranking_puts_sharp_photos_first(tmp_path):
    base = make_fundus(256, 256, seed=4)
    for i, sigma in enumerate([0, 1.5, 3.0]):
        img = base if sigma == 0 else cv2.GaussianBlur(base, (0, 0), sigma)
        write_rgb(tmp_path / f"blur_{i}.png", img)
    scan = scan_site(tmp_path)
    assert [u.name for u in scan.usable] == ["blur_0.png", "blur_1.png", "blur_2.png"]
    assert scan.usable[0].quality > scan.usable[-1].quality
    assert all(set(u.measures) >= {"illumination_uniformity", "vessel_cnr", "sharpness"} for u in scan.usable)


def test_rank_ties_share_score(tmp_path):
    from core.training.site_scan import ScannedImage

    ims = [ScannedImage(f"{i}.png", "x", 1, 1, 1.0, 0.5, {"illumination_uniformity": 1.0, "vessel_cnr": 1.0,
                                                          "sharpness": float(i)}) for i in range(3)]
    ranked = rank_by_quality(ims)
    assert [im.path for im in ranked] == ["2.png", "1.png", "0.png"]
    assert ranked[0].quality == pytest.approx((0.5 + 0.5 + 1.0) / 3, abs=1e-4)


def test_round_trip_and_thumbnail(site, tmp_path):
    scan = scan_site(site)
    scan.save(tmp_path / "scan.json")
    again = SiteScan.load(tmp_path / "scan.json")
    assert again.counts() == scan.counts()
    assert [u.path for u in again.usable] == [u.path for u in scan.usable]
    th = thumbnail(scan.usable[0].path, 64)
    assert th.shape == (64, 64, 3) and th.dtype == np.uint8


def test_missing_folder_and_stop(tmp_path):
    with pytest.raises(FundusError):
        scan_site(tmp_path / "nope")
    make_site(tmp_path / "s", n=2)
    from core.errors import Cancelled

    with pytest.raises(Cancelled):
        scan_site(tmp_path / "s", should_stop=lambda: True)
