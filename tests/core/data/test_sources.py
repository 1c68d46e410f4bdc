"""Prepared sources (core.data.sources): the fixed training and test lists, reading and the .npy cache."""

import cv2
import numpy as np
import pytest

from core.data import sources, splits
from tests.synthetic import make_fundus


def test_training_ids_never_include_test_images():
    train = set(splits.TRAIN_DRIVE_IDS) | set(splits.TRAIN_HRF_IDS)
    assert not train & splits.TEST_IDS
    assert len(splits.TRAIN_DRIVE_IDS) == 20 and len(splits.TRAIN_HRF_IDS) == 27
    assert {"hrf/11_h", "hrf/12_h", "hrf/13_h", "hrf/08_dr", "drive/21", "drive/40"} <= train
    assert {f"drive/{n:02d}" for n in range(1, 21)} <= splits.TEST_IDS
    assert {f"hrf/{n}_{c}" for n in ("09", "10") for c in ("h", "g", "dr")} <= splits.TEST_IDS


@pytest.mark.data
def test_training_specs_on_disk(fundus_data):
    specs = sources.train_clean_specs(fundus_data)
    ids = [s.id for s in specs]
    assert not set(ids) & splits.TEST_IDS
    for s in specs:
        assert s.image.exists() and s.mask.exists()
        assert "test" not in s.image.parts  # never DRIVE's test folder
        assert not s.image.name.startswith(("09_", "10_"))
    no_labels = {s.id for s in specs if s.vessels is None}
    assert no_labels == {"hrf/11_h", "hrf/12_h", "hrf/13_h"}
    real = sources.real_specs(fundus_data)
    assert len(real) >= 40 and all(r.id.startswith("real/") for r in real)
    tests = sources.test_clean_specs(fundus_data)
    assert {t.id for t in tests} == set(splits.TEST_IDS)


def test_prepare_and_cache_roundtrip(tmp_path):
    img = make_fundus(200, 260, seed=4)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    mask = (img.max(axis=2) > 0).astype(np.uint8) * 255
    cv2.imwrite(str(tmp_path / "a_mask.png"), mask)
    spec = sources.SourceSpec("x/a", tmp_path / "a.png", tmp_path / "a_mask.png", tmp_path / "a_mask.png")
    src = sources.load_source(spec, tmp_path / "cache", max_side=128)
    assert src.image.shape == (src.side, src.side, 3) and src.side <= 128
    assert src.fov.dtype == bool and 0.5 < src.fov.mean() < 0.9
    assert not src.image[~src.fov].any()  # black outside the FOV
    again = sources.load_source(spec, tmp_path / "cache", max_side=128)  # from the .npy cache
    assert np.array_equal(again.image, src.image) and np.array_equal(again.vessels, src.vessels)
    assert len(list((tmp_path / "cache").iterdir())) == 1


def _one_source_spec(tmp_path):
    img = make_fundus(160, 200, seed=6)
    cv2.imwrite(str(tmp_path / "b.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "b_mask.png"), (img.max(axis=2) > 0).astype(np.uint8) * 255)
    return sources.SourceSpec("x/b", tmp_path / "b.png", tmp_path / "b_mask.png", tmp_path / "b_mask.png")


def test_cache_built_by_two_runs_at_once(tmp_path, monkeypatch):
    """A teacher-student run and its supervised control start together and build the same entries."""
    import threading

    spec = _one_source_spec(tmp_path)
    real_save = np.save
    both_writing = threading.Barrier(2)
    first_write = threading.local()

    class NumpyWithBarrier:  # `sources.np`, except that both builders start writing together
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def save(path, array):
            if not getattr(first_write, "done", False):
                first_write.done = True
                both_writing.wait(timeout=30)
            real_save(path, array)

    monkeypatch.setattr(sources, "np", NumpyWithBarrier())
    results, errors = [], []

    def build():
        try:
            results.append(sources.load_source(spec, tmp_path / "cache", max_side=96))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 2
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [sources._cache_key(spec, 96)]  # no temporary left
    monkeypatch.setattr(sources, "np", np)
    cached = sources.load_source(spec, tmp_path / "cache", max_side=96)
    assert np.array_equal(cached.image, results[0].image)


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    spec = _one_source_spec(tmp_path)
    first = sources.load_source(spec, tmp_path / "cache", max_side=96)
    entry = tmp_path / "cache" / sources._cache_key(spec, 96)
    (entry / "image.npy").write_bytes(b"not an array")
    again = sources.load_source(spec, tmp_path / "cache", max_side=96)
    assert np.array_equal(again.image, first.image)
    assert np.array_equal(np.load(entry / "image.npy"), first.image)  # repaired on disk


@pytest.mark.data
def test_extra_clean_sources_leave_every_test_split_out(fundus_data):
    specs = sources.extra_clean_specs(fundus_data)
    ids = {s.id for s in specs}
    assert not ids & splits.test_ids(fundus_data)
    held = {p.id for p in splits.photometric_test(fundus_data) if p.dataset in ("idrid", "hei_med")}
    assert held and len(ids) >= 250  # 332 clean_extra photos minus the held-out ones
    assert any(s.vessels is not None for s in specs if s.id.startswith("les_av/"))
