"""`fundus-studio train --config FILE [--resume] [--minutes N] [--steps N]`: train MAGE-Net.

Supervised-only or teacher-student (the config's `mode`), resumable from the
output folder's checkpoint. At the end the shipped network (the teacher of a
teacher-student run, the student of a supervised one) is written as a registry
model (safetensors + model card) into `<output_dir>/model`. Runs under torchrun
as well (DistributedDataParallel; only rank 0 writes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from core.errors import FundusError
from core.training.config import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train MAGE-Net (supervised or teacher-student), resumable")
    p.add_argument("--config", required=True, metavar="FILE", help="training config JSON (see configs/)")
    p.add_argument("--resume", action="store_true", help="continue from the output folder's checkpoint")
    p.add_argument("--minutes", type=float, help="time budget in minutes (over all resumes)")
    p.add_argument("--steps", type=int, help="planned number of steps (length of the learning-rate schedule)")
    p.add_argument("--output", metavar="DIR", help="output folder (overrides the config's output_dir)")
    p.add_argument("--init-from", metavar="CHECKPOINT", help="start from these weights (fine-tuning)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--mode", choices=["supervised", "teacher_student"],
                   help="override the config's mode (e.g. the supervised control run of a teacher-student config)")
    p.add_argument("--no-export", action="store_true", help="do not write the registry model at the end")
    p.set_defaults(handler=run)


def _config(args: argparse.Namespace):
    data = TrainConfig.load(args.config).to_dict()
    if args.minutes is not None:
        data["minutes"] = args.minutes
        if args.steps is None:
            data["steps"] = None
    if args.steps is not None:
        data["steps"] = args.steps
    if args.output:
        data["output_dir"] = args.output
    if args.init_from:
        data["init_from"] = args.init_from
    if args.threads:
        data["threads"] = args.threads
    if args.mode:
        data["mode"] = args.mode
    return TrainConfig.from_dict(data)


def run(args: argparse.Namespace) -> int:
    from core.training import distributed as ddp  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.training.export import export_model, hardware_string  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts
    from core.training.trainer import Trainer  # noqa: PLC0415 - needs torch: loaded when the command runs, not when the CLI starts

    try:
        cfg = _config(args)
    except (OSError, ValueError) as exc:
        print(f"error: the training config cannot be used: {exc}", file=sys.stderr)
        return 2
    info = ddp.init_distributed(cfg.device)
    t0 = time.monotonic()
    try:
        trainer = Trainer(cfg, dist_info=info)
        if args.resume and not trainer.checkpoint_path.exists() and info.is_main:
            print(f"no checkpoint in {trainer.checkpoint_path.parent}: starting a new run", file=sys.stderr)
        bar = tqdm(total=cfg.steps or 0, unit="step", file=sys.stderr, dynamic_ncols=True,
                   disable=not info.is_main, mininterval=1.0 if sys.stderr.isatty() else 30.0)

        def progress(done: int, total: int, message: str) -> None:
            if bar.total != total:
                bar.total = total
            bar.n = done
            bar.set_postfix_str(message, refresh=False)
            bar.update(0)

        result = trainer.run(progress=progress, resume=args.resume)
        bar.close()
    except FundusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: resume with --resume", file=sys.stderr)
        return 130
    if info.is_main:
        print(f"{result.status}: step {result.step}/{result.total_steps}, {result.elapsed_s / 60:.1f} min of training, "
              f"checkpoint {result.checkpoint}")
        print("last losses: " + " ".join(f"{k}={v:.4g}" for k, v in sorted(result.last_losses.items())))
        if not args.no_export:
            variant = "teacher-student (EMA teacher)" if cfg.mode == "teacher_student" else "supervised (student)"
            installed = export_model(
                trainer.final_module(),
                cfg,
                Path(cfg.output_dir) / "model",
                training={
                    "mode": cfg.mode,
                    "variant": variant,
                    "steps": result.step,
                    "planned_steps": result.total_steps,
                    "training_time_s": round(result.elapsed_s, 1),
                    "mean_step_s": None if result.step_time_s is None else round(result.step_time_s, 4),
                    "hardware": f"{hardware_string()} x {info.world_size} process(es)",
                    "seed": cfg.seed,
                    "init_from": cfg.init_from,
                    "patch": cfg.data.patch,
                    "batch": cfg.data.batch,
                    "real_batch": cfg.data.real_batch if cfg.mode == "teacher_student" else 0,
                    "config": cfg.to_dict(),
                    "wall_time_this_call_s": round(time.monotonic() - t0, 1),
                },
                data_sources=trainer.clean_ids + trainer.real_ids,
            )
            print(f"model written: {installed.weights_path} (+ {installed.card_path.name})")
    ddp.cleanup(info)
    return 0
