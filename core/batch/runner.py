"""Run a batch: the model loaded once, reading and writing overlapped with inference.

Three threads and two small bounded queues:

    prefetch (hash + decode the next photos) -> [ready, 2] -> enhance (caller's thread)
    -> [to write, 2] -> writer (encode, atomic write + sidecar, measures, thumbnails)

The bounds keep memory flat however long the batch is: at most a handful of photos
are held at once. Inference runs in the caller's thread (the GUI's worker QThread or
the CLI's main thread), so its progress and stop callbacks behave as everywhere else.

A job becomes `running` only when its enhancement starts (prefetched photos stay
`pending`), and `done` only after its output and sidecar are on disk, so a crash at
any moment leaves each job either finished or to be done again from scratch.
"""

from __future__ import annotations

import queue as _q
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.batch.inputs import output_suffix
from core.batch.measures import Measurer, thumbnail_jpeg
from core.batch.queue import BatchQueue, Job, settings_key
from core.errors import Cancelled, FundusError, ImageReadError
from core.export import write_comparison
from core.imaging import read, write
from core.memory import release_free_memory
from core.progress import ProgressCallback, StopCallback
from core.provenance import sha256_file, sidecar_path_for

ItemProgress = Callable[[int, float, str], None]
"""(job id, fraction 0..1 of this photo, message)"""
JobFinished = Callable[[Job], None]

_END = object()
READ_SHARE, ENHANCE_SHARE = 0.1, 0.75  # of one photo's progress bar; the rest is writing


@dataclass
class RunSummary:
    """What one run of the runner did (a batch may take several runs: resume, retry)."""

    counts: dict[str, int] = field(default_factory=dict)  # finished in this run, by status
    elapsed_s: float = 0.0
    processed: int = 0  # photos enhanced and written in this run
    stopped: bool = False
    cancelled: bool = False

    @property
    def images_per_min(self) -> float:
        return 60.0 * self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0


def temp_files_for(output: Path) -> list[Path]:
    """Left-over temporary files of an interrupted atomic write of `output` or its sidecar."""
    folder = output.parent
    if not folder.is_dir():
        return []
    found = list(folder.glob(f".{output.name}.*.tmp")) + list(folder.glob(f".{output.name}.json.*.tmp"))
    return [p for p in found if p.is_file()]


def _other_suffix_outputs(job: Job) -> list[Path]:
    """Both names an `auto` format job may end with (.png for 8-bit, .tif for 16-bit)."""
    out = Path(job.output_path)
    if job.settings.get("format") == "auto":
        return [out.with_suffix(".png"), out.with_suffix(".tif")]
    return [out]


