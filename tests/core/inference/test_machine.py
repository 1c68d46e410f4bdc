"""The CPU name lives in one module that both the AOT packages and the path selector key on."""

from core.inference import aot, machine, selector


def test_cpu_name_is_a_non_empty_string():
    name = machine.cpu_name()
    assert isinstance(name, str) and name


def test_aot_and_selector_key_on_the_same_cpu_name(monkeypatch):
    monkeypatch.setattr(aot, "cpu_name", lambda: "Test CPU A")
    a = aot.package_path("m", 512, False, 2)
    monkeypatch.setattr(aot, "cpu_name", lambda: "Test CPU B")
    assert aot.package_path("m", 512, False, 2) != a
    monkeypatch.setattr(selector, "cpu_name", lambda: "Test CPU A")
    assert selector.machine_descriptor("cpu")["cpu"] == "Test CPU A"
