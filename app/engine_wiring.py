"""Engine and loader -> session: model listing and loading, enhancement and vessel jobs, photos read.

EngineClient and LoaderClient (app.workers) answer with Qt signals from their threads;
this module turns each answer into a session change and the few status texts that belong
to the engine (model and device in the status bar, the enhancement panel's status line).
Requests go the other way: enhance the current photo, compare its vessels, cancel.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject

from app.session import Session
from app.workers import EngineClient, LoaderClient

if TYPE_CHECKING:
    from app.main_window import MainWindow


class EngineWiring(QObject):
    """Connects the engine and the loaders to the session and the window's status texts."""

    def __init__(self, window: MainWindow, session: Session, engine: EngineClient, loader: LoaderClient,
                 thumbs: LoaderClient, enhancer_factory: Callable[[str | None, str], Any], registry: Any) -> None:
        super().__init__(window)
        self.w, self.session, self.engine = window, session, engine
        self.loader, self.thumbs = loader, thumbs
        self.enhancer_factory = enhancer_factory  # the batch enhances with it too
        self._registry = registry
        wk = engine.worker
        wk.model_ready.connect(self._model_ready)
        wk.model_failed.connect(self._model_failed)
        wk.preparing.connect(self._preparing)
        wk.device_info.connect(self._device_info)
        wk.models_listed.connect(self._models_listed)
        wk.progress.connect(self._progress)
        wk.enhanced.connect(self._enhanced)
        wk.failed.connect(self._failed)
        wk.cancelled.connect(self._cancelled)
        wk.vessels_ready.connect(self._vessels)
        wk.vessels_unavailable.connect(session.vessels_unavailable)
        loader.worker.loaded.connect(self._loaded)
        loader.worker.failed.connect(self._load_failed)
        loader.worker.thumbnail.connect(self._thumbnail)
        thumbs.worker.thumbnail.connect(self._thumbnail)
        thumbs.worker.failed.connect(self._load_failed)
        session.choice_changed.connect(self._choice_changed)
        session.result_changed.connect(self._result_shown)
        session.jobs_changed.connect(self._jobs_changed)
        session.error.connect(self._error)

    # ------------------------------------------------------------------ models
    def registry(self) -> Any:
        if self._registry is None:
            from core.models.registry import ModelRegistry  # noqa: PLC0415 - only when a dialog asks

            self._registry = ModelRegistry()
        return self._registry

    def refresh_models(self) -> None:
        """List the installed models off the GUI thread (the answer arrives in _models_listed)."""
        self.session.models_ready = False
        if not self.session.models:
            self.w.enhance_panel.set_models([], None, placeholder="Looking for installed models\u2026")
            self.w.model_label.setText("Model: looking\u2026")
        self.engine.list_models(self._registry)

    def _models_listed(self, info: dict) -> None:
        s, panel = self.session, self.w.enhance_panel
        models = [tuple(m) for m in info.get("models", [])]
        if info.get("error"):
            panel.set_status(f"Models could not be listed: {info['error']}", error=True)
        chosen = s.set_models(models, info.get("active"), bool(info.get("vessel")))
        panel.blockSignals(True)
        panel.set_models(models, chosen)
        panel.blockSignals(False)
        panel.set_busy(self.engine.busy())
        self.engine.probe_device(s.device)
        if models:
            self.w.model_label.setText(f"Model: {s.model_title()} (loading\u2026)")
            self.load_model()
        else:
            self.w.model_label.setText("Model: none installed")
            panel.set_status("No enhancement model is installed. Install one with `fundus-studio models` "
                             "or the model manager.", error=True)
        s.show_cached()

    def load_model(self) -> None:
        """Load the chosen model on the chosen device (the engine does nothing when it already has it)."""
        self.engine.load_model(*self.session.ask_engine())

    def batch_enhancer(self, mode: str) -> Any:
        """The batch panel's Enhancer: the window's model, device and registry (called on the batch
        thread, so it reads the choice recorded on the GUI thread, never a widget)."""
        ref, device = self.session.engine_choice or (None, self.session.device)
        return self.enhancer_factory(ref, device)

    def batch_measurer(self, vessels: bool) -> Any:
        from core.batch import Measurer  # noqa: PLC0415 - loads the vessel model: on the batch thread

        return Measurer.with_installed_models(vessels=vessels, registry=self._registry)

    def _choice_changed(self) -> None:
        self.engine.probe_device(self.session.device)
        if self.session.model_ref is not None:
            self.load_model()

    def _device_info(self, info: dict) -> None:
        label, path = info.get("device_label", ""), info.get("inference_path", "")
        tip = info.get("device_reason", "")
        self.w.device_label.setText(f"Device: {label}")
        self.w.device_label.setToolTip(f"{tip}\nInference: {path}" if path else tip)
        self.w.enhance_panel.set_device_note(f"In use: {label}" + (f"\nInference: {path}" if path else ""))

    def _preparing(self, message: str) -> None:
        if not self.engine.busy():
            self.w.enhance_panel.set_status(message)

    def _model_ready(self, info: dict) -> None:
        self.session.model_info = info
        m = info.get("model", {})
        self.w.model_label.setText(f"Model: {m.get('name', '?')} {m.get('version', '')}")
        self._device_info(info)
        if not self.engine.busy():
            self.w.enhance_panel.set_status("")

    def _model_failed(self, message: str) -> None:
        self.session.model_info = {}
        self.w.model_label.setText("Model: not loaded")
        self.w.enhance_panel.set_status(message, error=True)

    # ------------------------------------------------------------------ enhancement
    def enhance_current(self) -> None:
        s = self.session
        if s.path is None or s.image is None:
            self.w.statusBar().showMessage("Open a photo first.", 4000)
            return
        cached = s.results.fetch(s.cache_key())
        if cached is not None:
            s.set_result(cached)
            return
        if s.running("enhance"):
            return  # already running for this photo and these settings
        if s.model_ref is None:
            s.fail("No enhancement model is installed, so this photo cannot be enhanced yet.")
            return
        self.load_model()
        s.add_job(self.engine.enhance(s.image, s.mode), "enhance")
        self._mark(s.path, "enhancing")
        idx = self.w.image_list.index_of(s.path)
        title = self.w.image_list.entries[idx].title if idx >= 0 else s.path.name
        self.w.viewer.progress.start(f"Enhancing {title}")
        self.w.enhance_panel.set_busy(True)
        self.w.enhance_panel.set_status("")

    def cancel(self) -> None:
        if self.engine.busy():
            self.engine.cancel()
            self.w.viewer.progress.cancelling()

    def _progress(self, job: int, done: int, total: int, message: str) -> None:
        if job in self.session.jobs:
            self.w.viewer.progress.set_progress(done, total, message)

    def _jobs_changed(self) -> None:
        if not self.session.jobs:
            self.w.viewer.progress.finish()
            self.w.enhance_panel.set_busy(False)

    def _mark(self, path: Path | None, status: str, message: str = "") -> None:
        idx = self.w.image_list.index_of(path) if path is not None else -1
        if idx >= 0:
            self.w.image_list.set_status(idx, status, message)

    def _enhanced(self, job_id: int, result: Any) -> None:
        job = self.session.finish_job(job_id)
        if job is not None:
            self._mark(job.path, "enhanced")
            self.session.store_result(job.key, result)

    def _failed(self, job_id: int, message: str) -> None:
        job = self.session.finish_job(job_id)
        if job is None:
            return
        if job.kind == "enhance":
            self._mark(job.path, "failed", message)
        self.session.fail(message)

    def _cancelled(self, job_id: int) -> None:
        job = self.session.finish_job(job_id)
        if job is None:
            return
        if job.kind == "enhance":
            self._mark(job.path, "ready")
        self.w.statusBar().showMessage("Cancelled.", 4000)
        self.w.enhance_panel.set_status("Cancelled.")

    def _error(self, message: str) -> None:
        self.w.enhance_panel.set_status(message, error=True)
        self.w.statusBar().showMessage(message, 10000)

    # ------------------------------------------------------------------ vessels
    def _result_shown(self, result: Any) -> None:
        """A new result without a cached comparison: compare its vessels straight away."""
        if result is not None and self.session.vessel_payload is None and self.session.vessel_model_available:
            self.compare_vessels()

    def compare_vessels(self) -> None:
        s = self.session
        if not s.can_compare_vessels:
            return
        if s.running("vessels"):
            return
        payload = s.vessel_results.fetch(s.cache_key())
        if payload is not None:
            s.store_vessels(s.cache_key(), payload)
            return
        s.add_job(self.engine.vessels(s.image.pixels, s.result.pixels, s.result.fov, s.device), "vessels")
        self.w.viewer.progress.start("Comparing vessels")

    def _vessels(self, job_id: int, payload: Any) -> None:
        job = self.session.finish_job(job_id)
        if job is not None:
            self.session.store_vessels(job.key, payload)

    # ------------------------------------------------------------------ photos read
    def _loaded(self, path: str, image: Any) -> None:
        p = Path(path)
        idx = self.w.image_list.index_of(p)
        if idx >= 0 and self.w.image_list.entries[idx].status == "loading":
            self.w.image_list.set_status(idx, "ready")
        self.session.image_loaded(p, image)

    def _load_failed(self, path: str, message: str) -> None:
        p = Path(path)
        self._mark(p, "failed", message)
        if p == self.session.path:
            self.w.viewer.show_failure(f"This file could not be opened.\n\n{message}")
            self.session.fail(message)

    def _thumbnail(self, path: str, thumb: Any, size_text: str) -> None:
        idx = self.w.image_list.index_of(Path(path))
        if idx >= 0:
            self.w.image_list.set_thumbnail(idx, thumb, size_text)
