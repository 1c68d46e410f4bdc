"""DDP on CPU: two gloo processes train a tiny teacher-student run and must end with identical weights."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    from pathlib import Path

    from core.training import distributed as ddp
    from core.training.trainer import Trainer
    from tests.core.training.tiny import tiny_config, tiny_sources

    info = ddp.init_distributed("cpu")
    assert info.backend == "gloo" and info.world_size == world
    cfg = tiny_config(Path(tmp), mode="teacher_student", steps=3)
    tr = Trainer(cfg, tiny_sources(3), tiny_sources(2, prefix="real"), dist_info=info)
    first_batch = tr.pool.sample(0, 2, 32).degraded
    res = tr.run()
    torch.save({"model": tr.model.state_dict(), "teacher": tr.teacher.state_dict(), "batch": torch.from_numpy(first_batch),
                "checkpoint": None if res.checkpoint is None else str(res.checkpoint), "step": res.step},
               f"{tmp}/rank{rank}.pt")
    ddp.cleanup(info)


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_in_sync(tmp_path):
    world = 2
    mp.spawn(_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert r0["step"] == r1["step"] == 3
    for part in ("model", "teacher"):
        for k, v in r0[part].items():
            assert torch.equal(v, r1[part][k]), f"{part}.{k} differs between ranks"
    assert not torch.equal(r0["batch"], r1["batch"])  # each rank draws its own data
    assert r0["checkpoint"] is not None and r1["checkpoint"] is None  # only rank 0 writes
    assert (tmp_path / "run" / "checkpoint.pt").exists()
