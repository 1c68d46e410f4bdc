"""The session: what the window shows and is working on, as plain data without Qt.

It holds the chosen model, mode and device; the photo shown (its path, FundusImage, the
EnhancementResult and the vessel comparison); the caches that make going back to a photo
instant; and the jobs the engine is running, each tagged with the cache key it was asked
for, so a late answer lands in the cache and is shown only if it still matches. Views
follow it through plain callbacks (app.callbacks), the way they follow ViewState.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.callbacks import Callback

CACHE_RESULTS = 6
CACHE_IMAGES = 4
NO_VESSEL_MODEL = ("No vessel model is installed, so vessels cannot be compared yet. "
                   "Vessel comparison appears here once a vessel model is installed.")
ENHANCE_FIRST = "Enhance the photo to compare its vessels with the original's."
NO_ENHANCER_FOR_VESSELS = ("Vessels are compared between the original and the enhanced photo; "
                           "no enhancement model is installed yet.")

CacheKey = tuple[Any, ...]


class LRU(OrderedDict):
    """A small least-recently-used cache (photos and results are large)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

    def fetch(self, key: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return None


@dataclass(frozen=True)
class Job:
    """One engine request: "enhance" or "vessels", for which photo and which settings."""

    kind: str
    path: Path | None
    key: CacheKey


class Session:
    """The window's state. Callbacks:

    choice_changed(): model, mode or device changed. models_changed(): a new model listing.
    image_changed(image or None): another photo is shown (None: none, or still loading).
    result_changed(result or None): the enhancement shown changed (vessel_payload is set first).
    vessels_changed(payload or None): the vessel comparison shown changed.
    jobs_changed(): a job started or ended. engine_choice_changed(): the engine is asked for
    another model or device (a batch must load it again). error(message): something failed.
    """

    def __init__(self, cache_images: int = CACHE_IMAGES, cache_results: int = CACHE_RESULTS) -> None:
        self.model_ref: str | None = None
        self.mode = "fast"
        self.device = "auto"
        self.models: list[tuple[str, str]] = []  # (ref "name@version", title) installed enhancers
        self.models_ready = False  # the latest listing has arrived
        self.vessel_model_available = False
        self.vessel_reason = NO_VESSEL_MODEL  # why not, when not
        self.model_info: dict[str, Any] = {}  # the loaded model, as the engine reported it
        self.engine_choice: tuple[str | None, str] | None = None  # (model ref, device) last asked for

        self.path: Path | None = None  # the current entry
        self.image: Any = None  # its FundusImage, once loaded
        self.result: Any = None  # the EnhancementResult shown
        self.vessel_payload: Any = None  # the VesselPayload shown
        self.images = LRU(cache_images)  # path -> FundusImage
        self.results = LRU(cache_results)  # cache key -> EnhancementResult
        self.vessel_results = LRU(cache_results)  # cache key -> VesselPayload
        self.jobs: dict[int, Job] = {}
        self.last_error = ""

        self.choice_changed = Callback()
        self.models_changed = Callback()
        self.image_changed = Callback()
        self.result_changed = Callback()
        self.vessels_changed = Callback()
        self.jobs_changed = Callback()
        self.engine_choice_changed = Callback()
        self.error = Callback()

    # ------------------------------------------------------------------ choice
    def set_choice(self, model_ref: str | None = None, mode: str | None = None, device: str | None = None) -> None:
        """Change what the next enhancement uses (None keeps a value); shows the cached result for it."""
        new = (model_ref if model_ref is not None else self.model_ref, mode or self.mode, device or self.device)
        if new == (self.model_ref, self.mode, self.device):
            return
        self.model_ref, self.mode, self.device = new
        self.choice_changed.emit()
        self.show_cached()

    def set_models(self, models: list[tuple[str, str]], active: str | None, vessel_model: bool) -> str | None:
        """A listing of installed models: keep the chosen one if it is still there, else the active one."""
        self.models = [tuple(m) for m in models]
        refs = [r for r, _t in self.models]
        self.model_ref = self.model_ref if self.model_ref in refs else (active if active in refs else
                                                                          (refs[0] if refs else None))
        self.vessel_model_available = bool(vessel_model)
        self.vessel_reason = "" if vessel_model else NO_VESSEL_MODEL
        self.models_ready = True
        self.models_changed.emit()
        return self.model_ref

    def model_title(self) -> str:
        return dict(self.models).get(self.model_ref, "?")

    def ask_engine(self) -> tuple[str | None, str]:
        """The (model, device) the engine is to load now; tells engine_choice_changed when it differs."""
        choice = (self.model_ref, self.device)
        if choice != self.engine_choice:
            self.engine_choice = choice
            self.engine_choice_changed.emit()
        return choice

    def cache_key(self, image: Any = None) -> CacheKey:
        """What makes an enhancement of this photo different: its content and path, model, mode, device."""
        image = image or self.image
        return (getattr(image, "source_sha256", None), str(getattr(image, "source_path", "")),
                self.model_ref, self.mode, self.device)

    # ------------------------------------------------------------------ the photo shown
    def select(self, path: Path | None) -> Any:
        """Show another entry (None: none). Returns its cached FundusImage, or None: load it."""
        self.path = path
        self.image = self.result = self.vessel_payload = None
        self.image_changed.emit(None)
        if path is None:
            return None
        image = self.images.fetch(path)
        if image is not None:
            self.show_image(image)
        return image

    def image_loaded(self, path: Path, image: Any) -> bool:
        """A photo arrived from the loader: cached, and shown if it is the current entry."""
        self.images.put(path, image)
        if path != self.path:
            return False
        self.show_image(image)
        return True

    def show_image(self, image: Any) -> None:
        self.image = image
        self.result = self.vessel_payload = None
        self.image_changed.emit(image)
        self.show_cached()

    def forget(self, path: Path) -> None:
        """An entry left the list: drop its photo from the cache (results stay until pushed out)."""
        self.images.pop(path, None)

    def show_cached(self) -> None:
        """Show the result cached for the current photo and settings (or none)."""
        if self.image is not None:
            self.set_result(self.results.fetch(self.cache_key()))

    def set_result(self, result: Any) -> None:
        self.result = result
        self.vessel_payload = None if result is None else self.vessel_results.fetch(self.cache_key())
        self.result_changed.emit(result)

    def store_result(self, key: CacheKey, result: Any) -> bool:
        """An enhancement finished: cached, and shown if the photo and settings still match."""
        self.results.put(key, result)
        if self.image is not None and self.cache_key() == key:
            self.set_result(result)
            return True
        return False

    def store_vessels(self, key: CacheKey, payload: Any) -> bool:
        """A vessel comparison finished: cached, and shown if it is still for what is shown."""
        self.vessel_results.put(key, payload)
        if self.image is not None and self.result is not None and self.cache_key() == key:
            self.vessel_payload = payload
            self.vessels_changed.emit(payload)
            return True
        return False

    # ------------------------------------------------------------------ jobs
    def add_job(self, job_id: int, kind: str) -> Job:
        """Record a request to the engine for the current photo and settings."""
        job = Job(kind, self.path, self.cache_key())
        self.jobs[job_id] = job
        self.jobs_changed.emit()
        return job

    def running(self, kind: str, key: CacheKey | None = None) -> bool:
        """Whether a `kind` job for `key` (default: the current one) is already running."""
        key = self.cache_key() if key is None else key
        return any(j.kind == kind and j.key == key for j in self.jobs.values())

    def finish_job(self, job_id: int) -> Job | None:
        """The job ended (any way); None when it was not this session's."""
        job = self.jobs.pop(job_id, None)
        self.jobs_changed.emit()
        return job

    def vessels_unavailable(self, reason: str) -> None:
        """The vessel model could not be used: its jobs are over, and the panel says why."""
        for job_id in [i for i, j in self.jobs.items() if j.kind == "vessels"]:
            self.finish_job(job_id)
        self.vessel_model_available = False
        self.vessel_reason = reason
        self.vessels_changed.emit(self.vessel_payload)

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    # ------------------------------------------------------------------ what can be done now
    @property
    def can_enhance(self) -> bool:
        return self.image is not None and self.model_ref is not None

    @property
    def can_export(self) -> bool:
        return self.image is not None and self.result is not None

    @property
    def can_compare_vessels(self) -> bool:
        return self.can_export and self.vessel_model_available

    def vessel_notice(self) -> str:
        """Why vessels cannot be compared now ("" when they can)."""
        if not self.vessel_model_available:
            return self.vessel_reason or NO_VESSEL_MODEL
        if self.result is None:
            return ENHANCE_FIRST if self.model_ref is not None else NO_ENHANCER_FOR_VESSELS
        return ""

    def fail(self, message: str) -> None:
        self.last_error = message
        self.error.emit(message)
