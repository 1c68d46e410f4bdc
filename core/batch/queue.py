"""The persistent batch queue: one SQLite file (WAL mode) in the user data folder.

Every state change of a job is one committed transaction, so after a crash, a power cut
or a killed process the database says exactly which photos are done. Jobs left `running`
by a process that no longer exists go back to `pending` when a runner starts
(`recover_interrupted`). Readers (the GUI table) never block the runner: WAL lets them
read while it writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

from core.paths import user_data_dir

STATUSES = ("pending", "running", "done", "failed", "cancelled", "skipped")
FINISHED = ("done", "failed", "cancelled", "skipped")
DB_NAME = "batch_queue.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    output_dir TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    options_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    input_path TEXT NOT NULL,
    input_sha256 TEXT,
    settings_json TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    output_path TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    error TEXT,
    note TEXT,
    model_name TEXT,
    model_version TEXT,
    model_sha256 TEXT,
    output_sha256 TEXT,
    width INTEGER,
    height INTEGER,
    bit_depth INTEGER,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    read_s REAL,
    enhance_s REAL,
    write_s REAL,
    total_s REAL,
    measures_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker_pid INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_batch ON jobs(batch_id, status, id);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs(input_sha256, settings_key, status);
CREATE TABLE IF NOT EXISTS thumbs (
    job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    before BLOB,
    after BLOB
);
"""


def default_db_path() -> Path:
    return user_data_dir() / DB_NAME


