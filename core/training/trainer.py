"""MAGE-Net trainer: supervised-only or teacher-student, resumable, seedable, DDP-aware.

One step, supervised: a batch of synthetic (degraded, clean) patches from the
rolling pool -> per-stage Charbonnier + edge loss and structure BCE.
Teacher-student adds a batch of real low-quality patches: the student sees a
strong perturbation of them (in the same forward pass as the synthetic batch),
the teacher (EMA of the student) a weak one; the consistency terms, ramped by
exp(-5 (1 - t/T)^2) over the first part of training, pull them together.

Checkpoints (every few minutes, every N steps if asked, at a stop and at the end)
hold model, teacher, optimiser, schedule, RNG states and the step, and are written
atomically; the data of step s depends only on (seed, rank, s), so a run killed
and resumed ends with the same weights as one run straight through.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_model
from torch import nn

import core.paths
from core.data.sources import Source, extra_clean_specs, load_sources, real_training_specs, train_clean_specs
from core.data.validation import validation_ids
from core.errors import FundusError
from core.models.magenet import MageNet, MageNetConfig, preset
from core.paths import user_cache_dir
from core.progress import ProgressCallback, StopCallback, report
from core.training import distributed as ddp
from core.training.config import DataConfig, TrainConfig
from core.training.datasets import RealSampler, ScaleJitter, SyntheticPool, drop_lowest_quality
from core.training.blob_loss import new_blob_loss
from core.training.losses import LossWeights, consistency_loss, ema_decay, ramp_weight, supervised_loss
from core.training.perturb import PerturbStrength, perturb
from core.training.vessel_loss import VesselLoss

CHECKPOINT_NAME = "checkpoint.pt"
SNAPSHOT_DIR = "snapshots"
"""<output_dir>/snapshots/step-NNNNNN.safetensors: the shipped network's weights along the run (TrainConfig.snapshot_minutes)."""
CHECKPOINT_FORMAT = 1
ESTIMATE_AFTER = 20
"""With only a time budget, the schedule length is first set from the mean time of these first steps..."""
REESTIMATE_EVERY = 100
"""...and set again every this many steps from the recent pace."""


def build_model(cfg: TrainConfig) -> nn.Module:
    base = preset(cfg.preset).to_dict()
    base.update(cfg.model_overrides)
    return MageNet(MageNetConfig.from_dict(base))


class CosineSchedule:
    """Linear warm-up, then cosine from lr to min_lr over total_steps (a plain function of the step)."""

    def __init__(self, lr: float, min_lr: float, warmup: int, total: int | None) -> None:
        self.lr, self.min_lr, self.warmup, self.total = lr, min_lr, warmup, total

    def __call__(self, step: int) -> float:
        warm = min(1.0, (step + 1) / max(1, self.warmup))
        if not self.total:
            return self.lr * warm
        t = min(1.0, step / max(1, self.total))
        return warm * (self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * t)))

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "min_lr": self.min_lr, "warmup": self.warmup, "total": self.total}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.lr, self.min_lr, self.warmup, self.total = d["lr"], d["min_lr"], d["warmup"], d["total"]


@dataclass
class TrainResult:
    step: int
    total_steps: int
    elapsed_s: float
    status: str  # "finished" | "stopped" | "time budget"
    checkpoint: Path | None
    last_losses: dict[str, float] = field(default_factory=dict)
    step_time_s: float | None = None


def rng_states() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_states(s: dict[str, Any]) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write to a temp file in the same folder, then rename: a kill never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Our own checkpoint (holds RNG states, so not weights-only; only load files you made)."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise FundusError(f"No training checkpoint at {path}.") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can raise many things
        raise FundusError(f"The training checkpoint {path} cannot be read ({exc}).") from exc


