"""Site adaptation: fine-tune the active MAGE-Net on one site's unlabelled photos.

MAGE-NET.md section 3, last point. The site has only its own scans, no labels and
no clean pairs, so the run (on core.training.trainer.Trainer, teacher-student mode):

* starts from the active shipped model (student and EMA teacher both begin as it);
* makes synthetic (degraded, clean) pairs from the site's best photos, ranked by
  core.training.site_scan, degraded by core.degrade (the Trainer's rolling pool);
* applies the teacher-student consistency to every training photo of the site;
* adds an anchor loss on the synthetic pairs: the student's output against the
  frozen starting model's output, so a short run on a few dozen photos cannot
  drift away from what the shipped model does well;
* holds out part of the site photos (spread over the quality ranking) that it
  never trains on, for core.training.site_eval.

A run lives in one folder (`site_run.json` manifest, the Trainer's checkpoint and
log), so a crash, a cancel or an app restart continues where it stopped. Budgets
are minutes of training time (over all resumes) or steps. `train()` reports
losses and an ETA through callbacks, can pause (blocks between steps) and stop,
and sends before/after previews of one fixed held-out photo as it goes.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from core.data.sources import SourceSpec, load_sources
from core.device import choose_device
from core.enhance import Enhancer, EnhanceSettings
from core.errors import Cancelled, FundusError, ModelError
from core.guard import card_guard, set_card_guard
from core.imaging import read
from core.models.magenet import MageNetConfig
from core.models.registry import RUNTIME_CONFIG_KEYS, ModelCard, ModelRegistry
from core.paths import user_cache_dir, user_data_dir
from core.progress import ProgressCallback, StopCallback, report
from core.provenance import atomic_write_bytes
from core.training.config import DataConfig, OptimConfig, TrainConfig
from core.training.export import hardware_string
from core.training.losses import LossResult, charbonnier, masked_mean
from core.training.site_scan import ScannedImage, SiteScan
from core.training.trainer import Trainer, TrainResult, load_checkpoint

MANIFEST_NAME = "site_run.json"
MANIFEST_FORMAT = 1
MIN_TRAIN_IMAGES = 3
HOLDOUT_FRACTION = 0.2
MIN_HOLDOUT = 3
MIN_USABLE_PHOTOS = MIN_TRAIN_IMAGES + MIN_HOLDOUT
"""Fewer usable photos than this cannot give both a training set and a check of the result."""
PREVIEW_SIDE = 384
ANCHOR_STRUCTURE_WEIGHT = 0.1
"""Weight of the structure-map anchor relative to the image anchor."""


@dataclass
class AdaptSettings:
    """Everything a site run depends on (saved in the manifest, so a resume trains the same way)."""

    minutes: float | None = 20.0
    """Training-time budget over all resumes; None = steps only."""
    steps: int | None = None
    """Step budget (length of the learning-rate schedule); with minutes too, whichever ends first."""
    holdout: int | None = None
    """Site photos kept out of training for the evaluation; None = `holdout_count` (the one rule)."""
    best_fraction: float = 0.5
    """Share of the training photos (best first) that become clean sides of synthetic pairs."""
    anchor_weight: float = 0.5
    """Weight of the anchor to the frozen starting model (0 = off)."""
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    patch: int = 128
    batch: int = 2
    real_batch: int = 2
    pool_size: int = 16
    lr: float = 2e-4
    min_lr: float = 2e-5
    warmup_steps: int = 20
    checkpoint_minutes: float = 2.0
    preview_every_s: float = 120.0
    """Seconds of training between preview refreshes."""

    def __post_init__(self) -> None:
        if self.minutes is None and self.steps is None:
            raise ValueError("give the adaptation a time budget (minutes) or a step budget (steps)")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError("the time budget must be positive")
        if self.holdout is not None and self.holdout < 0:
            raise ValueError("the number of held-out photos cannot be negative")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AdaptSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown adaptation setting(s): {', '.join(unknown)}")
        return cls(**d)


@dataclass
class SitePlan:
    """Which site photos train, which are held out, which give synthetic pairs, and the preview photo."""

    train: list[ScannedImage]
    holdout: list[ScannedImage]
    best: list[ScannedImage]
    preview: ScannedImage


def holdout_count(n_usable: int) -> int:
    """The one hold-out rule of the CLI and the wizard: about a fifth of the usable photos, at least
    MIN_HOLDOUT, so that a 10-photo first try still keeps 7 to train on and 3 to check with."""
    return max(MIN_HOLDOUT, int(n_usable * HOLDOUT_FRACTION + 0.5))


def too_few_photos(n_usable: int) -> str | None:
    """The refusal message when a site folder has too few usable photos (None when it has enough)."""
    if n_usable >= MIN_USABLE_PHOTOS:
        return None
    return (f"Only {n_usable} usable photo{'s' if n_usable != 1 else ''} were found in the site folder; at least "
            f"{MIN_USABLE_PHOTOS} are needed ({MIN_TRAIN_IMAGES} to train on and {MIN_HOLDOUT} to check the "
            "result).")


def plan_split(scan: SiteScan, holdout: int | None = None, best_fraction: float = 0.5) -> SitePlan:
    """Hold out `holdout` photos (default: `holdout_count`) spread evenly over the quality ranking; the
    best of the rest give pairs.

    Deterministic (the ranking alone decides), so a resumed run sees the same split.
    """
    ranked = list(scan.usable)
    n = len(ranked)
    refusal = too_few_photos(n)
    if refusal:
        raise FundusError(f"{refusal} Add photos to the folder.")
    if holdout is None:
        holdout = holdout_count(n)
    if n - holdout < MIN_TRAIN_IMAGES:
        raise FundusError(
            f"Only {n} usable photos were found in the site folder; at least {MIN_TRAIN_IMAGES + holdout} are "
            f"needed ({MIN_TRAIN_IMAGES} to train on and {holdout} to check the result). Add photos or hold out fewer."
        )
    picks = sorted({int(round((i + 0.5) * n / holdout - 0.5)) for i in range(holdout)}) if holdout else []
    held = [ranked[i] for i in picks]
    train = [im for i, im in enumerate(ranked) if i not in set(picks)]
    n_best = max(MIN_TRAIN_IMAGES, int(round(best_fraction * len(train))))
    best = train[: min(len(train), n_best)]
    pool = held or train
    preview = pool[len(pool) // 2]
    return SitePlan(train, held, best, preview)


@dataclass
class AdaptUpdate:
    """One progress report of a run: where it is, its losses, and how long is left."""

    step: int
    total_steps: int
    elapsed_s: float
    budget_s: float | None
    losses: dict[str, float]
    eta_s: float | None
    paused: bool = False

    @property
    def fraction(self) -> float:
        parts = []
        if self.total_steps:
            parts.append(self.step / self.total_steps)
        if self.budget_s:
            parts.append(self.elapsed_s / self.budget_s)
        return float(min(1.0, max(parts))) if parts else 0.0


@dataclass
class PreviewFrame:
    """The fixed preview photo: original, the starting model's output and the model being adapted (uint8 RGB)."""

    step: int
    name: str
    original: np.ndarray
    starting: np.ndarray
    adapted: np.ndarray


