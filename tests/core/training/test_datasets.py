import cv2
import numpy as np
import pytest

from core.training import datasets as ds
from tests.core.training.tiny import restore_threads, tiny_sources  # noqa: F401
from tests.synthetic import make_fundus


def test_training_ids_never_include_test_images():
    train = set(ds.TRAIN_DRIVE_IDS) | set(ds.TRAIN_HRF_IDS)
    assert not train & ds.TEST_IDS
    assert len(ds.TRAIN_DRIVE_IDS) == 20 and len(ds.TRAIN_HRF_IDS) == 27
    assert {"hrf/11_h", "hrf/12_h", "hrf/13_h", "hrf/08_dr", "drive/21", "drive/40"} <= train
    assert {f"drive/{n:02d}" for n in range(1, 21)} <= ds.TEST_IDS
    assert {f"hrf/{n}_{c}" for n in ("09", "10") for c in ("h", "g", "dr")} <= ds.TEST_IDS


@pytest.mark.data
def test_training_specs_on_disk(fundus_data):
    specs = ds.train_clean_specs(fundus_data)
    ids = [s.id for s in specs]
    assert not set(ids) & ds.TEST_IDS
    for s in specs:
        assert s.image.exists() and s.mask.exists()
        assert "test" not in s.image.parts  # never DRIVE's test folder
        assert not s.image.name.startswith(("09_", "10_"))
    no_labels = {s.id for s in specs if s.vessels is None}
    assert no_labels == {"hrf/11_h", "hrf/12_h", "hrf/13_h"}
    real = ds.real_specs(fundus_data)
    assert len(real) >= 40 and all(r.id.startswith("real/") for r in real)
    tests = ds.test_clean_specs(fundus_data)
    assert {t.id for t in tests} == set(ds.TEST_IDS)


def test_prepare_and_cache_roundtrip(tmp_path):
    img = make_fundus(200, 260, seed=4)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    mask = (img.max(axis=2) > 0).astype(np.uint8) * 255
    cv2.imwrite(str(tmp_path / "a_mask.png"), mask)
    spec = ds.SourceSpec("x/a", tmp_path / "a.png", tmp_path / "a_mask.png", tmp_path / "a_mask.png")
    src = ds.load_source(spec, tmp_path / "cache", max_side=128)
    assert src.image.shape == (src.side, src.side, 3) and src.side <= 128
    assert src.fov.dtype == bool and 0.5 < src.fov.mean() < 0.9
    assert not src.image[~src.fov].any()  # black outside the FOV
    again = ds.load_source(spec, tmp_path / "cache", max_side=128)  # from the .npy cache
    assert np.array_equal(again.image, src.image) and np.array_equal(again.vessels, src.vessels)
    assert len(list((tmp_path / "cache").iterdir())) == 1


