"""Site adaptation: split, anchored training, exact resume after a stop, pause, install and activation rules."""

from __future__ import annotations

import threading

import pytest
import torch

from core.errors import Cancelled, FundusError
from core.models.registry import ModelRegistry
from core.training.site_adapt import SiteAdaptation, holdout_count, plan_split, too_few_photos, unfinished_runs
from core.training.site_scan import ScannedImage, SiteScan, scan_site
from tests.core.training.site_helpers import install_tiny, make_site, tiny_settings


@pytest.fixture
def site_scan(tmp_path):
    make_site(tmp_path / "site", n=6)
    return scan_site(tmp_path / "site")


def _fake_scan(n: int) -> SiteScan:
    ims = [ScannedImage(f"/s/{i}.png", "x", 1, 1, 1.0, 0.5, {}, quality=1 - i / n) for i in range(n)]
    return SiteScan("/s", n, ims, [])


def test_plan_split_spreads_holdout_over_ranking():
    plan = plan_split(_fake_scan(20), holdout=4, best_fraction=0.5)
    held = [int(im.path.split("/")[-1][:-4]) for im in plan.holdout]
    assert len(held) == 4 and held[0] < 5 and held[-1] >= 15  # good and bad photos both checked
    assert not set(im.path for im in plan.train) & set(im.path for im in plan.holdout)
    assert len(plan.train) == 16 and len(plan.best) == 8
    assert plan.best == plan.train[:8]  # the best photos give the synthetic pairs
    assert plan.preview in plan.holdout
    with pytest.raises(FundusError, match="at least"):
        plan_split(_fake_scan(8), holdout=6)  # an explicit hold-out must leave 3 to train on


def test_one_hold_out_rule_about_a_fifth_at_least_three():
    assert [holdout_count(n) for n in (6, 10, 14, 15, 20, 23, 50, 100)] == [3, 3, 3, 3, 4, 5, 10, 20]
    for n in (6, 10, 40):
        plan = plan_split(_fake_scan(n))  # no explicit hold-out: the rule
        assert len(plan.holdout) == holdout_count(n) and len(plan.train) == n - holdout_count(n)
    assert too_few_photos(6) is None
    for n in (0, 1, 5):
        msg = too_few_photos(n)
        assert msg is not None and f"Only {n} usable" in msg and "at least 6" in msg
        with pytest.raises(FundusError, match=f"Only {n} usable photo.*at least 6"):
            plan_split(_fake_scan(n), holdout=1)  # refused whatever the hold-out


def test_train_install_and_card(site_scan):
    start = install_tiny()
    run = SiteAdaptation.create(site_scan, tiny_settings(steps=4), start=start)
    updates, previews = [], []
    result = run.train(on_update=updates.append, on_preview=previews.append)
    assert result.status == "finished" and result.step == 4
    assert "anchor" in updates[-1].losses and updates[-1].losses["anchor"] >= 0
    assert "anchor_structure" in updates[-1].losses
    assert updates[-1].fraction == 1.0
    assert len(previews) == 2 and previews[0].original.shape == previews[-1].adapted.shape
    assert run.status == "trained"
    adapted = run.adapted_module()
    start_sd = run.starting_module().state_dict()
    assert any(not torch.equal(v, start_sd[k]) for k, v in adapted.state_dict().items())
    installed, activated = run.install("tiny-site", notes="clinic A")
    assert not activated and installed.card.parent == "MAGE-Net-tiny@1" and installed.card.version == "1"
    assert installed.card.training["data"]["holdout_photos"] == 2
    assert installed.card.training["steps"] == 4
    reg = ModelRegistry()
    assert reg.active("enhancer").ref == "MAGE-Net-tiny@1"
    reg.load(reg.get("tiny-site@1"))  # the card rebuilds the network and the hash matches


def test_anchor_can_be_switched_off(site_scan):
    run = SiteAdaptation.create(site_scan, tiny_settings(steps=2, anchor_weight=0.0), start=install_tiny())
    updates = []
    run.train(on_update=updates.append)
    assert "anchor" not in updates[-1].losses


def test_stop_then_resume_equals_straight_run(site_scan, tmp_path):
    start = install_tiny()
    straight = SiteAdaptation.create(site_scan, tiny_settings(steps=5), run_dir=tmp_path / "a", start=start)
    straight.train()
    stopped = SiteAdaptation.create(site_scan, tiny_settings(steps=5), run_dir=tmp_path / "b", start=start)
    n = [0]

    def stop_after_two() -> bool:
        n[0] += 1
        return n[0] > 2

    with pytest.raises(Cancelled):
        stopped.train(should_stop=stop_after_two)
    assert stopped.status == "stopped" and stopped.checkpoint_path.exists()
    assert unfinished_runs(tmp_path) == [tmp_path / "b"]
    again = SiteAdaptation.open(tmp_path / "b")  # as after an app restart
    assert again.progress_summary()["step"] >= 2
    result = again.train()
    assert result.step == 5
    a, b = straight.adapted_module().state_dict(), again.adapted_module().state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert unfinished_runs(tmp_path) == []


def test_pause_waits_between_steps(site_scan):
    run = SiteAdaptation.create(site_scan, tiny_settings(steps=3), start=install_tiny())
    pause = threading.Event()
    seen = []

    def on_update(u):
        seen.append(u)
        if u.step == 1 and not u.paused:
            pause.set()
            threading.Timer(0.4, pause.clear).start()

    run.train(on_update=on_update, pause=pause)
    paused = [u for u in seen if u.paused]
    assert paused and paused[0].step == 1
    assert seen[-1].step == 3 and not seen[-1].paused


def test_worse_model_is_not_activated(site_scan):
    run = SiteAdaptation.create(site_scan, tiny_settings(steps=1), start=install_tiny())
    run.train()

    class Worse:
        worse = True

        def to_dict(self):
            return {"verdict": "worse"}

    installed, activated = run.install("tiny-site", evaluation=Worse(), activate=True)
    assert not activated and installed.card.training["flagged_worse"] is True
    assert ModelRegistry().active("enhancer").ref == "MAGE-Net-tiny@1"
    installed2, activated2 = run.install("tiny-site", evaluation=Worse(), activate=True, allow_worse=True)
    assert activated2 and installed2.card.version == "2"
    assert ModelRegistry().active("enhancer").ref == "tiny-site@2"


def test_existing_run_folder_is_not_overwritten(site_scan, tmp_path):
    start = install_tiny()
    SiteAdaptation.create(site_scan, tiny_settings(), run_dir=tmp_path / "r", start=start)
    with pytest.raises(FundusError, match="already exists"):
        SiteAdaptation.create(site_scan, tiny_settings(), run_dir=tmp_path / "r", start=start)