UpdateCallback = Callable[[AdaptUpdate], None]
PreviewCallback = Callable[[PreviewFrame], None]


def default_runs_dir() -> Path:
    """<user data dir>/site_runs: runs stay on this machine, never in the program folder."""

    return user_data_dir() / "site_runs"


def safe_run_name(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._+-]+", "-", text.strip()).strip("-.")
    return s[:64] or "site"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class AnchoredTrainer(Trainer):
    """The Trainer plus the anchor term: student vs the frozen starting model on the synthetic batch.

    Charbonnier on the final image plus a small squared difference of the structure maps.
    """

    def __init__(self, config, clean_sources, real_sources, anchor: nn.Module, anchor_weight: float) -> None:
        super().__init__(config, clean_sources, real_sources)
        self.anchor = anchor.to(self.device).eval()
        for p in self.anchor.parameters():
            p.requires_grad_(False)
        self.anchor_weight = float(anchor_weight)

    def extra_loss(self, step: int, degraded: torch.Tensor, fov: torch.Tensor, student_out: Any) -> LossResult | None:
        if not self.anchor_weight:
            return None
        with torch.no_grad():
            ref = self.anchor(degraded, fov)
        li = charbonnier(student_out.image * fov, ref.image * fov, fov)
        # The site pairs have no vessel labels: keep the structure head near the starting model's as well.
        ls = masked_mean((torch.sigmoid(student_out.structure_logits) - torch.sigmoid(ref.structure_logits)) ** 2, fov)
        total = self.anchor_weight * (li + ANCHOR_STRUCTURE_WEIGHT * ls)
        return LossResult(total, {"anchor": float(li.detach()), "anchor_structure": float(ls.detach())})


