"""Long work off the GUI thread: QObjects moved to QThreads, core callbacks turned into signals.

EngineWorker owns the loaded Enhancer (and vessel segmenter), so a model is loaded once
and reused for every image. Requests arrive as queued signals, so they run one after the
other on the worker thread; cancel is a threading.Event the worker polls through the
core `should_stop()` callback, because a busy worker thread cannot receive signals.
Closing sets one more event that every step checks, measuring the inference paths
included, so the thread ends within one network run even on a saturated computer.
Errors go through app.tasks.failure_text, the one place that writes tracebacks to the log.

LoaderWorker reads photos and makes thumbnails on its own thread, so opening a folder
of large photos never freezes the window.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.tasks import ThreadTask, failure_text, retire
from core.errors import Cancelled, FundusError

log = logging.getLogger(__name__)

EnhancerFactory = Callable[[str | None, str], Any]
SegmenterFactory = Callable[[str], Any]
THUMB_SIZE = 96


def default_enhancer_factory(model_ref: str | None, device: str, registry: Any = None) -> Any:
    """The installed model named `name@version` (None: the active one) on the preferred device."""
    from core.enhance import Enhancer  # noqa: PLC0415 - torch loads on the worker thread, not at startup

    return Enhancer(model=model_ref, device=device, registry=registry)


def default_segmenter_factory(device: str, registry: Any = None) -> Any:
    """The active vessel model, or None when none is installed (the panel then says so)."""
    if registry is None:
        from core.models.registry import ModelRegistry  # noqa: PLC0415

        registry = ModelRegistry()
    installed = registry.active("vessel")
    if installed is None:
        return None
    from core.vessels import VesselSegmenter  # noqa: PLC0415

    return VesselSegmenter(installed, device=device)


NOT_CHANGED = "The photo was not changed."


def installed_models(registry: Any = None) -> dict:
    """models [(ref, title)], active ref, vessel (bool), error: what the model list shows.

    Read off the GUI thread (the registry imports torch, seconds at startup), and not on the
    engine thread either, which may be busy measuring for a minute on a loaded computer.
    """
    try:
        if registry is None:
            from core.models.registry import ModelRegistry  # noqa: PLC0415

            registry = ModelRegistry()
        models = []
        for m in registry.list("enhancer"):
            origin = " (site-adapted)" if m.card.parent else ""
            models.append((m.card.ref, f"{m.card.name} {m.card.version}{origin}"))
        act = registry.active("enhancer")
        vessel = registry.active("vessel")
    except Exception as exc:  # noqa: BLE001 - a broken model folder must not stop the window
        return {"models": [], "active": None, "vessel": False, "error": failure_text(exc, "listing the models")}
    return {"models": models, "active": act.card.ref if act else None, "vessel": vessel is not None, "error": ""}


def _wait_or_retire(thread: QThread, worker: QObject, timeout_ms: int) -> bool:
    """Wait up to `timeout_ms` for a stopping thread; True when it ended. One still busy (a network
    run, a model still loading) is kept alive by app.tasks until it ends, never destroyed running."""
    ok = bool(thread.wait(max(0, int(timeout_ms))))
    if not ok:
        retire(thread, worker)
    return ok


@dataclass
class VesselPayload:
    """What the vessel panel and overlays need, computed once per image + settings."""

    before: Any  # VesselMap
    after: Any  # VesselMap
    comparison: Any  # VesselComparison
    model_name: str


class EngineWorker(QObject):
    """Lives on the engine thread. Slots are invoked through queued signals from EngineClient."""

    model_ready = Signal(dict)  # emitted on load, and again once the inference path is chosen
    model_failed = Signal(str)
    preparing = Signal(str)  # a one-time setup step is running (message for the status line)
    device_info = Signal(dict)  # device, device_reason, device_label (before any model loads)
    models_listed = Signal(dict)  # installed_models(): emitted by EngineClient when a listing task returns
    progress = Signal(int, int, int, str)  # job, done, total, message
    enhanced = Signal(int, object)  # job, EnhancementResult
    vessels_ready = Signal(int, object)  # job, VesselPayload
    vessels_unavailable = Signal(str)
    failed = Signal(int, str)  # job, message
    cancelled = Signal(int)

    def __init__(
        self,
        enhancer_factory: EnhancerFactory = default_enhancer_factory,
        segmenter_factory: SegmenterFactory = default_segmenter_factory,
    ) -> None:
        super().__init__()
        self._enhancer_factory = enhancer_factory
        self._segmenter_factory = segmenter_factory
        self.enhancer: Any = None
        self._enhancer_key: tuple[str | None, str] | None = None
        self.segmenter: Any = None
        self._segmenter_loaded = False
        self._stops: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self.closing = threading.Event()  # set once by EngineClient.stop: every step gives up

    # ---------------------------------------------------------------- cancel (any thread)
    def stop_event(self, job: int) -> threading.Event:
        with self._lock:
            return self._stops.setdefault(job, threading.Event())

    def _job_stop(self, job: int) -> Callable[[], bool]:
        stop = self.stop_event(job)
        return lambda: stop.is_set() or self.closing.is_set()

    def _forget(self, job: int) -> None:
        with self._lock:
            self._stops.pop(job, None)

    # ---------------------------------------------------------------- slots (engine thread)
    @Slot(object, str)
    def load_model(self, model_ref: str | None, device: str) -> None:
        if self.closing.is_set():
            return
        key = (model_ref, device)
        if self.enhancer is not None and key == self._enhancer_key:
            self.model_ready.emit(self._info())
            return
        try:
            self.enhancer = self._enhancer_factory(model_ref, device)
            self._enhancer_key = key
        except Exception as exc:  # noqa: BLE001 - any failure becomes a readable message
            self.enhancer = None
            self._enhancer_key = None
            self.model_failed.emit(failure_text(exc, "loading the model", NOT_CHANGED))
            return
        self.model_ready.emit(self._info())
        self._prepare_inference()

    def reselect_inference(self) -> None:
        """Choose the inference path again (a compiled package was just built for this computer)."""
        forget = getattr(self.enhancer, "forget_inference", None)
        if forget is None or self.closing.is_set():
            return
        forget()
        self._prepare_inference()

    def _prepare_inference(self) -> None:
        """Choose the inference path now (measured once per computer and model, then cached), so the
        first photo does not wait for it; a failure only means the first photo measures instead."""
        prepare = getattr(self.enhancer, "prepare_inference", None)
        if prepare is None or self.closing.is_set():
            return
        self.preparing.emit("Finding the fastest way to run the model on this computer (first time only)…")
        try:
            prepare(should_stop=self.closing.is_set)
        except Cancelled:
            return  # the window is closing: nothing was chosen or cached
        except Exception as exc:  # noqa: BLE001 - enhancement still works; it measures on the first photo
            log.warning("could not choose the inference path in advance: %s", exc, exc_info=exc)
        self.model_ready.emit(self._info())

    def _info(self) -> dict:
        e = self.enhancer
        choice = getattr(e, "device_choice", None)
        return {
            "model": dict(getattr(e, "model_info", {}) or {}),
            "device": getattr(choice, "device", "cpu"),
            "device_reason": getattr(choice, "reason", ""),
            "device_label": getattr(choice, "label", "CPU"),
            "inference_path": str(getattr(e, "inference_path", "") or ""),
        }

    @Slot(str)
    def probe_device(self, preference: str) -> None:
        """Which device the preference resolves to, and why (torch imports here, off the GUI thread)."""
        try:
            from core.device import choose_device  # noqa: PLC0415

            choice = choose_device(preference)
        except Exception as exc:  # noqa: BLE001
            failure_text(exc, "probing the device")
            self.device_info.emit({"device": "cpu", "device_reason": str(exc), "device_label": "CPU"})
            return
        self.device_info.emit({"device": choice.device, "device_reason": choice.reason, "device_label": choice.label})

    @Slot(int, object, str)
    def enhance(self, job: int, image: Any, mode: str) -> None:
        stop = self._job_stop(job)
        try:
            if stop():
                raise Cancelled()
            if self.enhancer is None:
                raise FundusError("No enhancement model is loaded. Choose a model in the Enhancement panel.")
            result = self.enhancer.enhance(
                image,
                mode=mode,
                progress=lambda d, t, m: self.progress.emit(job, int(d), int(t), str(m)),
                should_stop=stop,
            )
            if getattr(self.enhancer, "is_structured", False) and not stop():
                try:  # the "What changed" view; the enhancement stands without it
                    result.what_changed = self.enhancer.what_changed(image)
                except Exception as exc:  # noqa: BLE001
                    log.warning("the 'What changed' fields could not be computed: %s", exc, exc_info=True)
        except Cancelled:
            self.cancelled.emit(job)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(job, failure_text(exc, "enhancing", NOT_CHANGED))
        else:
            self.enhanced.emit(job, result)
        finally:
            self._forget(job)

    @Slot(int, object, object, object, str)
    def vessels(self, job: int, original: np.ndarray, enhanced: np.ndarray, fov: Any, device: str) -> None:
        stop = self._job_stop(job)
        try:
            if stop():
                raise Cancelled()
            if not self._segmenter_loaded:
                from core.device import choose_device  # noqa: PLC0415

                self._segmenter_loaded = True
                self.segmenter = self._segmenter_factory(choose_device(device).device)
            if self.segmenter is None:
                self.vessels_unavailable.emit("No vessel model is installed, so vessels cannot be compared yet.")
                return
            from core.vessels import compare_vessels  # noqa: PLC0415

            mask = getattr(fov, "mask", fov)
            self.progress.emit(job, 0, 3, "finding vessels in the original")
            before = self.segmenter.segment(original, mask, should_stop=stop)
            self.progress.emit(job, 1, 3, "finding vessels in the enhanced photo")
            after = self.segmenter.segment(enhanced, mask, should_stop=stop)
            self.progress.emit(job, 2, 3, "comparing")
            comparison = compare_vessels(before, after, mask, original_rgb=original)
            self.progress.emit(job, 3, 3, "done")
        except Cancelled:
            self.cancelled.emit(job)
        except Exception as exc:  # noqa: BLE001
            self.segmenter = None
            self._segmenter_loaded = False
            self.vessels_unavailable.emit(failure_text(exc, "finding vessels", NOT_CHANGED))
        else:
            self.vessels_ready.emit(job, VesselPayload(before, after, comparison, getattr(self.segmenter, "name", "")))
        finally:
            self._forget(job)


class EngineClient(QObject):
    """GUI-thread handle on the engine thread: numbered jobs, cancel, clean shutdown."""

    _req_load = Signal(object, str)
    _req_probe = Signal(str)
    _req_reselect = Signal()
    _req_enhance = Signal(int, object, str)
    _req_vessels = Signal(int, object, object, object, str)

    def __init__(
        self,
        enhancer_factory: EnhancerFactory = default_enhancer_factory,
        segmenter_factory: SegmenterFactory = default_segmenter_factory,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("fundus-engine")
        self.worker = EngineWorker(enhancer_factory, segmenter_factory)
        self.worker.moveToThread(self.thread)
        self._req_load.connect(self.worker.load_model)
        self._req_probe.connect(self.worker.probe_device)
        self._req_reselect.connect(self.worker.reselect_inference)
        self._req_enhance.connect(self.worker.enhance)
        self._req_vessels.connect(self.worker.vessels)
        self.thread.start()
        self._next_job = 0
        self._list_task: ThreadTask | None = None
        self.pending: set[int] = set()
        for sig in (self.worker.enhanced, self.worker.failed, self.worker.vessels_ready):
            sig.connect(self._done)
        self.worker.cancelled.connect(self._cancelled_done)

    def _new_job(self) -> int:
        self._next_job += 1
        self.pending.add(self._next_job)
        return self._next_job

    def _done(self, job: int, *_args: Any) -> None:
        self.pending.discard(job)

    def _cancelled_done(self, job: int) -> None:
        self.pending.discard(job)

    def load_model(self, model_ref: str | None, device: str) -> None:
        self._req_load.emit(model_ref, device)

    def probe_device(self, preference: str) -> None:
        self._req_probe.emit(preference)

    def reselect_inference(self) -> None:
        self._req_reselect.emit()

    def list_models(self, registry: Any = None) -> None:
        """List the installed models on a task of its own; the answer is `worker.models_listed` (latest ask only)."""
        task = ThreadTask("list-models", lambda _task: installed_models(registry))
        task.returned.connect(self._listed)
        self._list_task = task
        task.start()

    def _listed(self, info: dict) -> None:
        if self.sender() is self._list_task:  # an older listing that finished late is not shown
            self.worker.models_listed.emit(info)

    def enhance(self, image: Any, mode: str) -> int:
        job = self._new_job()
        self.worker.stop_event(job)
        self._req_enhance.emit(job, image, mode)
        return job

    def vessels(self, original: np.ndarray, enhanced: np.ndarray, fov: Any, device: str) -> int:
        job = self._new_job()
        self.worker.stop_event(job)
        self._req_vessels.emit(job, original, enhanced, fov, device)
        return job

    def cancel(self, job: int | None = None) -> None:
        """Ask one job (or every pending job) to stop at its next check."""
        jobs = list(self.pending) if job is None else [job]
        for j in jobs:
            self.worker.stop_event(j).set()

    def busy(self) -> bool:
        return bool(self.pending)

    def stop(self) -> None:
        """Ask the engine to stop (no waiting): running work gives up at its next check, queued work is dropped."""
        self.worker.closing.set()
        self.cancel()
        if self._list_task is not None:
            self._list_task.stop()
        self.thread.quit()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop, and wait up to `timeout_ms` for the thread (and a model listing); True when all ended."""
        deadline = time.monotonic() + max(0, int(timeout_ms)) / 1000
        self.stop()
        listed = self._list_task is None or self._list_task.wait(int(max(0.0, deadline - time.monotonic()) * 1000))
        left = int(max(0.0, deadline - time.monotonic()) * 1000)
        return _wait_or_retire(self.thread, self.worker, left) and listed