def initial_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights to fine-tune from: a checkpoint (its teacher if it has one, else its model) or safetensors."""
    p = Path(path)
    if p.suffix == ".safetensors":
        return load_file(str(p))
    ck = load_checkpoint(p)
    return ck.get("teacher") or ck["model"]


def _part(key: str) -> str:
    return key.split(".", 1)[0]


def load_initial(model: nn.Module, weights: dict[str, torch.Tensor], new_parts: Sequence[str] = ()) -> None:
    """Load starting weights; only parts listed in `new_parts` may be missing (they keep their init)."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not any(k == p or k.startswith(p + ".") for p in new_parts)]
    if getattr(model, "structured", False):  # an older residual network's image head has no place here
        unexpected = [k for k in unexpected if not k.startswith("stage3.to_residual.")]
    if missing or unexpected:
        raise FundusError(
            "The starting weights do not fit this network"
            f" (missing: {', '.join(missing[:5]) or 'none'}; unexpected: {', '.join(unexpected[:5]) or 'none'})."
        )


def freeze_except(model: nn.Module, parts: Sequence[str]) -> None:
    """Train only the named top-level parts (all of the network when `parts` is empty)."""
    if not parts:
        return
    names = {name for name, _ in model.named_children()}
    unknown = sorted(set(parts) - names)
    if unknown:
        raise FundusError(f"train_only names parts the network does not have: {', '.join(unknown)}.")
    for key, p in model.named_parameters():
        p.requires_grad_(_part(key) in set(parts))


