"""The Qt-free session: choice, caches, jobs and callbacks, without a QApplication."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from app.callbacks import Callback
from app.session import ENHANCE_FIRST, NO_ENHANCER_FOR_VESSELS, NO_VESSEL_MODEL, LRU, Session


def image(name: str = "a.png", sha: str = "s1") -> SimpleNamespace:
    return SimpleNamespace(source_sha256=sha, source_path=Path(name), name=name)


def recorder(session: Session) -> list[tuple]:
    seen: list[tuple] = []
    for name in ("choice_changed", "models_changed", "image_changed", "result_changed", "vessels_changed",
                 "jobs_changed", "engine_choice_changed", "error"):
        getattr(session, name).connect(lambda *args, n=name: seen.append((n, *args)))
    return seen


def listed(session: Session, vessel: bool = False) -> None:
    session.set_models([("m@1", "M 1"), ("m@2", "M 2")], "m@1", vessel)


def test_importing_the_session_loads_no_qt():
    code = "import sys, app.session; print(any(m.startswith(('PySide6', 'shiboken6')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_callbacks_run_in_order_and_can_be_disconnected():
    cb, got = Callback(), []
    first, second = (lambda x: got.append(("a", x))), (lambda x: got.append(("b", x)))
    cb.connect(first)
    cb.connect(second)
    cb.emit(1)
    cb.disconnect(first)
    cb.emit(2)
    assert got == [("a", 1), ("b", 1), ("b", 2)]


def test_lru_keeps_the_most_recent():
    c = LRU(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.fetch("a") == 1  # a is now the most recent
    c.put("c", 3)
    assert list(c) == ["a", "c"] and c.fetch("b") is None


def test_model_listing_keeps_the_chosen_model_else_the_active_one():
    s = Session()
    seen = recorder(s)
    assert s.set_models([("m@1", "M 1"), ("m@2", "M 2")], "m@2", False) == "m@2"
    assert s.models_ready and s.model_title() == "M 2" and ("models_changed",) in seen
    s.set_choice(model_ref="m@1")
    assert s.set_models([("m@1", "M 1"), ("m@3", "M 3")], "m@3", True) == "m@1"  # still installed: kept
    assert s.set_models([("m@3", "M 3")], "gone@1", True) == "m@3"  # neither there: the first
    assert s.set_models([], None, False) is None and s.model_title() == "?"


def test_cache_key_follows_photo_and_choice_and_the_result_follows_the_key():
    s = Session()
    listed(s)
    seen = recorder(s)
    p = Path("a.png")
    assert s.select(p) is None  # not cached: the caller loads it
    assert s.image_loaded(p, image()) and s.image is not None
    key = s.cache_key()
    assert key == ("s1", "a.png", "m@1", "fast", "auto")
    assert s.store_result(key, "R") and s.result == "R"
    s.set_choice(mode="tiled")
    assert s.result is None and ("choice_changed",) in seen  # other settings: not cached
    s.set_choice(mode="fast")
    assert s.result == "R"  # back: from the cache
    n = len(seen)
    s.set_choice(mode="fast")
    assert len(seen) == n  # no change, no callbacks


def test_a_late_answer_is_cached_but_not_shown_for_another_photo():
    s = Session()
    listed(s)
    s.image_loaded(Path("a.png"), image("a.png", "s1"))
    s.select(Path("a.png"))
    old_key = s.cache_key()
    s.select(Path("b.png"))
    assert not s.image_loaded(Path("a.png"), image("a.png", "s1"))  # loaded, but b is current
    s.image_loaded(Path("b.png"), image("b.png", "s2"))
    assert not s.store_result(old_key, "RA") and s.result is None
    assert s.select(Path("a.png")) is not None  # cached photo: shown at once
    assert s.result == "RA"


def test_jobs_are_tagged_with_their_key_and_end_once():
    s = Session()
    listed(s, vessel=True)
    seen = recorder(s)
    s.image_loaded(Path("a.png"), image())
    s.select(Path("a.png"))
    job = s.add_job(7, "enhance")
    assert job.path == Path("a.png") and job.key == s.cache_key() and s.busy
    assert s.running("enhance") and not s.running("vessels")
    assert not s.running("enhance", ("other",))
    assert s.finish_job(7) == job and s.finish_job(7) is None and not s.busy
    assert seen.count(("jobs_changed",)) == 3
    s.add_job(8, "vessels")
    s.vessels_unavailable("The vessel model could not be loaded.")
    assert not s.jobs and not s.vessel_model_available
    assert s.vessel_notice() == "The vessel model could not be loaded."


def test_vessels_are_shown_only_for_the_result_they_were_computed_for():
    s = Session()
    listed(s, vessel=True)
    s.image_loaded(Path("a.png"), image())
    s.select(Path("a.png"))
    key = s.cache_key()
    assert s.vessel_notice() == ENHANCE_FIRST and not s.can_compare_vessels
    assert s.can_enhance and not s.can_export
    s.store_result(key, "R")
    assert s.can_export and s.can_compare_vessels and s.vessel_notice() == ""
    assert s.store_vessels(key, "V") and s.vessel_payload == "V"
    s.set_choice(device="cpu")
    assert s.vessel_payload is None and not s.store_vessels(key, "V2")
    s.set_choice(device="auto")
    assert s.result == "R" and s.vessel_payload == "V2"  # the late comparison was cached for it


def test_vessel_notices_say_why_not():
    s = Session()
    assert s.vessel_notice() == NO_VESSEL_MODEL
    s.set_models([], None, True)
    assert s.vessel_notice() == NO_ENHANCER_FOR_VESSELS


def test_engine_choice_changes_are_told_once():
    s = Session()
    listed(s)
    seen = recorder(s)
    assert s.ask_engine() == ("m@1", "auto")
    assert s.ask_engine() == ("m@1", "auto")
    s.set_choice(model_ref="m@2")
    s.ask_engine()
    assert seen.count(("engine_choice_changed",)) == 2 and s.engine_choice == ("m@2", "auto")


def test_clearing_and_errors():
    s = Session()
    seen = recorder(s)
    s.image_loaded(Path("a.png"), image())
    s.select(Path("a.png"))
    s.forget(Path("a.png"))
    assert s.select(None) is None and s.path is None and s.image is None
    assert seen[-1] == ("image_changed", None)
    s.fail("broken")
    assert s.last_error == "broken" and seen[-1] == ("error", "broken")
