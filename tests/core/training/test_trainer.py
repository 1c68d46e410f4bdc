import json

import numpy as np
import pytest
import torch

from core.training.export import export_model
from core.training.trainer import Trainer, load_checkpoint
from tests.core.training.tiny import restore_threads, tiny_config, tiny_sources  # noqa: F401


def _trainer(cfg):
    return Trainer(cfg, tiny_sources(3), tiny_sources(2, prefix="real") if cfg.mode == "teacher_student" else None)


def test_supervised_smoke_run(tmp_path):
    cfg = tiny_config(tmp_path, steps=6)
    tr = _trainer(cfg)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    seen = []
    res = tr.run(progress=lambda d, t, m: seen.append((d, t, m)))
    assert res.status == "finished" and res.step == 6 and tr.teacher is None
    assert np.isfinite(res.last_losses["loss"]) and "stage3" in res.last_losses
    assert seen[-1][:2] == (6, 6) and "loss=" in seen[-1][2]
    assert any(not torch.equal(before[k], v) for k, v in tr.model.state_dict().items())
    ck = load_checkpoint(cfg.output_dir + "/checkpoint.pt")
    assert ck["step"] == 6 and ck["teacher"] is None and {"python", "numpy", "torch"} <= set(ck["rng"])
    log = [json.loads(line) for line in open(cfg.output_dir + "/log.jsonl")]
    assert log[-1]["event"] == "finished"


def test_teacher_student_smoke_and_export(tmp_path):
    cfg = tiny_config(tmp_path, mode="teacher_student", steps=6)
    tr = _trainer(cfg)
    res = tr.run()
    assert res.step == 6
    assert {"consistency", "cons_image", "ramp", "supervised"} <= set(res.last_losses)
    t, s = tr.teacher.state_dict(), tr.model.state_dict()
    assert any(not torch.equal(t[k], s[k]) for k in s)  # an average of past students, not the student
    module = tr.final_module()
    assert all(torch.equal(module.state_dict()[k], t[k]) for k in t)  # the teacher ships
    inst = export_model(module, cfg, tmp_path / "model", training={"steps": res.step})
    assert inst.weights_path.exists() and inst.card.config["inference"]["working_size"] == 512
    from core.models.registry import ModelRegistry

    loaded = ModelRegistry(shipped_dir=tmp_path / "model", user_dir=tmp_path / "u").load(inst)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x).image, module(x).image)


def test_stop_callback_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path, steps=50)
    tr = _trainer(cfg)
    res = tr.run(should_stop=lambda: tr.step >= 3)
    assert res.status == "stopped" and res.step == 3
    assert load_checkpoint(res.checkpoint)["step"] == 3


class _Crash(Exception):
    pass


@pytest.mark.parametrize("mode", ["supervised", "teacher_student"])
def test_exact_resume_after_a_crash(tmp_path, mode):
    n = 8
    straight = _trainer(tiny_config(tmp_path / "a", mode=mode, steps=n))
    straight.run()

    cfg = tiny_config(tmp_path / "b", mode=mode, steps=n, checkpoint_every_steps=n // 2)
    first = _trainer(cfg)

    def crash():
        if first.step == n // 2 + 2:  # two steps after the last checkpoint: that work is lost
            raise _Crash()
        return False

    with pytest.raises(_Crash):
        first.run(should_stop=crash)
    assert load_checkpoint(cfg.output_dir + "/checkpoint.pt")["step"] == n // 2
    torch.manual_seed(999)  # the resumed process starts with other global RNG states
    np.random.seed(999)
    second = _trainer(cfg)
    res = second.run(resume=True)
    assert res.step == n
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k
    if mode == "teacher_student":
        for k, v in straight.teacher.state_dict().items():
            assert torch.equal(v, second.teacher.state_dict()[k]), k
    sa, sb = straight.optimizer.state_dict()["state"], second.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)


