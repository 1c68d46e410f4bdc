"""The fixed test splits: rules on a constructed data folder, and the real folder when present."""

from __future__ import annotations

import collections
from pathlib import Path

from core.data import splits as S
from core.data import sources


def _touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def _fake_data(root: Path) -> Path:
    for n in range(1, 21):
        _touch(root / "drive/test/images" / f"{n:02d}_test.tif")
    hei = root / "clean_extra/hei_med"
    rows = ["file,race,gender,automatic_quality_0_1,diabetes"]
    for i in range(10):
        _touch(hei / "images" / f"{i:08d}.jpg")
        rows.append(f"{i:08d}.jpg,{'AFRICAN' if i % 2 else 'CAUCASIAN'},F,{0.9 if i != 3 else 0.5},TYPE II")
    (hei / "manifest.csv").write_text("\n".join(rows) + "\n")
    for i in range(12):
        _touch(root / "clean_extra/idrid/images" / f"{i:04d}.jpg")
    rl = root / "real_lowquality"
    for i in range(40):
        _touch(rl / "eyeq_usable_512/images" / f"{i:03d}_left.png")
    rows = ["file,cataract_severity_0_10,optic_disc,diagnosis"]
    for i, sev in enumerate([0, 1, 2.5, 3, 4, 5.5, 6, 8, 10, 2]):
        _touch(rl / "cataract_csdi/images" / f"cataract_{i:03d}.jpg")
        rows.append(f"cataract_{i:03d}.jpg,{sev},visible,x")
    _touch(rl / "cataract_csdi/images/NL_001.jpg")
    rows.append("NL_001.jpg,3.0,visible,normal")
    (rl / "cataract_csdi/manifest.csv").write_text("\n".join(rows) + "\n")
    for i in range(30):
        _touch(rl / "clinical_mexico/images" / f"{i:04d}_OD_f_1.jpg")
    return root


def test_synthetic_test_ids_live_in_splits_and_datasets_reexports_them():
    assert sources.TEST_IDS is S.TEST_IDS and sources.TEST_DRIVE_IDS is S.TEST_DRIVE_IDS
    assert len(S.TEST_IDS) == 26 and "drive/01" in S.TEST_IDS and "hrf/10_dr" in S.TEST_IDS


def test_photometric_rules_on_a_constructed_folder(tmp_path):
    data = _fake_data(tmp_path)
    photos = S.photometric_test(data)
    ids = [p.id for p in photos]
    assert ids[:20] == list(S.TEST_DRIVE_IDS) and ids[20:26] == list(S.TEST_HRF_IDS)
    hei = [p for p in photos if p.dataset == "hei_med"]
    # qualifying (quality >= 0.85) in sorted order: 0,1,2,4,5,6,7,8,9 -> every third: 0, 4, 7
    assert [p.id for p in hei] == ["hei_med/00000000", "hei_med/00000004", "hei_med/00000007"]
    assert [p.population for p in hei] == ["caucasian", "caucasian", "african"]
    assert [p.id for p in photos if p.dataset == "idrid"] == ["idrid/0000", "idrid/0005", "idrid/0010"]


def test_real_subset_strata_and_quality_on_a_constructed_folder(tmp_path):
    data = _fake_data(tmp_path)
    real = S.real_subset(data)
    by = collections.defaultdict(list)
    for p in real:
        by[p.stratum].append(p)
    assert len(by["eyeq usable"]) == S.REAL_STRATA_TARGET["eyeq usable"]
    assert len(by["clinical"]) == S.REAL_STRATA_TARGET["clinical"]
    assert {p.id for p in by["cataract 0-2"]} == {f"real/csdi/cataract_{i:03d}" for i in (0, 1, 2, 9)}
    assert {p.id for p in by["cataract 3-5"]} == {f"real/csdi/cataract_{i:03d}" for i in (3, 4, 5)}
    assert {p.id for p in by["cataract 6-10"]} == {f"real/csdi/cataract_{i:03d}" for i in (6, 7, 8)}
    assert [p.id for p in by["csdi normal (NL)"]] == ["real/csdi/NL_001"]  # NL_* is normal whatever its grade
    q = {p.stratum: p.quality for p in real}
    assert q["eyeq usable"] == q["cataract 3-5"] == q["cataract 6-10"] == S.LOW_QUALITY
    assert q["cataract 0-2"] == q["csdi normal (NL)"] == S.NORMAL and q["clinical"] == S.UNGRADED
    assert S.real_subset(data) == real  # fixed


def test_is_test_by_id_and_by_path(tmp_path):
    data = _fake_data(tmp_path)
    real = S.real_subset(data)
    assert S.is_test("drive/05", data) and not S.is_test("drive/25", data)
    assert S.is_test(data / "drive/test/images/05_test.tif", data)
    assert not S.is_test(data / "drive/training/images/25_training.tif", data)
    assert S.is_test(real[0].image, data) and S.is_test(real[0].id, data)
    assert S.is_test(data / "clean_extra/hei_med/images/00000004.jpg", data)
    assert not S.is_test(data / "clean_extra/hei_med/images/00000001.jpg", data)
    assert not S.is_test("/somewhere/else/photo.jpg", data)
    _touch(data / "clean_extra/hei_med/images/67147_(1998).dcm.jpg")
    with (data / "clean_extra/hei_med/manifest.csv").open("a") as f:
        f.write("67147_(1998).dcm.jpg,AFRICAN,M,0.95,TYPE II\n")
    S._held_out.cache_clear()
    hei = [p.id for p in S.photometric_test(data) if p.dataset == "hei_med"]
    assert "hei_med/67147_(1998).dcm" in hei  # sorts after the digits-only names: 0, 4, 7, then the new one is 10th
    assert S.is_test("hei_med/67147_(1998).dcm", data)
    assert S.is_test(data / "clean_extra/hei_med/images/67147_(1998).dcm.jpg", data)
    S._held_out.cache_clear()
    eyeq_test = {p.id for p in real if p.dataset == "eyeq"}
    (data / "real_lowquality/eyeq_usable_512/fov_mask_800").mkdir(parents=True, exist_ok=True)
    kept = {s.id for s in sources.real_specs(data)}
    assert kept and not kept & eyeq_test  # training never sees the real subset
    assert eyeq_test <= {s.id for s in sources.real_specs(data, include_test=True)}


def test_real_data_splits(fundus_data):
    photos = S.photometric_test(fundus_data)
    real = S.real_subset(fundus_data)
    assert all(p.image.exists() for p in photos + real)
    count = collections.Counter(p.dataset for p in photos)
    assert count["drive"] == 20 and count["hrf"] == 6 and count["hei_med"] >= 20 and count["idrid"] >= 20
    assert {p.population for p in photos if p.dataset == "hei_med"} >= {"african", "caucasian"}
    assert 60 <= len(real) <= 90
    assert {p.stratum for p in real} == set(S.REAL_STRATA_TARGET)
    assert not {s.id for s in sources.real_specs(fundus_data)} & {p.id for p in real}
    teacher_student = sources.real_training_specs(fundus_data)
    ts_ids = {s.id for s in teacher_student}
    assert len(ts_ids) == len(teacher_student) >= 300  # every real photo but evaluate's subset (issue 17)
    assert {"real/csdi", "real/clinical", "real/eyeq"} <= {i.rsplit("/", 1)[0] for i in ts_ids}
    assert not ts_ids & {p.id for p in real}
    assert not {s.id for s in sources.train_clean_specs(fundus_data)} & S.test_ids(fundus_data)
