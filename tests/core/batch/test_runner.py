"""The runner: outputs and sidecars, failures alone, skip-if-done, pause/cancel/stop, bounded memory."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np

from core.batch import BatchQueue, BatchRunner, Measurer, batch_settings, enqueue
from core.batch.runner import temp_files_for
from core.imaging import read
from core.provenance import sha256_file
from tests.core.batch.helpers import photo_tree, random_noise_png, tiny_enhancer, write_photo


def run_batch(tmp_path: Path, n: int = 4, **kw):
    src = tmp_path / "in"
    photos = photo_tree(src, n)
    q = BatchQueue()
    bid, _ = enqueue(q, [src], tmp_path / "out", batch_settings("fast", "png"))
    runner = BatchRunner(q, bid, tiny_enhancer(), **kw)
    return q, bid, runner, photos


def test_every_photo_gets_one_output_and_sidecar_in_mirrored_folders(tmp_path):
    q, bid, runner, photos = run_batch(tmp_path, 4, measurer=Measurer())
    summary = runner.run()
    assert summary.counts == {"done": 4} and summary.processed == 4 and not summary.stopped
    for job in q.jobs(bid):
        out = Path(job.output_path)
        rel_in = Path(job.input_path).relative_to((tmp_path / "in").resolve())
        assert out == (tmp_path / "out").resolve() / rel_in.parent / f"{rel_in.stem}_enhanced.png"
        assert read(out).pixels.shape == read(job.input_path).pixels.shape
        side = json.loads(Path(str(out) + ".json").read_text())
        assert side["output"]["sha256"] == sha256_file(out) == job.output_sha256
        assert side["input"]["sha256"] == job.input_sha256 == sha256_file(job.input_path)
        assert job.model_name == "gain" and job.model_version == "1.0"
        assert job.read_s > 0 and job.enhance_s > 0 and job.write_s > 0 and job.total_s >= job.enhance_s
        m = job.measures
        assert 0 < m["illumination_uniformity_before"] <= 1 and m["vessel_cnr_after"] > 0
        assert "No vessel model" in m["vessel_note"]
        before, after = q.thumbs(job.id)
        assert before[:2] == b"\xff\xd8" and after[:2] == b"\xff\xd8"


def test_unreadable_and_non_fundus_files_fail_alone_with_a_reason(tmp_path):
    src = tmp_path / "in"
    write_photo(src / "good.png")
    (src / "text.jpg").write_text("not a photo")
    random_noise_png(src / "noise.png")
    (src / "empty.tif").write_bytes(b"")
    q = BatchQueue()
    bid, _ = enqueue(q, [src], tmp_path / "out", batch_settings())
    BatchRunner(q, bid, tiny_enhancer()).run()
    by_name = {j.name: j for j in q.jobs(bid)}
    assert by_name["good.png"].status == "done"
    assert by_name["text.jpg"].status == "failed" and "does not contain an image" in by_name["text.jpg"].error
    assert by_name["empty.tif"].status == "failed" and "empty" in by_name["empty.tif"].error
    assert by_name["noise.png"].status == "failed" and "field of view" in by_name["noise.png"].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_enhanced.png", "good_enhanced.png.json"]


def test_already_done_photos_are_skipped_unless_something_changed(tmp_path):
    q, bid, runner, photos = run_batch(tmp_path, 3)
    runner.run()
    first = {Path(j.output_path): sha256_file(j.output_path) for j in q.jobs(bid)}
    mtimes = {p: p.stat().st_mtime_ns for p in first}

    bid2, _ = enqueue(q, [tmp_path / "in"], tmp_path / "out", batch_settings("fast", "png"))
    summary = BatchRunner(q, bid2, tiny_enhancer()).run()
    assert summary.counts == {"skipped": 3} and summary.processed == 0
    assert all("Already enhanced" in j.note for j in q.jobs(bid2))
    assert {p: p.stat().st_mtime_ns for p in first} == mtimes, "skipped outputs are not rewritten"

    Path(q.jobs(bid2)[0].output_path).write_bytes(b"tampered")  # an output changed on disk: redo it
    bid3, _ = enqueue(q, [tmp_path / "in"], tmp_path / "out", batch_settings("fast", "png"))
    assert BatchRunner(q, bid3, tiny_enhancer()).run().counts == {"done": 1, "skipped": 2}

    bid4, _ = enqueue(q, [tmp_path / "in"], tmp_path / "out", batch_settings("fast", "png"))
    assert BatchRunner(q, bid4, tiny_enhancer(version="2.0")).run().counts == {"done": 3}, "new model version"
    bid5, _ = enqueue(q, [tmp_path / "in"], tmp_path / "out", batch_settings("tiled", "png"))
    assert BatchRunner(q, bid5, tiny_enhancer(version="2.0")).run().counts == {"done": 3}, "new settings"


def test_pause_holds_the_next_photo_and_resume_continues(tmp_path):
    started: list[int] = []
    holder: dict = {}

    def item(job_id, fraction, message):
        if message == "enhancing" and job_id not in started:
            started.append(job_id)
            if len(started) == 1:
                holder["runner"].pause()

    q, bid, runner, _ = run_batch(tmp_path, 3, item_progress=item)
    holder["runner"] = runner
    t = threading.Thread(target=runner.run)
    t.start()
    deadline = time.time() + 10
    while q.counts(bid)["done"] < 1 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)
    assert runner.paused and len(started) == 1 and q.counts(bid)["pending"] == 2
    runner.resume()
    t.join(20)
    assert not t.is_alive() and q.counts(bid)["done"] == 3


def test_cancel_then_retry(tmp_path):
    holder: dict = {}

    def item(job_id, fraction, message):
        if message == "enhancing":
            holder["runner"].cancel()

    q, bid, runner, _ = run_batch(tmp_path, 3, item_progress=item)
    holder["runner"] = runner
    summary = runner.run()
    assert summary.cancelled
    c = q.counts(bid)
    assert c["pending"] == 0 and c["running"] == 0 and c["cancelled"] >= 2
    assert q.retry_failed(bid) == c["cancelled"]
    assert BatchRunner(q, bid, tiny_enhancer()).run().counts.get("done") == c["cancelled"]
    assert q.counts(bid)["done"] == 3


def test_stop_puts_the_current_photo_back_and_a_new_run_finishes(tmp_path):
    stop = threading.Event()

    def item(job_id, fraction, message):
        if message == "enhancing":
            stop.set()

    q, bid, runner, _ = run_batch(tmp_path, 3, item_progress=item, should_stop=stop.is_set)
    summary = runner.run()
    assert summary.stopped and not summary.cancelled
    assert q.counts(bid)["running"] == 0 and q.counts(bid)["cancelled"] == 0
    assert q.counts(bid)["pending"] >= 2
    assert BatchRunner(q, bid, tiny_enhancer()).run().stopped is False
    assert q.counts(bid)["done"] == 3


def test_memory_stays_bounded_and_stale_temp_files_are_removed(tmp_path):
    src = tmp_path / "in"
    photo_tree(src, 8)
    q = BatchQueue()
    bid, _ = enqueue(q, [src], tmp_path / "out", batch_settings("fast", "png"))
    stale = Path(q.jobs(bid)[0].output_path)
    stale.parent.mkdir(parents=True)
    leftover = stale.parent / f".{stale.name}.abc123.tmp"
    leftover.write_bytes(b"half a file")
    held: list[int] = []
    runner = BatchRunner(q, bid, tiny_enhancer(), prefetch=1, write_ahead=1,
                         item_progress=lambda *a: held.append(len(runner._in_flight)))
    runner.run()
    assert q.counts(bid)["done"] == 8
    assert max(held) <= 1 + 1 + 3, "prefetch + write queue + one in each stage at most"
    assert not leftover.exists() and not temp_files_for(stale)


def test_16_bit_photos_stay_16_bit_in_auto_format(tmp_path):
    from core.imaging import write  # noqa: PLC0415
    from tests.synthetic import make_fundus  # noqa: PLC0415

    src = tmp_path / "in"
    src.mkdir()
    write(src / "deep.tif", make_fundus(120, 140, dtype=np.uint16))
    q = BatchQueue()
    bid, _ = enqueue(q, [src], tmp_path / "out", batch_settings("fast", "auto"))
    BatchRunner(q, bid, tiny_enhancer()).run()
    job = q.jobs(bid)[0]
    assert job.status == "done" and job.output_path.endswith("deep_enhanced.tif")
    assert read(job.output_path).bit_depth == 16


def test_outputs_of_other_photos_and_foreign_files_are_never_overwritten(tmp_path):
    siteA, siteB = tmp_path / "siteA", tmp_path / "siteB"
    write_photo(siteA / "eye.png", seed=1)
    write_photo(siteB / "eye.png", seed=2)
    write_photo(siteB / "other.png", seed=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "other_enhanced.png").write_bytes(b"the user's own file")
    q = BatchQueue()
    bid, _ = enqueue(q, [siteA], out, batch_settings("fast", "png"))
    enqueue(q, [siteB], out, batch_settings("fast", "png"), batch_id=bid)  # same names, same batch
    BatchRunner(q, bid, tiny_enhancer()).run()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["eye_enhanced-2.png", "eye_enhanced-2.png.json", "eye_enhanced.png", "eye_enhanced.png.json",
                     "other_enhanced-2.png", "other_enhanced-2.png.json", "other_enhanced.png"]
    assert (out / "other_enhanced.png").read_bytes() == b"the user's own file"
    # queued again later, each photo keeps its own output name (and is skipped as done)
    bid2, _ = enqueue(q, [siteB], out, batch_settings("fast", "png"))
    assert BatchRunner(q, bid2, tiny_enhancer()).run().counts == {"skipped": 2}
    assert {Path(j.output_path).name for j in q.jobs(bid2)} == {"eye_enhanced-2.png", "other_enhanced-2.png"}


def test_repeated_runs_do_not_accumulate_database_connections(tmp_path):
    q, bid, runner, _ = run_batch(tmp_path, 2)
    runner.run()
    open_after_one = len(q._all)
    for _ in range(3):
        q.retry_failed(bid)
        runner.run()
    assert len(q._all) == open_after_one <= 2