def settings_key(settings: dict[str, Any]) -> str:
    """A stable digest of everything that changes an output (same settings -> same key)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class Batch:
    id: int
    created_at: float
    name: str
    output_dir: str
    settings_json: str
    options_json: str

    @property
    def settings(self) -> dict[str, Any]:
        return json.loads(self.settings_json)

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json or "{}")


@dataclass
class Job:
    id: int
    batch_id: int
    input_path: str
    input_sha256: str | None
    settings_json: str
    settings_key: str
    output_path: str
    status: str
    error: str | None
    note: str | None
    model_name: str | None
    model_version: str | None
    model_sha256: str | None
    output_sha256: str | None
    width: int | None
    height: int | None
    bit_depth: int | None
    queued_at: float
    started_at: float | None
    finished_at: float | None
    read_s: float | None
    enhance_s: float | None
    write_s: float | None
    total_s: float | None
    measures_json: str | None
    attempts: int
    worker_pid: int | None

    @property
    def name(self) -> str:
        return Path(self.input_path).name

    @property
    def measures(self) -> dict[str, Any]:
        return json.loads(self.measures_json) if self.measures_json else {}

    @property
    def settings(self) -> dict[str, Any]:
        return json.loads(self.settings_json)


_JOB_COLUMNS = ", ".join(f.name for f in fields(Job))
_BATCH_COLUMNS = ", ".join(f.name for f in fields(Batch))


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


class BatchQueue:
    """Thread-safe access to the queue database (one SQLite connection per thread)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        con = self._con()
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        self.journal_mode = str(mode).lower()
        con.executescript(_SCHEMA)
        con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ------------------------------------------------------------------ connections
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA busy_timeout=30000")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        return con

    def close_thread(self) -> None:
        """Close the calling thread's connection (worker threads call this when they end)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            with self._lock:
                if con in self._all:
                    self._all.remove(con)
            con.close()
            self._local.con = None

    def close(self) -> None:
        with self._lock:
            for con in self._all:
                try:
                    con.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own immediate transaction; returns the rows changed."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            n = con.execute(sql, params).rowcount
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return n

    # ------------------------------------------------------------------ batches
    def create_batch(self, output_dir: str | os.PathLike[str], settings: dict[str, Any],
                     name: str = "", options: dict[str, Any] | None = None) -> int:
        con = self._con()
        cur = con.execute(
            "INSERT INTO batches(created_at, name, output_dir, settings_json, options_json) VALUES (?,?,?,?,?)",
            (time.time(), name, str(output_dir), json.dumps(settings, sort_keys=True), json.dumps(options or {})),
        )
        return int(cur.lastrowid)

    def batch(self, batch_id: int) -> Batch | None:
        row = self._con().execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE id=?", (batch_id,)).fetchone()
        return Batch(**dict(row)) if row else None

    def batches(self) -> list[Batch]:
        rows = self._con().execute(f"SELECT {_BATCH_COLUMNS} FROM batches ORDER BY id").fetchall()
        return [Batch(**dict(r)) for r in rows]

    def latest_batch(self, output_dir: str | os.PathLike[str]) -> Batch | None:
        """The newest batch writing into `output_dir` (what `--resume` continues)."""
        want = str(Path(output_dir).resolve())
        for b in reversed(self.batches()):
            if str(Path(b.output_dir).resolve()) == want:
                return b
        return None

    def set_options(self, batch_id: int, options: dict[str, Any]) -> None:
        self._write("UPDATE batches SET options_json=? WHERE id=?", (json.dumps(options), batch_id))

    def delete_batch(self, batch_id: int) -> None:
        self._write("DELETE FROM batches WHERE id=?", (batch_id,))

    # ------------------------------------------------------------------ jobs
    def add_jobs(self, batch_id: int, items: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
                 settings: dict[str, Any]) -> list[int]:
        """Queue (input, output) pairs; an input already queued in this batch is not added twice."""
        text = json.dumps(settings, sort_keys=True)
        key = settings_key(settings)
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            have = {r[0] for r in con.execute("SELECT input_path FROM jobs WHERE batch_id=?", (batch_id,))}
            ids = []
            now = time.time()
            for src, dest in items:
                s = str(src)
                if s in have:
                    continue
                have.add(s)
                cur = con.execute(
                    "INSERT INTO jobs(batch_id, input_path, settings_json, settings_key, output_path, queued_at)"
                    " VALUES (?,?,?,?,?,?)", (batch_id, s, text, key, str(dest), now))
                ids.append(int(cur.lastrowid))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return ids

    def job(self, job_id: int) -> Job | None:
        row = self._con().execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job(**dict(row)) if row else None

    def jobs(self, batch_id: int, statuses: Sequence[str] | None = None) -> list[Job]:
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE batch_id=?"
        params: list[Any] = [batch_id]
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        rows = self._con().execute(sql + " ORDER BY id", params).fetchall()
        return [Job(**dict(r)) for r in rows]

    def counts(self, batch_id: int) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self._con().execute(
                "SELECT status, COUNT(*) FROM jobs WHERE batch_id=? GROUP BY status", (batch_id,)):
            out[status] = n
        return out

    def next_pending(self, batch_id: int, exclude: Iterable[int] = ()) -> Job | None:
        """The oldest pending job not in `exclude` (ids the runner already holds in memory)."""
        ex = list(exclude)
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE batch_id=? AND status='pending'"
        if ex:
            sql += f" AND id NOT IN ({','.join('?' * len(ex))})"
        row = self._con().execute(sql + " ORDER BY id LIMIT 1", [batch_id, *ex]).fetchone()
        return Job(**dict(row)) if row else None

    def start(self, job_id: int, pid: int | None = None) -> bool:
        """pending -> running; False when the job was meanwhile cancelled, removed or taken."""
        return self._write(
            "UPDATE jobs SET status='running', started_at=?, attempts=attempts+1, worker_pid=?, error=NULL, note=NULL"
            " WHERE id=? AND status='pending'", (time.time(), pid or os.getpid(), job_id)) == 1

    def set_input(self, job_id: int, *, input_sha256: str | None = None, width: int | None = None,
                  height: int | None = None, bit_depth: int | None = None, output_path: str | None = None) -> None:
        sets, params = [], []
        for col, val in (("input_sha256", input_sha256), ("width", width), ("height", height),
                         ("bit_depth", bit_depth), ("output_path", output_path)):
            if val is not None:
                sets.append(f"{col}=?")
                params.append(val)
        if sets:
            self._write(f"UPDATE jobs SET {', '.join(sets)} WHERE id=?", (*params, job_id))

    def finish(self, job_id: int, status: str, *, error: str | None = None, note: str | None = None,
               output_sha256: str | None = None, model: dict[str, Any] | None = None,
               timings: dict[str, float] | None = None, measures: dict[str, Any] | None = None,
               output_path: str | None = None, settings: dict[str, Any] | None = None) -> bool:
        """running (or pending, for skips and cancels) -> a finished status, with everything learned."""
        if status not in FINISHED:
            raise ValueError(f"not a finished status: {status}")
        t = timings or {}
        model = model or {}
        text = json.dumps(settings, sort_keys=True) if settings is not None else None
        key = settings_key(settings) if settings is not None else None
        return self._write(
            "UPDATE jobs SET status=?, error=?, note=?, output_sha256=COALESCE(?, output_sha256),"
            " model_name=COALESCE(?, model_name), model_version=COALESCE(?, model_version),"
            " model_sha256=COALESCE(?, model_sha256), finished_at=?, read_s=?, enhance_s=?, write_s=?, total_s=?,"
            " measures_json=COALESCE(?, measures_json), output_path=COALESCE(?, output_path), worker_pid=NULL,"
            " settings_json=COALESCE(?, settings_json), settings_key=COALESCE(?, settings_key)"
            " WHERE id=? AND status IN ('running', 'pending')",
            (status, error, note, output_sha256, model.get("name"), model.get("version"),
             model.get("weights_sha256"), time.time(), t.get("read"), t.get("enhance"), t.get("write"),
             t.get("total"), json.dumps(measures) if measures is not None else None, output_path, text, key, job_id),
        ) == 1

    def requeue(self, job_id: int) -> bool:
        """running -> pending (work was interrupted before it finished)."""
        return self._write("UPDATE jobs SET status='pending', worker_pid=NULL WHERE id=? AND status='running'",
                           (job_id,)) == 1

    def cancel(self, batch_id: int) -> int:
        """Every pending job of the batch -> cancelled (the running one is stopped by its runner)."""
        return self._write("UPDATE jobs SET status='cancelled', finished_at=? WHERE batch_id=? AND status='pending'",
                           (time.time(), batch_id))

    def retry_failed(self, batch_id: int, include_cancelled: bool = True) -> int:
        """failed (and cancelled) -> pending, so the runner tries them again."""
        states = ("failed", "cancelled") if include_cancelled else ("failed",)
        return self._write(
            f"UPDATE jobs SET status='pending', error=NULL, note=NULL, finished_at=NULL WHERE batch_id=?"
            f" AND status IN ({','.join('?' * len(states))})", (batch_id, *states))

    def remove(self, job_ids: Iterable[int]) -> int:
        """Delete jobs from the queue (never one that is running: cancel it first)."""
        ids = list(job_ids)
        if not ids:
            return 0
        return self._write(f"DELETE FROM jobs WHERE status!='running' AND id IN ({','.join('?' * len(ids))})", ids)

    def recover_interrupted(self) -> int:
        """Jobs `running` in a process that is gone (crash, kill) -> pending. Call at start-up."""
        rows = self._con().execute("SELECT id, worker_pid FROM jobs WHERE status='running'").fetchall()
        stale = [r["id"] for r in rows if r["worker_pid"] == os.getpid() or not _pid_alive(r["worker_pid"])]
        for jid in stale:
            self.requeue(jid)
        return len(stale)

    def find_done(self, input_sha256: str, key: str, model: dict[str, Any], output_path: str) -> Job | None:
        """A finished job with the same input, settings, model and output file (for skipping)."""
        row = self._con().execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE input_sha256=? AND settings_key=? AND status IN ('done','skipped')"
            " AND model_name IS ? AND model_version IS ? AND model_sha256 IS ? AND output_path=?"
            " AND output_sha256 IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
            (input_sha256, key, model.get("name"), model.get("version"), model.get("weights_sha256"), output_path),
        ).fetchone()
        return Job(**dict(row)) if row else None

    def output_owners(self, folder: str | os.PathLike[str]) -> dict[str, str]:
        """{output path: input path} of every job (any batch) writing under `folder`."""
        prefix = str(Path(folder)).rstrip(os.sep) + os.sep
        rows = self._con().execute(
            "SELECT output_path, input_path FROM jobs WHERE substr(output_path, 1, ?) = ?", (len(prefix), prefix))
        return {r[0]: r[1] for r in rows}

    # ------------------------------------------------------------------ thumbnails
    def set_thumbs(self, job_id: int, before: bytes | None, after: bytes | None) -> None:
        self._write("INSERT OR REPLACE INTO thumbs(job_id, before, after) VALUES (?,?,?)", (job_id, before, after))

    def thumbs(self, job_id: int) -> tuple[bytes | None, bytes | None]:
        row = self._con().execute("SELECT before, after FROM thumbs WHERE job_id=?", (job_id,)).fetchone()
        return (row["before"], row["after"]) if row else (None, None)