class BatchRunner:
    """Processes the pending jobs of one batch with one Enhancer; reusable for several runs."""

    def __init__(
        self,
        queue: BatchQueue,
        batch_id: int,
        enhancer: Any,
        *,
        measurer: Measurer | None = None,
        thumbnails: bool = True,
        prefetch: int = 2,
        write_ahead: int = 2,
        progress: ProgressCallback | None = None,
        item_progress: ItemProgress | None = None,
        job_finished: JobFinished | None = None,
        should_stop: StopCallback | None = None,
        require_fov: bool = True,
        comparisons: bool = False,
    ) -> None:
        self.queue = queue
        self.comparisons = comparisons  # also write <stem>_comparison.png (core.export) beside each output
        self.require_fov = require_fov
        self.batch_id = batch_id
        self.enhancer = enhancer
        self.measurer = measurer
        self.thumbnails = thumbnails
        self.prefetch = max(1, prefetch)
        self.write_ahead = max(1, write_ahead)
        self.progress = progress
        self.item_progress = item_progress
        self.job_finished = job_finished
        self.should_stop = should_stop
        self.model = dict(enhancer.model_info)
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._summary = RunSummary()
        self._stop_requested = False

    # ------------------------------------------------------------------ control (any thread)
    def pause(self) -> None:
        """Finish the photo being enhanced, then wait (prefetched photos stay pending)."""
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def stop(self) -> None:
        """Stop soon; the photo being enhanced goes back to pending (a later run continues)."""
        self._stop.set()
        self._resume.set()

    def cancel(self) -> None:
        """Stop now: the photo being enhanced and every pending one become `cancelled`."""
        self._cancel.set()
        self.queue.cancel(self.batch_id)
        self.stop()

    def _stopping(self) -> bool:
        if not self._stop.is_set() and self.should_stop is not None and self.should_stop():
            self._stop.set()
        return self._stop.is_set()

    # ------------------------------------------------------------------ helpers
    def _item(self, job_id: int, fraction: float, message: str) -> None:
        if self.item_progress is not None:
            self.item_progress(job_id, min(1.0, max(0.0, fraction)), message)

    def _overall(self, message: str) -> None:
        if self.progress is not None:
            c = self.queue.counts(self.batch_id)
            total = sum(c.values()) - c["cancelled"]
            finished = c["done"] + c["failed"] + c["skipped"]
            self.progress(finished, total, message)

    def _finished(self, job_id: int, status: str, **kw: Any) -> None:
        changed = self.queue.finish(job_id, status, **kw)
        with self._lock:
            self._in_flight.discard(job_id)
            if changed:
                self._summary.counts[status] = self._summary.counts.get(status, 0) + 1
                if status == "done":
                    self._summary.processed += 1
        job = self.queue.job(job_id)
        if job is not None and self.job_finished is not None:
            self.job_finished(job)
        self._overall(f"{Path(job.input_path).name if job else job_id}: {status}")

    def _release(self, job_id: int) -> None:
        with self._lock:
            self._in_flight.discard(job_id)

    def _clean_partial(self) -> None:
        """Remove temporary files of writes a crash interrupted (never touches finished outputs)."""
        for job in self.queue.jobs(self.batch_id, ("pending", "failed", "cancelled")):
            for out in _other_suffix_outputs(job):
                for tmp in temp_files_for(out):
                    try:
                        tmp.unlink()
                    except OSError:
                        pass

    # ------------------------------------------------------------------ stages
    def _load(self, job: Job) -> tuple[str, Any]:
        """Prefetch stage: hash, check for an identical finished job, decode."""

        t0 = time.perf_counter()
        try:
            sha = sha256_file(job.input_path)
        except FileNotFoundError:
            return "fail", ImageReadError(
                f"The file '{job.name}' was not found. It may have been moved, renamed or deleted.")
        except OSError as exc:
            return "fail", ImageReadError(f"'{job.name}' could not be read: {exc.strerror or exc}.")
        key = settings_key(effective_settings(self.enhancer, job.settings))
        earlier = self.queue.find_done(sha, key, self.model, job.output_path)
        if earlier is None and job.settings.get("format") == "auto":
            alt = str(Path(job.output_path).with_suffix(".tif"))
            earlier = self.queue.find_done(sha, key, self.model, alt)
        if earlier is not None and earlier.id != job.id and _output_intact(earlier):
            return "skip", (sha, earlier)
        try:
            image = read(job.input_path)
        except FundusError as err:
            return "fail", err
        except Exception as exc:  # noqa: BLE001 - a decoder bug must fail one photo, not the batch
            return "fail", ImageReadError(f"'{job.name}' could not be read ({type(exc).__name__}: {exc}).")
        return "ready", (image, time.perf_counter() - t0)

    def _prefetch_loop(self, ready: _q.Queue) -> None:
        try:
            while not self._stopping():
                with self._lock:
                    held = set(self._in_flight)
                job = self.queue.next_pending(self.batch_id, exclude=held)
                if job is None:
                    if not held:
                        break
                    time.sleep(0.05)  # work in flight may still add retries; look again
                    continue
                with self._lock:
                    self._in_flight.add(job.id)
                kind, payload = self._load(job)
                while not self._stopping():
                    try:
                        ready.put((kind, job, payload), timeout=0.1)
                        break
                    except _q.Full:
                        continue
                else:
                    self._release(job.id)
        finally:
            self.queue.close_thread()
            ready.put(_END)

    def _writer_loop(self, todo: _q.Queue) -> None:
        try:
            self._writer_items(todo)
        finally:
            self.queue.close_thread()

    def _writer_items(self, todo: _q.Queue) -> None:
        while True:
            item = todo.get()
            if item is _END:
                return
            job, image, result, timings = item
            try:
                self._write_one(job, image, result, timings)
            except Exception as exc:  # noqa: BLE001 - never lose the writer thread
                self._finished(job.id, "failed", error=_unexpected(exc), timings=timings)
            del item, image, result  # this photo's arrays are freed here, before trimming
            release_free_memory()

    def _write_one(self, job: Job, image: Any, result: Any, timings: dict[str, float]) -> None:
        t0 = time.perf_counter()
        self._item(job.id, READ_SHARE + ENHANCE_SHARE, "saving")
        dest = Path(job.output_path)
        fmt = job.settings.get("format", "auto")
        if fmt == "auto":
            dest = dest.with_suffix(output_suffix("auto", image.bit_depth))
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            for tmp in temp_files_for(dest):
                tmp.unlink()
            provenance = result.provenance(image)
            provenance.setdefault("extra", {})["batch"] = {"batch_id": job.batch_id, "job_id": job.id}
            written = write(dest, result.pixels, provenance=provenance, input_path=job.input_path,
                            bit_depth=image.bit_depth if dest.suffix != ".jpg" else 8,
                            quality=int(job.settings.get("quality", 95)))
            if self.comparisons:
                write_comparison(comparison_path(job), image, result, protected=[job.input_path])
        except FundusError as err:
            timings["write"] = time.perf_counter() - t0
            self._finished(job.id, "failed", error=str(err), timings=timings, model=self.model)
            return
        except OSError as exc:
            timings["write"] = time.perf_counter() - t0
            self._finished(job.id, "failed", error=f"Cannot save '{dest.name}': {exc.strerror or exc}.",
                           timings=timings, model=self.model)
            return
        timings["write"] = time.perf_counter() - t0
        measures: dict[str, Any] | None = None
        if self.measurer is not None:
            self._item(job.id, 0.95, "measuring")
            measures = self.measurer.measure(image.pixels, result.pixels, result.fov.mask)
        measures = {**(measures or {}), **guard_measures(result)}  # the guard is in every report, measured or not
        if self.thumbnails:
            self.queue.set_thumbs(job.id, thumbnail_jpeg(image.pixels), thumbnail_jpeg(result.pixels))
        timings["total"] = timings.get("read", 0.0) + timings.get("enhance", 0.0) + time.perf_counter() - t0
        self._item(job.id, 1.0, "done")
        self._finished(job.id, "done", output_sha256=written.sha256, model=self.model, timings=timings,
                       measures=measures, output_path=str(dest),
                       settings=effective_settings(self.enhancer, job.settings))

    # ------------------------------------------------------------------ main loop
    def run(self) -> RunSummary:
        """Process pending jobs until none is left, or until stopped or cancelled."""
        self._stop.clear()
        self._cancel.clear()
        self._summary = RunSummary()
        self.queue.recover_interrupted()
        self._clean_partial()
        t_start = time.perf_counter()
        ready: _q.Queue = _q.Queue(maxsize=self.prefetch)
        todo: _q.Queue = _q.Queue(maxsize=self.write_ahead)
        reader = threading.Thread(target=self._prefetch_loop, args=(ready,), name="batch-prefetch", daemon=True)
        writer = threading.Thread(target=self._writer_loop, args=(todo,), name="batch-writer", daemon=True)
        reader.start()
        writer.start()
        self._overall("starting")
        try:
            self._main_loop(ready, todo)
        finally:
            self._stop.set()  # lets the prefetch thread end if we left early
            while reader.is_alive():  # drain, so a blocked put() can finish
                try:
                    item = ready.get(timeout=0.1)
                except _q.Empty:
                    continue
                if item is not _END:
                    self._release(item[1].id)
            reader.join()
            todo.put(_END)
            writer.join()
        self._summary.elapsed_s = time.perf_counter() - t_start
        self._summary.cancelled = self._cancel.is_set()
        self._summary.stopped = self._summary.cancelled or self._stop_requested
        self._overall("cancelled" if self._summary.cancelled else "stopped" if self._summary.stopped else "finished")
        return self._summary

    def _main_loop(self, ready: _q.Queue, todo: _q.Queue) -> None:
        self._stop_requested = False
        while True:
            item = ready.get()
            if item is _END:
                return
            kind, job, payload = item
            while not self._resume.wait(0.1):
                if self._stopping():
                    break
            if self._stopping():
                self._stop_requested = True
                self._release(job.id)
                continue  # keep draining until the prefetch thread ends
            if not self.queue.start(job.id):
                self._release(job.id)  # cancelled or removed while it waited
                continue
            if kind == "skip":
                sha, earlier = payload
                self.queue.set_input(job.id, input_sha256=sha)
                self._item(job.id, 1.0, "skipped")
                self._finished(job.id, "skipped", note=f"Already enhanced with the same model and settings "
                               f"(job {earlier.id}); output kept.", output_sha256=earlier.output_sha256,
                               model=self.model, measures=earlier.measures or None, output_path=earlier.output_path,
                               settings=earlier.settings)
                if self.thumbnails:
                    before, after = self.queue.thumbs(earlier.id)
                    if before or after:
                        self.queue.set_thumbs(job.id, before, after)
                continue
            if kind == "fail":
                self._finished(job.id, "failed", error=str(payload))
                continue
            image, read_s = payload
            self._enhance_one(job, image, read_s, todo)

    def _enhance_one(self, job: Job, image: Any, read_s: float, todo: _q.Queue) -> None:
        self.queue.set_input(job.id, input_sha256=image.source_sha256, width=image.width, height=image.height,
                             bit_depth=image.bit_depth)
        self._item(job.id, READ_SHARE, "enhancing")
        timings = {"read": read_s}
        t0 = time.perf_counter()

        def step(done: int, total: int, message: str) -> None:
            self._item(job.id, READ_SHARE + ENHANCE_SHARE * done / max(total, 1), message)

        try:
            result = self.enhancer.enhance(image, mode=job.settings.get("enhance", {}).get("mode"),
                                           progress=step, should_stop=self._stopping)
        except Cancelled:
            if self._cancel.is_set():
                self._finished(job.id, "cancelled", note="Cancelled by the user.")
            else:
                self._stop_requested = True
                self.queue.requeue(job.id)
                self._release(job.id)
            return
        except FundusError as err:
            self._finished(job.id, "failed", error=str(err), timings=timings)
            return
        except Exception as exc:  # noqa: BLE001 - one photo's failure must not end the batch
            self._finished(job.id, "failed", error=_unexpected(exc), timings=timings)
            return
        timings["enhance"] = time.perf_counter() - t0
        if self.require_fov and not getattr(result.fov, "found", True):
            self._finished(job.id, "failed", timings=timings, error=(
                f"No round field of view was found in '{job.name}': it does not look like a fundus photograph "
                "(or it is cropped inside the retina). It was not enhanced."))
            return
        todo.put((job, image, result, timings))  # blocks while the writer is behind: memory stays flat