def _one_source_spec(tmp_path):
    img = make_fundus(160, 200, seed=6)
    cv2.imwrite(str(tmp_path / "b.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "b_mask.png"), (img.max(axis=2) > 0).astype(np.uint8) * 255)
    return ds.SourceSpec("x/b", tmp_path / "b.png", tmp_path / "b_mask.png", tmp_path / "b_mask.png")


def test_cache_built_by_two_runs_at_once(tmp_path, monkeypatch):
    """A teacher-student run and its supervised control start together and build the same entries."""
    import threading

    spec = _one_source_spec(tmp_path)
    real_save = np.save
    both_writing = threading.Barrier(2)
    first_write = threading.local()

    class NumpyWithBarrier:  # `ds.np`, except that both builders start writing together
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def save(path, array):
            if not getattr(first_write, "done", False):
                first_write.done = True
                both_writing.wait(timeout=30)
            real_save(path, array)

    monkeypatch.setattr(ds, "np", NumpyWithBarrier())
    results, errors = [], []

    def build():
        try:
            results.append(ds.load_source(spec, tmp_path / "cache", max_side=96))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 2
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [ds._cache_key(spec, 96)]  # no temporary left
    monkeypatch.setattr(ds, "np", np)
    cached = ds.load_source(spec, tmp_path / "cache", max_side=96)
    assert np.array_equal(cached.image, results[0].image)


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    spec = _one_source_spec(tmp_path)
    first = ds.load_source(spec, tmp_path / "cache", max_side=96)
    entry = tmp_path / "cache" / ds._cache_key(spec, 96)
    (entry / "image.npy").write_bytes(b"not an array")
    again = ds.load_source(spec, tmp_path / "cache", max_side=96)
    assert np.array_equal(again.image, first.image)
    assert np.array_equal(np.load(entry / "image.npy"), first.image)  # repaired on disk


def test_pool_is_a_function_of_the_step_and_rank():
    srcs = tiny_sources(3)
    a = ds.SyntheticPool(srcs, size=3, refresh=1, seed=5, rank=0, scales=ds.ScaleJitter((64, 96), (80, 96), 0.2))
    b = ds.SyntheticPool(srcs, size=3, refresh=1, seed=5, rank=0, scales=a.scales)
    for step in range(4):
        ba = a.sample(step, 2, 32)  # incremental
    bb = b.sample(3, 2, 32)  # rebuilt from scratch at step 3 (what a resume does)
    assert np.array_equal(ba.degraded, bb.degraded) and np.array_equal(ba.clean, bb.clean)
    assert sorted(g for g, _ in a.slots.values()) == list(a.generations_at(3))
    other = ds.SyntheticPool(srcs, size=3, refresh=1, seed=5, rank=1, scales=a.scales).sample(3, 2, 32)
    assert not np.array_equal(other.degraded, ba.degraded)
    assert ba.degraded.shape == (2, 3, 32, 32) and ba.fov.shape == (2, 1, 32, 32)
    assert ba.degraded.dtype == np.float32 and 0 <= ba.degraded.min() and ba.degraded.max() <= 1
    assert not np.array_equal(ba.degraded, ba.clean)  # degraded
    assert set(np.unique(ba.has_vessels)) <= {0.0, 1.0}


def test_real_sampler_and_scales():
    srcs = tiny_sources(2, prefix="real")
    r = ds.RealSampler(srcs, seed=1, scales=ds.ScaleJitter((64, 96), (80, 96), 0.5))
    img, fov = r.sample(0, 3, 32)
    img2, _ = r.sample(0, 3, 32)
    assert img.shape == (3, 3, 32, 32) and fov.shape == (3, 1, 32, 32)
    assert np.array_equal(img, img2)
    assert (fov.reshape(3, -1).mean(axis=1) > 0).all()  # patches centred in the FOV
    rng = np.random.default_rng(0)
    sizes = [ds.ScaleJitter().sample(rng, 5000) for _ in range(400)]
    assert min(sizes) >= 440 and max(sizes) <= 1000
    assert np.mean([440 <= s <= 600 for s in sizes]) > 0.6  # mostly near the working size
    assert max(ds.ScaleJitter().sample(rng, 536) for _ in range(50)) <= 536  # never above native


def test_pool_clean_share():
    srcs = tiny_sources(3)
    pool = ds.SyntheticPool(srcs, size=20, refresh=1, seed=2, p_clean=0.5, scales=ds.ScaleJitter((64, 96), (80, 96), 0.2))
    pool.advance_to(0)
    entries = [e for _, e in pool.slots.values()]
    clean = [e for e in entries if e.combination == "none"]
    assert 3 <= len(clean) <= 17
    assert all(np.array_equal(e.clean, e.degraded) for e in clean)
    assert all(not np.array_equal(e.clean, e.degraded) for e in entries if e.combination != "none")


def test_pool_photometric_share_is_a_global_shift_only():
    """Photometric pairs: the input is the clean photo under one exposure, gamma and white balance,
    so a per-channel power-and-gain fit recovers it exactly (no local structure is added or lost)."""
    srcs = tiny_sources(3)
    pool = ds.SyntheticPool(srcs, size=20, refresh=1, seed=4, p_photometric=0.5,
                            scales=ds.ScaleJitter((64, 96), (80, 96), 0.2))
    pool.advance_to(0)
    entries = [e for _, e in pool.slots.values()]
    photometric = [e for e in entries if e.combination == "photometric"]
    assert 3 <= len(photometric) <= 17
    for e in photometric:
        c = e.clean.astype(np.float64) / 255
        d = e.degraded.astype(np.float64) / 255
        ok = e.fov & (c.min(axis=2) > 0.05) & (d.max(axis=2) < 0.95)
        for ch in range(3):
            x, y = np.log(c[..., ch][ok]), np.log(d[..., ch][ok] + 1e-9)
            slope, icpt = np.polyfit(x, y, 1)  # log d = gamma * log c + log gain
            assert np.abs(y - (slope * x + icpt)).max() < 0.2  # 8-bit rounding only
        assert not np.array_equal(e.clean, e.degraded)


def test_photometric_shift_is_seeded_and_bounded():
    from core.degrade import PhotometricRanges, photometric_shift  # noqa: PLC0415

    img = np.full((32, 32, 3), 0.5, np.float32)
    fov = np.ones((32, 32), bool)
    a, pa = photometric_shift(img, fov, 7)
    b, pb = photometric_shift(img, fov, 7)
    assert np.array_equal(a, b) and pa == pb
    r = PhotometricRanges()
    assert r.exposure[0] <= pa["exposure"] <= r.exposure[1] and r.gamma[0] <= pa["gamma"] <= r.gamma[1]
    assert 0.0 <= a.min() and a.max() <= 1.0


@pytest.mark.data
def test_extra_clean_sources_leave_every_test_split_out(fundus_data):
    from core.data.splits import photometric_test, test_ids  # noqa: PLC0415

    specs = ds.extra_clean_specs(fundus_data)
    ids = {s.id for s in specs}
    assert not ids & test_ids(fundus_data)
    held = {p.id for p in photometric_test(fundus_data) if p.dataset in ("idrid", "hei_med")}
    assert held and len(ids) >= 250  # 332 clean_extra photos minus the held-out ones
    assert any(s.vessels is not None for s in specs if s.id.startswith("les_av/"))


def test_drop_lowest_quality_leaves_out_the_blurred_photo():
    srcs = tiny_sources(5)
    blurred = ds.Source("blurred", cv2.GaussianBlur(srcs[0].image, (0, 0), 4), srcs[0].fov, None, srcs[0].native_side)
    kept = ds.drop_lowest_quality([*srcs, blurred], 1 / 6)
    assert len(kept) == 5 and "blurred" not in {s.id for s in kept}
