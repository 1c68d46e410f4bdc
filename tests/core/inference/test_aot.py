"""AOTInductor packages: built once on request, loaded by later processes, joined to the automatic choice."""

from __future__ import annotations

import pytest
import torch

from core.inference import aot, make_backend, psnr_db, select_backend
from core.inference.backends import find_compiler
from core.inference.graph import module_fingerprint
from core.inference.sample import synthetic_input
from core.models.magenet import MageNet, MageNetConfig
from tests.synthetic import TINY_MAGENET, tiny_magenet_with_live_head

SIZE = 64


def tiny() -> MageNet:
    torch.manual_seed(3)
    return MageNet(MageNetConfig.from_dict(TINY_MAGENET)).eval()


def test_package_names_separate_every_setting_that_changes_the_code():
    base = aot.package_path("abc" * 10, 512, True, 2)
    others = {
        aot.package_path("abd" * 10, 512, True, 2),
        aot.package_path("abc" * 10, 384, True, 2),
        aot.package_path("abc" * 10, 512, False, 2),
        aot.package_path("abc" * 10, 512, True, 1),
    }
    assert base not in others and len(others) == 4
    assert torch.__version__.split("+")[0] in base.name


def test_missing_package_is_not_built_unless_asked():
    net = tiny()
    backend = make_backend("aot", threads=1, model_key="k" * 24)
    assert backend.available() is None
    with pytest.raises(aot.PackageMissing, match="fundus-studio optimise"):
        backend.prepare(net, SIZE)
    assert aot.built_packages("k" * 24, SIZE) == {}


def test_selection_reports_a_requested_but_unbuilt_package_as_unavailable():
    net = tiny()
    x, m = synthetic_input(SIZE)
    choice = select_backend(net, x, m, candidates=["eager", "aot"], use_cache=False, repeats=1)
    notes = {meas.path: meas.note for meas in choice.measurements}
    assert notes["aot"].startswith("not available: not compiled for this computer")
    assert choice.name == "eager"


@pytest.mark.slow
@pytest.mark.skipif(find_compiler() is None, reason="no C++ compiler: AOT packages cannot be built here")
@pytest.mark.parametrize("make", [tiny, tiny_magenet_with_live_head], ids=["plain", "colour-head"])
def test_built_package_is_faithful_reloaded_and_joins_the_automatic_choice(make):
    net = make()
    key = module_fingerprint(net)
    x, m = synthetic_input(SIZE)
    builder = make_backend("aot", threads=1, model_key=key, build=True)
    builder.prepare(net, SIZE)
    assert builder.built_now and builder.package is not None and builder.package.exists()
    assert aot.built_packages(key, SIZE) == {"aot": [1]}

    eager = make_backend("eager")
    eager.prepare(net, SIZE)
    reference = eager(x, m)
    loaded = make_backend("aot", threads=1, model_key=key)  # as a later process: load only
    loaded.prepare(net, SIZE)
    assert not loaded.built_now
    assert psnr_db(loaded(x, m), reference, m) >= 45.0

    choice = select_backend(net, x, m, use_cache=False, repeats=1)  # automatic candidates
    built = [meas for meas in choice.measurements if meas.path == "aot" and meas.threads == 1]
    assert len(built) == 1 and built[0].ok and built[0].psnr_db >= 45.0
    for other in (meas for meas in choice.measurements if meas.path == "aot" and meas.threads != 1):
        assert other.note.startswith("not available: not compiled")  # other thread counts: not built

    builder.package.write_bytes(b"damaged")  # a damaged package is removed, not loaded forever
    with pytest.raises(Exception):  # noqa: B017 - whatever the loader raises, the package must go
        make_backend("aot", threads=1, model_key=key).prepare(net, SIZE)
    assert not builder.package.exists()


def test_optimise_without_a_compiler_says_so_and_changes_nothing(monkeypatch, capsys):
    from core.cli import main

    monkeypatch.setattr("core.inference.aot.find_compiler", lambda: None)
    assert main(["optimise"]) == 2
    assert "no C++ compiler (g++ or clang++) was found" in capsys.readouterr().err
    assert not any(aot.package_dir().glob("*.pt2"))


def test_the_installed_application_says_it_cannot_compile(monkeypatch, capsys):
    import sys

    from core.cli import main

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert main(["optimise"]) == 2
    assert "the installed application cannot compile" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="cannot compile the model here"):
        aot.build_package(tiny(), SIZE, False, 1, aot.package_path("x", SIZE, False, 1))


def test_optimise_clear_removes_packages(capsys):
    from core.cli import main

    folder = aot.package_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a-512-bf16-t2-torch-cpu.pt2").write_bytes(b"x")
    (folder / "b-384-fp32-t1-torch-cpu.pt2").write_bytes(b"x")
    assert main(["optimise", "--clear"]) == 0
    assert "Removed 2 compiled package(s)" in capsys.readouterr().out
    assert not any(folder.glob("*.pt2"))