def test_time_budget_estimates_schedule(tmp_path):
    cfg = tiny_config(tmp_path, steps=None, minutes=0.05)
    tr = _trainer(cfg)
    res = tr.run()
    steps = [json.loads(line) for line in open(cfg.output_dir + "/log.jsonl") if '"step_s"' in line]
    if res.status == "time budget":  # the budget ran out during the last step, not before it
        began = steps[-1]["elapsed_s"] - steps[-1]["step_s"]
        rounding = 0.005 + 0.00005  # the log rounds elapsed_s to 0.01 s and step_s to 0.0001 s
        assert began < 3.0 + rounding and res.elapsed_s >= 3.0
    else:  # the pace picked up after the estimate: the schedule ended first, inside the budget
        assert res.status == "finished" and res.step == tr.schedule.total and res.elapsed_s < 3.0
    if res.step > 20:  # the schedule length was set from the measured step time
        assert tr.schedule.total is not None and tr.schedule.total >= 20


def test_new_colour_head_trains_on_a_frozen_network(tmp_path):
    """train_only: the starting network is loaded without the head it lacks and stays exactly as it was."""
    from safetensors.torch import save_file

    from tests.core.training.tiny import TINY_MODEL

    residual = {**TINY_MODEL, "output_form": "residual"}  # the colour head belongs to the residual form
    base = _trainer(tiny_config(tmp_path / "base", steps=2, model_overrides=residual))
    base.run()
    start = tmp_path / "base.safetensors"
    save_file({k: v.contiguous() for k, v in base.model.state_dict().items()}, str(start))

    cfg = tiny_config(tmp_path, mode="teacher_student", steps=4, init_from=str(start), train_only=["global_head"],
                      model_overrides={**residual, "global_channels": 4, "global_size": 16})
    tr = _trainer(cfg)
    head_before = {k: v.clone() for k, v in tr.model.global_head.state_dict().items()}
    res = tr.run()
    assert res.status == "finished"
    after = tr.model.state_dict()
    for k, v in base.model.state_dict().items():
        assert torch.equal(after[k], v), f"{k} changed though it is frozen"
    assert any(not torch.equal(head_before[k], v) for k, v in tr.model.global_head.state_dict().items())


def test_lr_scale_puts_a_part_in_its_own_group_at_its_multiple_of_the_schedule(tmp_path):
    """optim.lr_scale: the named part learns at its multiple of the schedule's lr, the rest at the lr;
    the longest prefix wins, and a prefix that matches nothing trainable is refused."""
    from core.errors import FundusError
    from core.training.trainer import scaled_param_groups

    cfg = tiny_config(tmp_path, steps=2, optim={"lr": 1e-3, "min_lr": 1e-3, "warmup_steps": 0,
                                                "lr_scale": {"stage3": 4.0, "stage3.detail": 10.0}})
    tr = _trainer(cfg)
    tr.run()
    by_scale = {g["lr_scale"]: g for g in tr.optimizer.param_groups}
    assert set(by_scale) == {1.0, 4.0, 10.0}
    assert by_scale[1.0]["lr"] == pytest.approx(1e-3) and by_scale[10.0]["lr"] == pytest.approx(1e-2)
    names = {id(p): n for n, p in tr.model.named_parameters()}
    assert all(names[id(p)].startswith("stage3.detail.") for p in by_scale[10.0]["params"])
    assert all(names[id(p)].startswith("stage3.") and not names[id(p)].startswith("stage3.detail.")
               for p in by_scale[4.0]["params"])
    assert sum(len(g["params"]) for g in tr.optimizer.param_groups) == len(list(tr.model.parameters()))
    with pytest.raises(FundusError, match="stage9"):
        scaled_param_groups(tr.model, {"stage9": 2.0})
    with pytest.raises(FundusError, match="positive"):
        scaled_param_groups(tr.model, {"stage3": 0.0})


def test_blob_terms_in_a_supervised_run_load_and_use_real_photos(tmp_path):
    """losses.blob_real makes a supervised run sample real patches (there is no teacher) and log both terms."""
    cfg = tiny_config(tmp_path, steps=3, losses={"blob": 10.0, "blob_real": 10.0})
    tr = Trainer(cfg, tiny_sources(3), tiny_sources(2, prefix="real"))
    assert tr.teacher is None and tr.real is not None and tr.real_ids == ["real/0", "real/1"]
    res = tr.run()
    assert res.step == 3 and {"blob", "blob_real"} <= set(res.last_losses)
    assert all(np.isfinite(res.last_losses[k]) and res.last_losses[k] >= 0 for k in ("blob", "blob_real"))