def scaled_param_groups(model: nn.Module, lr_scale: Mapping[str, float]) -> list[dict[str, Any]]:
    """The trainable parameters in one optimizer group per learning-rate multiplier (OptimConfig.lr_scale:
    the longest matching name prefix wins, 1 for the rest). A prefix that matches no trainable
    parameter is an error: a misspelt part would otherwise train at the base rate unnoticed."""
    def matches(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    groups: dict[float, list[nn.Parameter]] = {}
    used: set[str] = set()
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        hits = [k for k in lr_scale if matches(name, k)]
        best = max(hits, key=len) if hits else None
        if best is not None:
            used.add(best)
        groups.setdefault(float(lr_scale[best]) if best is not None else 1.0, []).append(p)
    unknown = sorted(set(lr_scale) - used)
    if unknown:
        raise FundusError(f"optim.lr_scale names parts with no trainable parameters: {', '.join(unknown)}.")
    bad = sorted(k for k, v in lr_scale.items() if not v > 0)
    if bad:
        raise FundusError(f"optim.lr_scale must be positive: {', '.join(bad)}.")
    return [{"params": ps, "lr_scale": scale} for scale, ps in sorted(groups.items())]


def training_specs(root: Path, d: DataConfig, teacher_student: bool) -> tuple[list, list, list]:
    """(clean, clean_extra, real) sources a run trains on: never a test photo (core.data.sources
    asserts it), and never a validation photo when the config holds them out."""
    held_out = validation_ids(root) if d.hold_out_validation else frozenset()

    def kept(specs):
        return [s for s in specs if s.id not in held_out]

    extra = kept(extra_clean_specs(root)) if d.clean_extra else []
    real = kept(real_training_specs(root)) if teacher_student else []
    return kept(train_clean_specs(root)), extra, real


class Trainer:
    """Owns one run: model, teacher, optimiser, data; `run()` trains until a budget is spent."""

    def __init__(
        self,
        config: TrainConfig,
        clean_sources: Sequence[Source] | None = None,
        real_sources: Sequence[Source] | None = None,
        dist_info: ddp.DistInfo | None = None,
    ) -> None:
        self.cfg = config
        self.info = dist_info or ddp.init_distributed(config.device)
        if config.threads:
            torch.set_num_threads(int(config.threads))
        self.out_dir = Path(config.output_dir)
        self.weights = LossWeights.from_dict(config.losses)
        self.ts = config.mode == "teacher_student"
        self.uses_real = self.ts or self.weights.blob_real > 0
        self.device = torch.device(self.info.device)

        torch.manual_seed(config.seed)  # same initial weights on every rank (DDP broadcasts them anyway)
        model = build_model(config)
        if config.init_from:
            load_initial(model, initial_weights(config.init_from), [*config.train_only, *config.init_new_parts])
        freeze_except(model, config.train_only)
        self.model = model.to(self.device)
        self.teacher: nn.Module | None = None
        if self.ts:
            self.teacher = copy.deepcopy(self.model)
            for p in self.teacher.parameters():
                p.requires_grad_(False)
        self.net = ddp.wrap(self.model, self.info)
        self.vessel_loss: VesselLoss | None = None
        if self.weights.vessel:
            if not config.vessel_loss_net:
                raise FundusError("losses.vessel needs vessel_loss_net: the card of the frozen vessel-loss network.")
            self.vessel_loss = VesselLoss.from_card(config.vessel_loss_net).to(self.device)
        o = config.optim
        self.optimizer = torch.optim.Adam(scaled_param_groups(self.model, o.lr_scale), lr=o.lr, betas=o.betas,
                                          weight_decay=o.weight_decay)
        self.schedule = CosineSchedule(o.lr, o.min_lr, o.warmup_steps, config.steps)
        self.step = 0
        self.elapsed_s = 0.0
        self.strong = PerturbStrength.from_dict(config.teacher_student.strong)
        self.weak = PerturbStrength.from_dict(config.teacher_student.weak)

        d = config.data
        if clean_sources is None or (self.uses_real and real_sources is None):
            clean_sources, real_sources = self._load_data(clean_sources, real_sources)
        scales = ScaleJitter(d.scale_main, d.scale_wide, d.p_wide)
        self.pool = SyntheticPool(clean_sources, d.pool_size, d.pool_refresh, config.seed, self.info.rank, scales,
                                  p_clean=d.p_clean, p_photometric=d.p_photometric,
                                  defocus_sigma=d.defocus_sigma, degrade_ranges=d.degrade_ranges)
        self.real = RealSampler(real_sources, config.seed, self.info.rank, scales) if self.uses_real else None
        self.clean_ids = sorted({s.id for s in clean_sources})
        self.real_ids = sorted({s.id for s in real_sources}) if self.uses_real and real_sources else []

    # ------------------------------------------------------------------ data
    def _load_data(self, clean, real):

        d = self.cfg.data
        root = Path(d.root) if d.root else core.paths.shared_data_dir()
        if root is None:
            raise FundusError("The research data folder was not found (set FUNDUS_DATA or data.root).")
        cache = Path(d.cache_dir) if d.cache_dir else user_cache_dir() / "training"
        clean_specs, extra_specs, real_specs = training_specs(root, d, self.uses_real)
        if clean is None:
            clean = load_sources(clean_specs, cache, d.max_side)
            if extra_specs:
                extra = load_sources(extra_specs, cache, d.max_side, skip_unreadable=True)
                clean = [*clean, *drop_lowest_quality(extra, 0.2)]
        if self.uses_real and real is None:
            real = load_sources(real_specs, cache, d.max_side, skip_unreadable=True)
        return clean, real

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfg.to_dict(),
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "teacher": None if self.teacher is None else {k: v.detach().cpu().clone() for k, v in self.teacher.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": rng_states(),
            "world_size": self.info.world_size,
            "clean_ids": self.clean_ids,
            "real_ids": self.real_ids,
        }

    def save_checkpoint(self) -> Path | None:
        """Rank 0 writes; other ranks do nothing (their state is identical or derivable)."""
        if not self.info.is_main:
            return None
        atomic_torch_save(self.state_dict(), self.checkpoint_path)
        return self.checkpoint_path

    def save_snapshot(self) -> Path | None:
        """The shipped network's weights now (the teacher of a teacher-student run), for checkpoint choice
        on the validation split (core.evaluation.validation); rank 0 writes, atomically."""
        if not self.info.is_main:
            return None
        folder = self.out_dir / SNAPSHOT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{self.step:06d}.safetensors"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        os.close(fd)
        try:
            save_model(self.final_module(), tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def load_state(self, ck: dict[str, Any]) -> None:
        if ck.get("format") != CHECKPOINT_FORMAT:
            raise FundusError("This training checkpoint was written by another version of the trainer.")
        self.model.load_state_dict(ck["model"])
        if self.teacher is not None:
            if ck.get("teacher") is None:
                raise FundusError("The checkpoint has no teacher: it is not from a teacher-student run.")
            self.teacher.load_state_dict(ck["teacher"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.schedule.load_state_dict(ck["schedule"])
        self.step = int(ck["step"])
        self.elapsed_s = float(ck["elapsed_s"])
        set_rng_states(ck["rng"])

    def resume(self) -> bool:
        """Continue from the output folder's checkpoint; False when there is none."""
        if not self.checkpoint_path.exists():
            return False
        self.load_state(load_checkpoint(self.checkpoint_path))
        return True

    # ------------------------------------------------------------------ one step
    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(self.device)

    @torch.no_grad()
    def _update_teacher(self) -> None:
        assert self.teacher is not None
        d = ema_decay(self.step, self.cfg.teacher_student.ema_max_decay)
        for t, s in zip(self.teacher.parameters(), self.model.parameters()):
            t.mul_(d).add_(s.detach(), alpha=1.0 - d)
        for t, s in zip(self.teacher.buffers(), self.model.buffers()):
            t.copy_(s)

    def extra_loss(self, step: int, degraded: torch.Tensor, fov: torch.Tensor, student_out: Any) -> Any:
        """Hook for subclasses: an extra loss term on the synthetic batch (a LossResult), or None.

        Site adaptation adds its anchor to the frozen starting model here; plain training adds nothing.
        """
        return None

    def train_step(self) -> dict[str, float]:
        cfg, d = self.cfg, self.cfg.data
        step = self.step
        batch = self.pool.sample(step, d.batch, d.patch)
        x, y = self._tensor(batch.degraded), self._tensor(batch.clean)
        m, v, hv = self._tensor(batch.fov), self._tensor(batch.vessels), self._tensor(batch.has_vessels)
        ph = None if batch.photometric is None else self._tensor(batch.photometric)
        lr = self.schedule(step)
        for g in self.optimizer.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)  # a checkpoint from before lr_scale has no key
        parts: dict[str, float] = {}
        if self.ts:
            assert self.real is not None and self.teacher is not None
            real, rm = self.real.sample(step, d.real_batch, d.patch)
            r, rm = self._tensor(real), self._tensor(rm)
            gen = torch.Generator().manual_seed(int(np.random.default_rng([cfg.seed, self.info.rank, step, 17]).integers(2**62)))
            r_strong = perturb(r, rm, self.strong, gen)
            r_weak = perturb(r, rm, self.weak, gen)
            out = self.net(torch.cat([x, r_strong]), torch.cat([m, rm]))
            b = x.shape[0]
            sup_out, stu_out = out.rows(0, b), out.rows(b)
            sup = supervised_loss(sup_out, y, m, v, hv, self.weights, ph)
            with torch.no_grad():
                t_out = self.teacher(r_weak, rm)
            cons = consistency_loss(stu_out, t_out, rm, self.weights)
            total = self.schedule.total or cfg.steps  # None in a time-budget run until its length is estimated
            lam = ramp_weight(step, total, cfg.teacher_student.ramp_fraction) if total else 0.0
            loss = sup.total + lam * cons.total
            parts.update(sup.parts)
            parts.update(cons.parts)
            parts["ramp"] = lam
            real_in, real_out = r_strong, stu_out
        elif self.uses_real:
            assert self.real is not None
            real_in, rm = (self._tensor(a) for a in self.real.sample(step, d.real_batch, d.patch))
            out = self.net(torch.cat([x, real_in]), torch.cat([m, rm]))
            b = x.shape[0]
            sup_out, real_out = out.rows(0, b), out.rows(b)
            sup = supervised_loss(sup_out, y, m, v, hv, self.weights, ph)
            loss = sup.total
            parts.update(sup.parts)
        else:
            out = self.net(x, m)
            sup_out = out
            sup = supervised_loss(out, y, m, v, hv, self.weights, ph)
            loss = sup.total
            parts.update(sup.parts)
        if self.weights.blob:
            lb = new_blob_loss(sup_out.image, y, m)
            loss = loss + self.weights.blob * lb
            parts["blob"] = float(lb.detach())
        if self.weights.blob_real:
            lbr = new_blob_loss(real_out.image, real_in, rm)
            loss = loss + self.weights.blob_real * lbr
            parts["blob_real"] = float(lbr.detach())
        if self.vessel_loss is not None:
            lv = self.vessel_loss(sup_out.image, y, m, v, hv)
            loss = loss + self.weights.vessel * lv
            parts["vessel"] = float(lv.detach())
        extra = self.extra_loss(step, x, m, sup_out)
        if extra is not None:
            loss = loss + extra.total
            parts.update(extra.parts)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], cfg.optim.grad_clip)
        self.optimizer.step()
        if self.ts:
            self._update_teacher()
        self.step += 1
        parts["loss"] = float(loss.detach())
        parts["lr"] = lr
        return parts

    # ------------------------------------------------------------------ the loop
    def _log(self, record: dict[str, Any]) -> None:
        if not self.info.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def run(
        self,
        progress: ProgressCallback | None = None,
        should_stop: StopCallback | None = None,
        resume: bool = False,
    ) -> TrainResult:
        """Train until the step budget, the time budget or a stop request; checkpoint on the way out."""
        cfg = self.cfg
        if resume:
            self.resume()
        if self.info.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out_dir / "config.json")
        budget_s = cfg.minutes * 60.0 if cfg.minutes else None
        time_mode = budget_s is not None and cfg.steps is None  # schedule length follows the clock
        last_ckpt = last_snapshot = time.monotonic()
        t_run0 = time.monotonic()
        step_times: list[float] = []
        status = "finished"
        losses: dict[str, float] = {}
        ckpt: Path | None = None
        total = self.schedule.total
        while True:
            total = self.schedule.total
            if total is not None and self.step >= total:
                break
            t0 = time.perf_counter()
            losses = self.train_step()
            dt = time.perf_counter() - t0
            self.elapsed_s += dt
            step_times.append(dt)
            if time_mode and (len(step_times) == ESTIMATE_AFTER or self.step % REESTIMATE_EVERY == 0):
                # Steps that fit the rest of the budget at the recent pace (a shared machine's pace
                # changes), so the cosine schedule ends when the time does.
                recent = step_times[-REESTIMATE_EVERY:] if len(step_times) > ESTIMATE_AFTER else step_times[ESTIMATE_AFTER // 2 :]
                est = self.step + int(max(0.0, budget_s - self.elapsed_s) / float(np.mean(recent)))
                self.schedule.total = ddp.broadcast_int(max(self.step + 1, est), self.info)
            if self.step % max(1, cfg.log_every) == 0 or self.step == 1:
                logged = ddp.mean_over_ranks(losses, self.info)
                self._log({"step": self.step, "elapsed_s": round(self.elapsed_s, 2), "step_s": round(dt, 4), **logged})
            msg = " ".join(f"{k}={v:.4g}" for k, v in losses.items() if k in ("loss", "stage3", "structure", "consistency", "lr"))
            report(progress, self.step, self.schedule.total or self.step + 1, msg)
            over_time = budget_s is not None and self.elapsed_s >= budget_s
            stop = ddp.any_rank(bool(should_stop and should_stop()) or over_time, self.info)
            due = (cfg.checkpoint_every_steps and self.step % cfg.checkpoint_every_steps == 0) or (
                time.monotonic() - last_ckpt >= cfg.checkpoint_minutes * 60.0
            )
            if stop:
                status = "time budget" if over_time else "stopped"
                break
            if due:
                ckpt = self.save_checkpoint()
                last_ckpt = time.monotonic()
            if cfg.snapshot_minutes and time.monotonic() - last_snapshot >= cfg.snapshot_minutes * 60.0:
                self.save_snapshot()
                last_snapshot = time.monotonic()
        ckpt = self.save_checkpoint()
        if cfg.snapshot_minutes:
            self.save_snapshot()
        self._log({"event": status, "step": self.step, "elapsed_s": round(self.elapsed_s, 2),
                   "run_wall_s": round(time.monotonic() - t_run0, 2)})
        ddp.barrier(self.info)
        mean_step = float(np.mean(step_times[min(len(step_times) - 1, 5) :])) if step_times else None
        return TrainResult(self.step, self.schedule.total or self.step, self.elapsed_s, status, ckpt, losses, mean_step)

    # ------------------------------------------------------------------ the shipped network
    def final_module(self) -> nn.Module:
        """What ships: the teacher of a teacher-student run, the student of a supervised one."""
        return copy.deepcopy(self.teacher if self.teacher is not None else self.model).cpu().eval()
