"""Train VesselNet on DRIVE training + HRF 01-08 patches (BCE + Dice), seeded and resumable.

Run in the background, from the repository root:
    mkdir -p runs/vessels && nohup .venv/bin/python -m core.training.vessel_train --config configs/vessels.json \
        --out runs/vessels > runs/vessels/train.log 2>&1 &
The learning rate follows a cosine over max(step/steps, elapsed/budget), so a run
that is slower than planned still anneals within its wall-time budget.
A checkpoint (model, EMA, optimiser, RNG states, history) is written every few
minutes; rerunning the same command resumes from it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import FundusError
from core.evaluation.vessel_eval import roc_auc
from core.models.vesselnet import VesselNet, VesselNetConfig, count_parameters
from core.paths import repo_root, shared_data_dir
from core.progress import ProgressCallback, StopCallback, report
from core.data.vessel_samples import Sample, assert_training_ids, load_sample
from core.training.vessel_data import PatchSampler, ScaledImage, scale_sample
from core.vessels import predict_prob


def load_config(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def split_ids(cfg: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(dataset, id) pairs for training and validation, both drawn from the training images only."""
    d = cfg["data"]
    assert_training_ids(d["drive_ids"], d["hrf_ids"])
    val_drive, val_hrf = set(d.get("val_drive_ids", [])), set(d.get("val_hrf_ids", []))
    train, val = [], []
    for sid in d["drive_ids"]:
        (val if sid in val_drive else train).append(("drive_train", sid))
    for sid in d["hrf_ids"]:
        (val if sid in val_hrf else train).append(("hrf", sid))
    val_les = set(d.get("val_les_av_ids", []))
    for sid in d.get("les_av_ids", []):
        (val if sid in val_les else train).append(("les_av", sid))
    return train, val


def masked_loss(logits: torch.Tensor, y: torch.Tensor, m: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """BCE + soft Dice, both counted inside the FOV only."""
    bce = (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * m).sum() / m.sum().clamp_min(1)
    p = torch.sigmoid(logits) * m
    inter = (p * y).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + (y * m).sum() + 1)
    return bce + dice_weight * dice


def validate(model: torch.nn.Module, val: list, diameter: float, tile: int, overlap: int) -> dict[str, float]:
    """Pooled AUC at the working scale on the held-out training images (Samples or ScaledImages)."""
    res: dict[str, list] = {}
    for s in val:
        im = s if isinstance(s, ScaledImage) else scale_sample(s, diameter, pad=0)
        prob = predict_prob(model, im.x, tile=tile, overlap=overlap)
        key = s.name.split("_")[0]  # "drive", "hrf", ...
        res.setdefault(key, [[], []])
        res[key][0].append(prob[im.fov])
        res[key][1].append(im.label[im.fov] >= 0.5)
    out = {}
    for k, (p, y) in res.items():
        if p:
            out[f"val_auc_{k}"] = roc_auc(np.concatenate(p), np.concatenate(y))
    return out


def _lr(cfg: dict[str, Any], frac: float, step: int) -> float:
    t = cfg["train"]
    warm = t.get("warmup_steps", 100)
    if step < warm:
        return t["lr"] * (step + 1) / warm
    return t["lr_min"] + 0.5 * (t["lr"] - t["lr_min"]) * (1 + math.cos(math.pi * min(frac, 1.0)))


