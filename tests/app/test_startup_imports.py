"""Opening the GUI loads no torch: it loads on the worker thread when a model first runs.

Each check runs in a fresh interpreter, because this test process has torch loaded already.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "safetensors", "onnxruntime")


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import app.main_window",
        "import app.launcher",  # `fundus-studio` with no arguments: the CLI parser is built first
        "import core.cli; core.cli.build_parser()",
        "import core.batch",  # the batch tab: torch loads when a photo is enhanced or its vessels measured
    ],
)
def test_startup_leaves_torch_unimported(code: str):
    loaded = _modules_after(code)
    assert not loaded.intersection(HEAVY), f"{code!r} imported {sorted(loaded.intersection(HEAVY))}"


def test_the_check_sees_torch_when_it_is_imported():
    assert "torch" in _modules_after("import core.enhance")