def _small(rgb: np.ndarray, side: int = PREVIEW_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s >= 1.0:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class SiteAdaptation:
    """One adaptation run in `run_dir`: create (or open to resume), prepare, train, install."""

    def __init__(self, run_dir: str | Path, manifest: dict[str, Any], registry: Any = None) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = manifest
        self.registry = registry or ModelRegistry()
        self.settings = AdaptSettings.from_dict(manifest["settings"])
        self.scan = SiteScan.from_dict(manifest["scan"])
        by_path = {im.path: im for im in self.scan.usable}
        self.plan = SitePlan(
            [by_path[p] for p in manifest["split"]["train"]],
            [by_path[p] for p in manifest["split"]["holdout"]],
            [by_path[p] for p in manifest["split"]["best"]],
            by_path[manifest["split"]["preview"]],
        )
        self.trainer: AnchoredTrainer | None = None
        self.result: TrainResult | None = None
        self._start_module: nn.Module | None = None
        self._preview_image: Any = None
        self._preview_start: np.ndarray | None = None

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(
        cls,
        scan: SiteScan,
        settings: AdaptSettings,
        run_dir: str | Path | None = None,
        start: Any = None,
        registry: Any = None,
    ) -> "SiteAdaptation":
        """Plan a new run from a scan; `start` = InstalledModel to adapt (default: the active enhancer)."""

        registry = registry or ModelRegistry()
        start = start or registry.active("enhancer")
        if start is None:
            raise ModelError("No MAGE-Net model is installed to start the adaptation from.")
        if start.card.architecture != "magenet":
            raise ModelError(f"{start.ref} is not a MAGE-Net model; only MAGE-Net models can be adapted.")
        plan = plan_split(scan, settings.holdout, settings.best_fraction)
        if run_dir is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            run_dir = default_runs_dir() / f"{stamp}-{safe_run_name(Path(scan.folder).name)}"
        run_dir = Path(run_dir)
        if (run_dir / MANIFEST_NAME).exists():
            raise FundusError(f"An adaptation run already exists in {run_dir}; resume it or choose another folder.")
        manifest = {
            "format": MANIFEST_FORMAT,
            "created": _now(),
            "status": "planned",
            "site_folder": scan.folder,
            "start": {"name": start.card.name, "version": start.card.version, "sha256": start.card.sha256},
            "settings": asdict(settings),
            "scan": scan.to_dict(),
            "split": {
                "train": [im.path for im in plan.train],
                "holdout": [im.path for im in plan.holdout],
                "best": [im.path for im in plan.best],
                "preview": plan.preview.path,
            },
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        self = cls(run_dir, manifest, registry)
        self.save_manifest()
        return self

    @classmethod
    def open(cls, run_dir: str | Path, registry: Any = None) -> "SiteAdaptation":
        """An existing run (to resume, evaluate or install)."""
        path = Path(run_dir) / MANIFEST_NAME
        try:
            manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise FundusError(f"No adaptation run in {run_dir}.") from None
        except (OSError, ValueError) as exc:
            raise FundusError(f"The adaptation run in {run_dir} cannot be read ({exc}).") from exc
        if manifest.get("format") != MANIFEST_FORMAT:
            raise FundusError("This adaptation run was made by another version of Fundus Studio.")
        return cls(run_dir, manifest, registry)

    def save_manifest(self) -> None:
        atomic_write_bytes(self.run_dir / MANIFEST_NAME, (json.dumps(self.manifest, indent=1) + "\n").encode())

    def set_status(self, status: str, **extra: Any) -> None:
        self.manifest["status"] = status
        self.manifest.update(extra)
        self.save_manifest()

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "planned"))

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def can_resume(self) -> bool:
        return self.checkpoint_path.exists() and self.status not in ("installed",)

    def progress_summary(self) -> dict[str, Any]:
        """Step and training time reached so far (from the checkpoint's log), without loading torch state."""
        out = {"step": 0, "elapsed_s": 0.0}
        log = self.run_dir / "log.jsonl"
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                out["step"] = max(out["step"], int(rec.get("step", 0)))
                out["elapsed_s"] = max(out["elapsed_s"], float(rec.get("elapsed_s", 0.0)))
        return out

    # ------------------------------------------------------------------ models
    @property
    def start_model(self) -> Any:
        s = self.manifest["start"]
        installed = self.registry.get(s["name"], s["version"])
        if s.get("sha256") and installed.card.sha256 != s["sha256"]:
            raise ModelError(f"The starting model {installed.ref} has changed since this run began.")
        return installed

    def starting_module(self) -> nn.Module:
        """The frozen starting model (sha256-checked by the registry)."""
        if self._start_module is None:
            self._start_module = self.registry.load(self.start_model, device="cpu")
        return self._start_module

    def working_size(self) -> int:
        return int(self.start_model.card.config.get("inference", {}).get("working_size", 512))

    def train_config(self):
        """The Trainer's config for this run (a pure function of the manifest)."""

        s = self.settings
        start = self.start_model
        ws = self.working_size()

        # The card's network exactly, with its missing keys at their dataclass defaults (what an older
        # card means: e.g. no output_form = the residual form), never the current preset's.
        overrides = MageNetConfig.from_dict(
            {k: v for k, v in start.card.config.items() if k not in RUNTIME_CONFIG_KEYS}).to_dict()
        main = (max(8, round(0.86 * ws)), max(8, round(1.17 * ws)))
        wide = (main[1], max(main[1], round(1.95 * ws)))
        return TrainConfig(
            name=start.card.name,
            version=start.card.version,
            mode="teacher_student",
            preset="mage-s",
            model_overrides=overrides,
            working_size=ws,
            steps=s.steps,
            minutes=s.minutes,
            seed=s.seed,
            device=self.device(),
            threads=s.threads,
            init_from=str(start.weights_path),
            output_dir=str(self.run_dir),
            checkpoint_minutes=s.checkpoint_minutes,
            log_every=5,
            data=DataConfig(patch=min(s.patch, main[0]), batch=s.batch, real_batch=s.real_batch,
                            pool_size=s.pool_size, scale_main=main, scale_wide=wide),
            optim=OptimConfig(lr=s.lr, min_lr=s.min_lr, warmup_steps=s.warmup_steps),
            notes=f"site adaptation of {start.ref}",
        )

    def device(self) -> str:
        dev = choose_device(self.settings.device).device
        return "cpu" if dev == "mps" else dev  # the trainer supports CUDA and CPU

    # ------------------------------------------------------------------ data + trainer
    def _sources(self, images: Sequence[ScannedImage], progress: ProgressCallback | None):
        root = Path(self.scan.folder)
        specs = []
        for im in images:
            p = Path(im.path)
            try:
                rel = p.relative_to(root).as_posix()
            except ValueError:
                rel = p.name
            specs.append(SourceSpec(f"site/{rel}", p))
        side = max(64, round(2 * self.working_size()))
        return load_sources(specs, user_cache_dir() / "site_adapt", min(1024, side), progress, skip_unreadable=False)

    def prepare(self, progress: ProgressCallback | None = None) -> AnchoredTrainer:
        """Load the site photos (cached) and build the trainer; resumes from the checkpoint if there is one."""
        if self.trainer is not None:
            return self.trainer

        cfg = self.train_config()
        for im in self.plan.train:
            if not Path(im.path).exists():
                raise FundusError(f"The site photo {im.path} is no longer there; scan the folder again.")
        real = self._sources(self.plan.train, progress)
        by_id = {s.id: s for s in real}
        best_ids = {f"site/{self._rel(im)}" for im in self.plan.best}
        clean = [by_id[i] for i in sorted(best_ids) if i in by_id]
        anchor = copy.deepcopy(self.starting_module())
        self.trainer = AnchoredTrainer(cfg, clean, real, anchor, self.settings.anchor_weight)
        if self.checkpoint_path.exists():
            self.trainer.resume()
        self._preview_image = read(self.plan.preview.path)
        return self.trainer

    def _rel(self, im: ScannedImage) -> str:
        p, root = Path(im.path), Path(self.scan.folder)
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            return p.name

    # ------------------------------------------------------------------ previews
    def _enhance_preview(self, module: nn.Module) -> np.ndarray:
        enh = Enhancer.from_module(module, device="cpu", settings=EnhanceSettings(working_size=self.working_size()))
        return _small(enh.enhance(self._preview_image).pixels)

    def preview(self) -> PreviewFrame:
        """Original, starting model and current teacher on the fixed preview photo."""
        trainer = self.prepare()
        if self._preview_start is None:
            self._preview_start = self._enhance_preview(copy.deepcopy(self.starting_module()))
        current = self._enhance_preview(copy.deepcopy(trainer.teacher).cpu())
        orig = _small(self._preview_image.pixels)
        if orig.dtype != np.uint8:
            orig = (orig.astype(np.float32) * (255.0 / self._preview_image.max_value) + 0.5).astype(np.uint8)
            current = (current.astype(np.float32) * (255.0 / self._preview_image.max_value) + 0.5).astype(np.uint8)
        start = self._preview_start
        if start.dtype != np.uint8:
            start = (start.astype(np.float32) * (255.0 / self._preview_image.max_value) + 0.5).astype(np.uint8)
        return PreviewFrame(trainer.step, self.plan.preview.name, orig, start, current)

    # ------------------------------------------------------------------ training
    def train(
        self,
        progress: ProgressCallback | None = None,
        should_stop: StopCallback | None = None,
        on_update: UpdateCallback | None = None,
        on_preview: PreviewCallback | None = None,
        pause: threading.Event | None = None,
    ) -> TrainResult:
        """Train until the budget is spent or a stop is asked for; always leaves a checkpoint to resume from.

        While `pause` is set the run waits between two steps (training time does not count).
        Raises Cancelled when stopped, after the checkpoint is written.
        """
        trainer = self.prepare()
        s = self.settings
        budget_s = s.minutes * 60.0 if s.minutes else None
        self.set_status("training")
        last_preview = [-1e18]
        step_t: list[tuple[int, float]] = []

        def stopping() -> bool:
            return bool(should_stop and should_stop())

        def send_preview(force: bool = False) -> None:
            if on_preview is None:
                return
            if force or trainer.elapsed_s - last_preview[0] >= s.preview_every_s:
                last_preview[0] = trainer.elapsed_s
                on_preview(self.preview())

        def eta(step: int, total: int) -> float | None:
            step_t.append((step, trainer.elapsed_s))
            recent = [p for p in step_t[-50:]]
            if len(recent) < 3:
                return None
            rate = (recent[-1][1] - recent[0][1]) / max(1, recent[-1][0] - recent[0][0])
            left = [max(0.0, (total - step) * rate)] if total else []
            if budget_s is not None:
                left.append(max(0.0, budget_s - trainer.elapsed_s))
            return min(left) if left else None

        def cb(done: int, total: int, message: str) -> None:
            report(progress, done, total, message)
            if on_update is not None:
                on_update(AdaptUpdate(done, total, trainer.elapsed_s, budget_s, self._last_losses(), eta(done, total)))
            send_preview()
            if pause is not None and pause.is_set() and not stopping():
                if on_update is not None:
                    on_update(AdaptUpdate(done, total, trainer.elapsed_s, budget_s, self._last_losses(), None, True))
                while pause.is_set() and not stopping():
                    time.sleep(0.1)
                step_t.clear()  # the pause is not training time: restart the rate estimate

        self._wrap_losses(trainer)
        send_preview(force=True)
        result = trainer.run(progress=cb, should_stop=stopping, resume=False)
        self.result = result
        if result.status == "stopped":
            self.set_status("stopped", last_step=result.step, training_time_s=round(result.elapsed_s, 1))
            raise Cancelled("The adaptation was stopped; it can be continued later.")
        self.set_status("trained", last_step=result.step, planned_steps=result.total_steps,
                        training_time_s=round(result.elapsed_s, 1), finished=_now(),
                        mean_step_s=None if result.step_time_s is None else round(result.step_time_s, 4))
        if on_preview is not None:
            on_preview(self.preview())
        return result

    def _wrap_losses(self, trainer: AnchoredTrainer) -> None:
        """Remember the losses of the latest step (the Trainer's progress message holds only a few)."""
        if getattr(trainer, "_site_wrapped", False):
            return
        base = trainer.train_step
        self._losses: dict[str, float] = {}

        def step() -> dict[str, float]:
            parts = base()
            self._losses = dict(parts)
            return parts

        trainer.train_step = step  # type: ignore[method-assign]
        trainer._site_wrapped = True  # type: ignore[attr-defined]

    def _last_losses(self) -> dict[str, float]:
        return dict(getattr(self, "_losses", {}))

    def adapted_module(self) -> nn.Module:
        """The adapted network (the EMA teacher), from the live trainer or the checkpoint."""
        if self.trainer is not None:
            return self.trainer.final_module()

        ck = load_checkpoint(self.checkpoint_path)
        module = copy.deepcopy(self.starting_module())
        module.load_state_dict(ck.get("teacher") or ck["model"])
        return module.cpu().eval()

    # ------------------------------------------------------------------ install
    def data_summary(self) -> dict[str, Any]:
        counts = self.scan.counts()
        return {
            "site_folder": self.scan.folder,
            "photos_found": counts["found"],
            "photos_usable": counts["usable"],
            "photos_excluded": counts["excluded"],
            "excluded_by_reason": self.scan.reasons(),
            "train_photos": len(self.plan.train),
            "pair_photos": len(self.plan.best),
            "holdout_photos": len(self.plan.holdout),
            "holdout": [self._rel(im) for im in self.plan.holdout],
        }

    def install(
        self,
        name: str,
        version: str | None = None,
        notes: str = "",
        evaluation: Any = None,
        activate: bool = False,
        allow_worse: bool = False,
    ):
        """Install the adapted model in the registry (card: parent, data summary, measures); maybe activate it.

        A model whose evaluation says worse (or inconclusive with a measure that got worse) is only
        activated with allow_worse (an explicit choice). The card's guard threshold is the one the
        evaluation recalibrated on the site's held-out photos, else the starting model's.
        Returns (InstalledModel, activated: bool).
        """

        start = self.start_model
        version = version or next_free_version(self.registry, name)
        summary = self.progress_summary()
        training = {
            "method": "site adaptation (teacher-student consistency + synthetic pairs from the site's best photos "
                      "+ anchor to the frozen starting model)",
            "data": self.data_summary(),
            "steps": int(self.manifest.get("last_step", summary["step"])),
            "planned_steps": self.manifest.get("planned_steps"),
            "training_time_s": self.manifest.get("training_time_s", round(summary["elapsed_s"], 1)),
            "mean_step_s": self.manifest.get("mean_step_s"),
            "hardware": hardware_string(),
            "settings": asdict(self.settings),
            "run_folder": str(self.run_dir),
            "started": self.manifest.get("created"),
            "finished": self.manifest.get("finished"),
        }
        metrics: dict[str, Any] = {}
        needs_choice = _needs_confirmation(evaluation)
        if evaluation is not None:
            metrics["site_evaluation"] = evaluation.to_dict()
            training["flagged_worse"] = needs_choice
            training["site_verdict"] = getattr(evaluation, "overall", None)
        card = ModelCard(
            name=name,
            version=version,
            kind="enhancer",
            architecture="magenet",
            config=copy.deepcopy(start.card.config),
            parent=start.ref,
            training=training,
            metrics=metrics,
            notes=notes,
            license=start.card.license,
            data_sources=[f"site photos in {self.scan.folder} (stay on this machine)"],
        )
        guard = getattr(evaluation, "guard", None) or card_guard(start.card)
        if guard:
            set_card_guard(card, guard)
        installed = self.registry.install(self.adapted_module(), card)
        activated = False
        if activate and (not needs_choice or allow_worse):
            self.registry.set_active("enhancer", installed.card.name, installed.card.version)
            activated = True
        self.set_status("installed", installed=installed.ref, activated=activated)
        return installed, activated


def _needs_confirmation(evaluation: Any) -> bool:
    """True when the evaluation forbids activating the model without an explicit choice."""
    if evaluation is None:
        return False
    return bool(getattr(evaluation, "needs_confirmation", getattr(evaluation, "worse", False)))


def next_free_version(registry: Any, name: str) -> str:
    """"1", "2", ...: the first integer version not yet used by `name`."""
    used = {m.card.version for m in registry.list() if m.card.name == name}
    n = 1
    while str(n) in used:
        n += 1
    return str(n)


def unfinished_runs(runs_dir: str | Path | None = None) -> list[Path]:
    """Run folders with a checkpoint that were not installed yet (newest first): candidates to resume."""
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir(), reverse=True):
        m = d / MANIFEST_NAME
        if not m.exists() or not (d / "checkpoint.pt").exists():
            continue
        try:
            status = json.loads(m.read_text()).get("status")
        except (OSError, ValueError):
            continue
        if status in ("training", "stopped"):
            out.append(d)
    return out
