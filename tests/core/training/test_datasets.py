import cv2
import numpy as np

from core.data.sources import Source
from core.training import datasets as ds
from tests.core.training.tiny import restore_threads, tiny_sources  # noqa: F401


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


def test_pool_takes_training_only_degradation_ranges():
    scales = ds.ScaleJitter((64, 96), (80, 96), 0.2)
    pool = ds.SyntheticPool(tiny_sources(2), size=2, refresh=1, seed=2, scales=scales, defocus_sigma=(0.5, 3.0),
                            degrade_ranges={"haze_green": [0.8, 1.35]})
    assert pool.ranges.haze_green == (0.8, 1.35) and pool.ranges.defocus_sigma == (0.5, 3.0)
    assert ds.SyntheticPool(tiny_sources(2), size=2, refresh=1, seed=2, scales=scales).ranges == ds.ranges_with(None)


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


def test_drop_lowest_quality_leaves_out_the_blurred_photo():
    srcs = tiny_sources(5)
    blurred = Source("blurred", cv2.GaussianBlur(srcs[0].image, (0, 0), 4), srcs[0].fov, None, srcs[0].native_side)
    kept = ds.drop_lowest_quality([*srcs, blurred], 1 / 6)
    assert len(kept) == 5 and "blurred" not in {s.id for s in kept}