def train(
    cfg: dict[str, Any],
    out_dir: Path,
    *,
    data_root: Optional[Path] = None,
    samples: Optional[tuple[list[Sample], list[Sample]]] = None,
    progress: Optional[ProgressCallback] = None,
    should_stop: Optional[StopCallback] = None,
    log=print,
) -> dict[str, Any]:
    """Train (or resume) and write `vesselnet_final.pt` (EMA weights + config + history) to out_dir.

    samples: (train, val) Samples to use instead of the research data (tests, custom data).
    """
    t = cfg["train"]
    torch.set_num_threads(int(t.get("threads", 1)))
    torch.manual_seed(cfg["seed"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg["seed"])
    diameter_val = float(cfg["data"].get("val_diameter", 640))
    if samples is None:
        root = Path(data_root) if data_root else shared_data_dir()
        if root is None:
            raise FundusError("The research data folder (../shared/data/fundus) was not found.")
        train_ids, val_ids = split_ids(cfg)
        train_iter = (load_sample(root, k, i) for k, i in train_ids)
        val_iter = (load_sample(root, k, i) for k, i in val_ids)
    else:
        train_iter, val_iter = iter(samples[0]), iter(samples[1])
    # load one native photo at a time and keep only the rescaled copies (HRF natives are ~100 MB each)
    sampler = PatchSampler(train_iter, cfg["data"]["diameters"], t["patch"], rng,
                           degrade_fraction=t.get("degrade_fraction", 0.4))
    val_s = [scale_sample(s, diameter_val, pad=0) for s in val_iter]
    log(f"train images {len(sampler.images)}, val images {len(val_s)}, degrader {sampler.degrader_name}")
    model = VesselNet(VesselNetConfig.from_dict(cfg["model"]))
    ema = copy.deepcopy(model).eval()
    for p_ in ema.parameters():
        p_.requires_grad_(False)
    log(f"parameters {count_parameters(model)}")
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=t.get("weight_decay", 1e-4))
    step, elapsed, history = 0, 0.0, []
    ckpt_path = out_dir / "checkpoint.pt"
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, history = ck["step"], ck["elapsed"], ck["history"]
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed at step {step}, {elapsed / 60:.1f} min")

    def save_ckpt() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "step": step, "elapsed": elapsed, "history": history,
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "config": cfg}, tmp)
        tmp.replace(ckpt_path)

    steps, budget = int(t["steps"]), float(t["budget_minutes"]) * 60
    ema_decay = float(t.get("ema_decay", 0.998))
    last_ckpt = time.time()
    t_start = time.time() - elapsed
    loss_avg, seen = 0.0, 0
    sampler.refresh_degraded(len(sampler.images) * len(cfg["data"]["diameters"]))
    model.train()
    stopped = False
    while True:
        elapsed = time.time() - t_start
        frac = max(step / steps, elapsed / budget)
        if frac >= 1.0:
            break
        if should_stop is not None and should_stop():
            stopped = True
            break
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, frac, step)
        if step % t.get("refresh_every", 50) == 0:
            sampler.refresh_degraded(t.get("refresh_count", 8))
        x, y, m = (torch.from_numpy(a) for a in sampler.batch(t["batch"]))
        loss = masked_loss(model(x), y, m, t.get("dice_weight", 0.5))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            d = min(ema_decay, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
            for be, bm in zip(ema.buffers(), model.buffers()):
                be.copy_(bm)
        step += 1
        loss_avg += float(loss.detach())
        seen += 1
        report(progress, int(frac * 1000), 1000, f"step {step}")
        if step % t.get("log_every", 50) == 0:
            rate = step / max(elapsed, 1e-6)
            log(f"step {step} loss {loss_avg / seen:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"elapsed {elapsed / 60:.1f} min ({rate:.2f} steps/s) frac {frac:.3f}")
            loss_avg, seen = 0.0, 0
        if step % t.get("val_every", 500) == 0 and val_s:
            v = validate(ema, val_s, diameter_val, 384, 64)
            history.append({"step": step, "elapsed_min": elapsed / 60, **v})
            log(f"VAL step {step}: " + ", ".join(f"{k} {val:.4f}" for k, val in v.items()))
        if time.time() - last_ckpt > t.get("checkpoint_seconds", 180):
            save_ckpt()
            last_ckpt = time.time()
    elapsed = time.time() - t_start
    save_ckpt()
    final = {"step": step, "elapsed_s": elapsed, "stopped": stopped}
    if val_s:
        final.update(validate(ema, val_s, diameter_val, 384, 64))
    history.append({"final": True, **final})
    torch.save({"ema": ema.state_dict(), "model_config": ema.cfg.to_dict(), "history": history,
                "train_config": cfg, "steps": step, "elapsed_s": elapsed,
                "degrader": sampler.degrader_name}, out_dir / "vesselnet_final.pt")
    log(f"done: {json.dumps(final)}")
    return final


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Train VesselNet (background job).")
    ap.add_argument("--config", default=str(repo_root() / "configs" / "vessels.json"))
    ap.add_argument("--out", default=str(repo_root() / "runs" / "vessels"), help="run folder (default: runs/vessels in the repository)")
    ap.add_argument("--budget-minutes", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args(argv)
    cfg = load_config(Path(args.config))
    if args.budget_minutes is not None:
        cfg["train"]["budget_minutes"] = args.budget_minutes
    if args.steps is not None:
        cfg["train"]["steps"] = args.steps
    stop_file = Path(args.out) / "STOP"
    train(cfg, Path(args.out), should_stop=stop_file.exists, log=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
