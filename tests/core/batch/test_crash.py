"""Crash safety: SIGKILL a batch runner mid-batch (twice), restart it, and check the outputs.

Every input must end with exactly one complete, valid output and one sidecar that
describes it; no duplicates, no temporary files, every job done exactly once in the queue.
Uses the DRIVE test photos (565 x 584) when the research data is present, otherwise
synthetic photos of the same size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.batch import BatchQueue
from core.imaging import read
from core.provenance import sha256_file
from tests.core.batch.helpers import write_photo

REPO = Path(__file__).resolve().parents[3]
N = 16


def inputs(request, tmp_path: Path) -> tuple[Path, int]:
    try:
        data = request.getfixturevalue("fundus_data")
    except pytest.skip.Exception:
        data = None
    if data is not None:
        drive = data / "drive" / "test" / "images"
        found = len(list(drive.glob("*.tif")))
        if found >= N:
            return drive, found  # read only: outputs go to tmp_path
    src = tmp_path / "in"
    for i in range(N):
        write_photo(src / f"sub{i % 3}" / f"{i:02d}.png", seed=i, size=(584, 565))
    return src, N


def start(src: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "tests.core.batch.crash_worker", str(src), str(out)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_and_kill(proc: subprocess.Popen, q: BatchQueue, out: Path, done_at_least: int, extra_s: float) -> None:
    """SIGKILL once `done_at_least` photos are done, `extra_s` later (mid-photo, maybe mid-write)."""
    deadline = time.time() + 40
    while time.time() < deadline and proc.poll() is None:
        batch = q.latest_batch(out)
        if batch is not None and q.counts(batch.id)["done"] >= done_at_least:
            break
        time.sleep(0.02)
    time.sleep(extra_s)
    assert proc.poll() is None, f"the runner ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_leaves_exactly_one_valid_output_each(request, tmp_path):
    src, n = inputs(request, tmp_path)
    out = tmp_path / "out"
    q = BatchQueue()
    rng = np.random.default_rng(7)

    wait_and_kill(start(src, out), q, out, 3, float(rng.uniform(0.0, 0.3)))
    batch = q.latest_batch(out)
    killed_with = q.counts(batch.id)
    assert killed_with["running"] >= 1 or killed_with["pending"] > 0, "the kill did not land mid-batch"
    wait_and_kill(start(src, out), q, out, killed_with["done"] + 4, float(rng.uniform(0.0, 0.3)))
    final = start(src, out)
    assert final.wait(60) == 0, final.stderr.read().decode()[-2000:]

    jobs = q.jobs(batch.id)
    assert len(jobs) == n and {j.status for j in jobs} == {"done"}
    assert len({j.input_path for j in jobs}) == n and len({j.output_path for j in jobs}) == n
    assert max(j.attempts for j in jobs) >= 2, "at least one photo was interrupted and redone"
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert not [p for p in files if p.name.endswith(".tmp") or p.name.startswith(".")], "temporary files left"
    images = [p for p in files if p.suffix == ".png"]
    sidecars = [p for p in files if p.suffix == ".json"]
    assert len(images) == n and len(sidecars) == n and len(files) == 2 * n, "no duplicates, nothing else"
    for job in jobs:
        image = Path(job.output_path)
        assert image in images
        original = read(job.input_path)
        enhanced = read(image)  # decodes completely: not truncated
        assert enhanced.pixels.shape == original.pixels.shape
        side = json.loads(Path(str(image) + ".json").read_text())
        assert side["output"]["sha256"] == sha256_file(image) == job.output_sha256
        assert side["input"]["sha256"] == original.source_sha256
        assert side["extra"]["batch"]["job_id"] == job.id
