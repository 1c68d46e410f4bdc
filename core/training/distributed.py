"""DistributedDataParallel plumbing: how a site with several GPUs (or CPUs) trains.

Under `torchrun` the environment carries RANK / WORLD_SIZE / LOCAL_RANK; the
process group uses nccl on GPUs and gloo on CPUs. Each rank draws its own data
(the samplers take the rank), gradients are averaged by DDP, so every rank holds
the same weights; only rank 0 writes checkpoints, logs and the exported model.
Decisions that depend on the clock or the user (stop now, how many steps fit the
time budget) are agreed across ranks, or the ranks would deadlock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str, local_rank: int = 0) -> str:
    """"auto" takes this rank's GPU when there is one, else the CPU."""
    if requested == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        return f"cuda:{local_rank}"
    return requested


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = pick_device(device, local)
    if world <= 1:
        return DistInfo(0, 1, 0, dev, None)
    backend = "nccl" if dev.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        if dev.startswith("cuda"):
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local, dev, backend)


def current() -> DistInfo:
    """The DistInfo of an already initialised process group (or single process)."""
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
        backend = dist.get_backend()
        dev = f"cuda:{local}" if backend == "nccl" else "cpu"
        return DistInfo(rank, world, local, dev, backend)
    return DistInfo()


def wrap(model: nn.Module, info: DistInfo) -> nn.Module:
    """DDP around `model` when distributed (broadcasts rank 0's initial weights)."""
    if not info.distributed:
        return model

    if info.device.startswith("cuda"):
        return DDP(model, device_ids=[info.local_rank], output_device=info.local_rank)
    return DDP(model)


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when it is True on any rank (stop requests, time budget)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_int(value: int, info: DistInfo) -> int:
    """Rank 0's value on every rank."""
    if not info.distributed:
        return value
    t = torch.tensor([int(value)], dtype=torch.long, device=info.device)
    dist.broadcast(t, src=0)
    return int(t.item())


def mean_over_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average logged numbers over ranks (for the log of rank 0)."""
    if not info.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    t /= info.world_size
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