def comparison_path(job: Job) -> Path:
    """<stem>_comparison.png beside the job's enhanced output."""
    return Path(job.output_path).with_name(f"{Path(job.input_path).stem}_comparison.png")


def _output_intact(job: Job) -> bool:
    """The earlier output still exists, unchanged, with its sidecar."""

    out = Path(job.output_path)
    try:
        return sidecar_path_for(out).is_file() and sha256_file(out) == job.output_sha256
    except OSError:
        return False


def _unexpected(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
    return f"Unexpected error while processing this photo ({type(exc).__name__}: {exc}{where})."


def batch_settings(mode: str = "fast", fmt: str = "auto", quality: int = 95) -> dict[str, Any]:
    """The settings a user asks for; the runner completes them with its Enhancer's own
    (working size, guide radius...) before enhancing, and records those with the job."""
    return {"enhance": {"mode": mode}, "format": fmt, "quality": int(quality)}


def effective_settings(enhancer: Any, requested: dict[str, Any]) -> dict[str, Any]:
    """Everything that changes an output besides the model: what skip-if-done compares."""
    s = enhancer.settings.to_dict()
    mode = requested.get("enhance", {}).get("mode")
    if mode:
        s["mode"] = mode
    return {"enhance": s, "format": requested.get("format", "auto"), "quality": int(requested.get("quality", 95))}


__all__ = ["BatchRunner", "RunSummary", "batch_settings", "effective_settings", "temp_files_for"]


def guard_measures(result: Any) -> dict[str, Any]:
    """The do-no-harm guard's columns of one enhanced photo (core.guard): score, flag, warning."""
    score = getattr(result, "guard_score", None)
    flagged = bool(getattr(result, "guard_flagged", False))
    threshold = getattr(result, "guard_threshold", None)
    return {
        "guard_score": None if score is None else round(float(score), 4),
        "guard_threshold": None if threshold is None else round(float(threshold), 4),
        "guard_flagged": flagged,
        "guard_warning": (getattr(result, "guard_message", None) or "") if flagged else "",
    }