class LoaderWorker(QObject):
    """Reads photos (core.imaging.read) and makes list thumbnails, on the loader thread."""

    loaded = Signal(str, object)  # path, FundusImage
    thumbnail = Signal(str, object, str)  # path, HxWx3 uint8 array, size text
    failed = Signal(str, str)  # path, message

    @Slot(str, bool)
    def load(self, path: str, full: bool) -> None:
        from core.imaging import read  # noqa: PLC0415

        try:
            image = read(path)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(path, failure_text(exc, f"reading {path}", NOT_CHANGED))
            return
        self.thumbnail.emit(path, make_thumbnail(image.pixels, image.bit_depth), f"{image.width}\u00d7{image.height}")
        if full:
            self.loaded.emit(path, image)


def make_thumbnail(pixels: np.ndarray, bit_depth: int, size: int = THUMB_SIZE) -> np.ndarray:
    import cv2  # noqa: PLC0415

    h, w = pixels.shape[:2]
    k = size / max(h, w)
    small = cv2.resize(pixels, (max(1, int(w * k)), max(1, int(h * k))), interpolation=cv2.INTER_AREA)
    if bit_depth > 8:
        small = (small >> (bit_depth - 8)).astype(np.uint8)
    return np.ascontiguousarray(small)


class LoaderClient(QObject):
    _req = Signal(str, bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("fundus-loader")
        self.worker = LoaderWorker()
        self.worker.moveToThread(self.thread)
        self._req.connect(self.worker.load)
        self.thread.start()

    def load(self, path: str | Path, full: bool = True) -> None:
        self._req.emit(str(path), full)

    def stop(self) -> None:
        self.thread.quit()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Like EngineClient.shutdown: a photo still being read is waited for in the background."""
        self.stop()
        return _wait_or_retire(self.thread, self.worker, timeout_ms)
