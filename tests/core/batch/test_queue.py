"""The SQLite queue: WAL mode, job life cycle, crash recovery, skip lookup."""

from __future__ import annotations

import subprocess
import sys

from core.batch.queue import BatchQueue, default_db_path, settings_key
from core.paths import user_data_dir

SETTINGS = {"enhance": {"mode": "fast"}, "format": "png", "quality": 95}


def new_batch(q: BatchQueue, n: int = 3) -> tuple[int, list[int]]:
    bid = q.create_batch("/out", SETTINGS)
    return bid, q.add_jobs(bid, [(f"/in/{i}.png", f"/out/{i}_enhanced.png") for i in range(n)], SETTINGS)


def test_database_lives_in_the_user_data_folder_in_wal_mode():
    q = BatchQueue()
    assert q.path == default_db_path() and q.path.parent == user_data_dir()
    assert q.journal_mode == "wal"


def test_job_life_cycle_and_controls():
    q = BatchQueue()
    bid, ids = new_batch(q, 4)
    assert q.add_jobs(bid, [("/in/0.png", "/out/0_enhanced.png")], SETTINGS) == []  # no duplicates
    assert q.counts(bid)["pending"] == 4
    assert q.next_pending(bid).id == ids[0]
    assert q.next_pending(bid, exclude=[ids[0]]).id == ids[1]
    assert q.start(ids[0]) and not q.start(ids[0])  # only a pending job starts
    assert q.finish(ids[0], "done", output_sha256="f" * 64, model={"name": "m", "version": "1"},
                    timings={"read": 0.1, "enhance": 0.2, "write": 0.05, "total": 0.35})
    job = q.job(ids[0])
    assert job.status == "done" and job.total_s == 0.35 and job.model_name == "m" and job.attempts == 1
    assert q.start(ids[1]) and q.finish(ids[1], "failed", error="could not be read")
    assert q.remove([ids[2]]) == 1
    q.start(ids[3])
    assert q.remove([ids[3]]) == 0, "a running job is never removed"
    q.requeue(ids[3])
    assert q.cancel(bid) == 1 and q.job(ids[3]).status == "cancelled"
    assert q.retry_failed(bid) == 2
    assert {j.id: j.status for j in q.jobs(bid)} == {ids[0]: "done", ids[1]: "pending", ids[3]: "pending"}
    assert q.job(ids[1]).error is None


def test_jobs_of_a_dead_process_go_back_to_pending_live_ones_stay():
    q = BatchQueue()
    bid, ids = new_batch(q, 2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        q.start(ids[0], pid=dead.pid)
        q.start(ids[1], pid=alive.pid)
        assert q.recover_interrupted() == 1
        assert q.job(ids[0]).status == "pending" and q.job(ids[1]).status == "running"
    finally:
        alive.kill()
        alive.wait()


def test_state_survives_reopening_the_database():
    q = BatchQueue()
    bid, ids = new_batch(q, 2)
    q.start(ids[0])
    q.finish(ids[0], "done", output_sha256="a" * 64)
    q.close()
    q2 = BatchQueue()
    assert q2.counts(bid) == {"pending": 1, "running": 0, "done": 1, "failed": 0, "cancelled": 0, "skipped": 0}
    assert q2.latest_batch("/out").id == bid


def test_find_done_needs_same_input_settings_model_and_output():
    q = BatchQueue()
    bid, ids = new_batch(q, 1)
    model = {"name": "m", "version": "1", "weights_sha256": "w"}
    q.set_input(ids[0], input_sha256="i" * 64)
    q.start(ids[0])
    q.finish(ids[0], "done", output_sha256="o" * 64, model=model, settings=SETTINGS)
    key = settings_key(SETTINGS)
    assert q.find_done("i" * 64, key, model, "/out/0_enhanced.png").id == ids[0]
    assert q.find_done("j" * 64, key, model, "/out/0_enhanced.png") is None
    assert q.find_done("i" * 64, settings_key({**SETTINGS, "format": "jpg"}), model, "/out/0_enhanced.png") is None
    assert q.find_done("i" * 64, key, {**model, "version": "2"}, "/out/0_enhanced.png") is None
    assert q.find_done("i" * 64, key, model, "/elsewhere/0_enhanced.png") is None
