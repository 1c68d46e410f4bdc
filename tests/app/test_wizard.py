"""The adaptation wizard end to end with a tiny model and synthetic photos: every page, pause, stop,
resume after closing, the worse-model guard, and no thread left behind."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtWidgets import QWizard

from app.main import create_app
from app.wizard import AdaptWizard
from core.models.registry import ModelRegistry
from tests.core.training.site_helpers import install_tiny, make_site

FAST = dict(patch=48, batch=1, real_batch=1, pool_size=3, threads=1, preview_every_s=0.0, warmup_steps=2)
NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton


@pytest.fixture
def make_wizard(qtbot, tmp_path):
    create_app([])
    made = []

    def make(**kw):
        # no shipped models: the tests see only what they install
        reg = ModelRegistry(shipped_dir=tmp_path / "no_shipped_models")
        w = AdaptWizard(runs_dir=tmp_path / "runs", segmenter=None, overrides=dict(FAST), registry=reg, **kw)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    from PySide6.QtCore import QCoreApplication, QEvent

    for w in made:
        w.shutdown()
        w.close()
        w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _to_training(qtbot, w, site, steps):
    w.next()
    assert w.currentId() == w.SITE and not w.button(NEXT).isEnabled()
    w.site.set_folder(str(site))
    qtbot.waitUntil(w.site.isComplete, timeout=30000)
    assert w.button(NEXT).isEnabled()
    w.next()
    assert w.currentId() == w.SETTINGS
    assert w.settings_page.name.text() == "MAGE-Net-tiny-site"
    assert w.settings_page.holdout.value() == 3  # 6 usable photos -> the CLI's rule: a fifth, at least 3
    w.settings_page.steps.setValue(steps)
    w.settings_page.holdout.setValue(2)
    w.button(COMMIT).click()  # "Start training"
    assert w.currentId() == w.TRAIN


def test_end_to_end(qtbot, make_wizard, tmp_path):
    install_tiny()
    make_site(tmp_path / "site", n=6)
    w = make_wizard()
    assert w.currentId() == w.WELCOME and w.button(NEXT).isEnabled()
    assert "never leave this computer" in w.welcome.privacy.text()
    _to_training(qtbot, w, tmp_path / "site", steps=4)
    assert not w.button(NEXT).isEnabled()
    qtbot.waitUntil(w.train_page.isComplete, timeout=60000)
    assert w.site.strip.count() == 6
    assert w.train_page.plot.points("loss") >= 1 and w.train_page.plot.points("anchor") >= 1
    assert all(t.has_image() for t in w.train_page.preview.tiles)
    assert "Training finished: 4 steps" in w.train_page.status.text()
    w.next()
    assert w.currentId() == w.RESULTS and not w.button(NEXT).isEnabled()
    qtbot.waitUntil(w.results.isComplete, timeout=60000)
    ev = w.state.evaluation
    assert w.results.table.rowCount() == len(ev.measures) == 6  # with the two do-no-harm measures
    assert ev.overall == "inconclusive" and "Inconclusive" in w.results.verdict.text()  # 2 held out
    assert w.results.table.item(0, 4).text().split()[-1] == ev.measures[0].verdict
    w.next()
    assert w.currentId() == w.SAVE
    assert w.save.activate.isChecked() == (not ev.needs_confirmation)
    w.save.version.setText("7")
    w.save.notes.setPlainText("test site")
    w.button(QWizard.WizardButton.FinishButton).click()
    installed = w.state.installed
    assert installed is not None and installed.ref == "MAGE-Net-tiny-site@7"
    assert installed.card.parent == "MAGE-Net-tiny@1" and installed.card.notes == "test site"
    assert installed.card.metrics["site_evaluation"]["verdict"] == ev.overall
    assert (ModelRegistry().active("enhancer").ref == installed.ref) == (not ev.needs_confirmation)


def test_too_few_photos_keeps_next_disabled(qtbot, make_wizard, tmp_path):
    install_tiny()
    make_site(tmp_path / "many", n=6)
    make_site(tmp_path / "few", n=2)
    w = make_wizard()
    w.next()
    w.site.set_folder(str(tmp_path / "many"))
    w.site.set_folder(str(tmp_path / "few"))  # a new choice replaces the running scan
    qtbot.waitUntil(lambda: w.state.scan is not None and not w.site.busy(), timeout=30000)
    assert not w.site.isComplete() and not w.button(NEXT).isEnabled()
    assert "at least" in w.site.message.text()
    assert w.state.scan.folder == str(tmp_path / "few") and w.site.strip.count() == 2


def test_no_model_installed(make_wizard):
    w = make_wizard()
    assert not w.button(NEXT).isEnabled()
    assert w.welcome.problem.isVisibleTo(w)


def test_pause_stop_resume_and_worse_guard(qtbot, make_wizard, tmp_path, monkeypatch):
    install_tiny()
    make_site(tmp_path / "site", n=6)
    w = make_wizard()
    _to_training(qtbot, w, tmp_path / "site", steps=6)
    page = w.train_page
    qtbot.waitUntil(lambda: page.last_update is not None and page.last_update.step >= 1, timeout=60000)
    page.pause_btn.setChecked(True)
    qtbot.waitUntil(lambda: page.last_update.paused, timeout=30000)
    paused_at = page.last_update.step
    qtbot.wait(300)
    assert page.last_update.step == paused_at  # nothing moves while paused
    monkeypatch.setattr(w, "confirm_close", lambda: True)
    w.close()  # stops the training (checkpoint kept) and waits for the thread
    assert not w.training_running()
    assert w.state.adaptation.status == "stopped"

    w2 = make_wizard()
    assert w2.welcome.resume_box.isVisibleTo(w2)
    w2.welcome.resume_box.setChecked(True)
    w2.next()
    assert w2.currentId() == w2.TRAIN  # site and settings pages are skipped
    qtbot.waitUntil(w2.train_page.isComplete, timeout=60000)
    assert w2.state.adaptation.manifest["last_step"] == 6
    w2.next()
    qtbot.waitUntil(w2.results.isComplete, timeout=60000)
    # the same page with an evaluation where one measure got worse
    ev = w2.state.evaluation
    first = dataclasses.replace(ev.measures[0], verdict="worse")
    w2.state.evaluation = dataclasses.replace(ev, measures=[first, *ev.measures[1:]])
    w2.next()
    assert not w2.save.activate.isChecked() and w2.save.warning.isVisibleTo(w2)
    w2.save.activate.setChecked(True)
    asked = []
    monkeypatch.setattr(w2.save, "confirm_worse", lambda: asked.append(1) or False)
    w2.button(QWizard.WizardButton.FinishButton).click()
    assert asked and w2.state.installed is not None and not w2.state.activated
    assert w2.state.installed.card.training["flagged_worse"] is True
    assert ModelRegistry().active("enhancer").ref == "MAGE-Net-tiny@1"
