"""core.provenance: hashes, the provenance record, atomic sidecars."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import core
from core.errors import OutputError
from core.provenance import (
    atomic_write_bytes,
    build_provenance,
    sha256_bytes,
    sha256_file,
    sidecar_path_for,
    write_sidecar,
)


def test_sha256_bytes_and_file_agree_with_hashlib(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (3 << 20) + 17, dtype=np.uint8).tobytes()  # > chunk size
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_bytes(data) == expected
    assert sha256_file(path) == expected
    assert sha256_file(str(path)) == expected
    assert sha256_bytes(b"") == hashlib.sha256(b"").hexdigest()


def test_build_provenance_records_versions_and_time(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    model = {"name": "mage", "version": "2.1", "weights_sha256": "f" * 64}
    prov = build_provenance(
        input_sha256="a" * 64,
        input_path=tmp_path / "eye.jpg",
        model=model,
        device="cuda:0",
        parameters={"mode": "tiled", "tile": 768},
        extra={"fov": {"radius": 1000}},
    )
    assert prov["software"] == {"name": "Fundus Studio", "version": core.__version__}
    assert prov["disclaimer"] == core.DISCLAIMER
    assert prov["environment"]["python"] == platform.python_version()
    assert prov["environment"]["torch"] == metadata.version("torch")
    assert prov["environment"]["numpy"] == np.__version__
    created = datetime.fromisoformat(prov["created_utc"])
    assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0
    assert before <= created <= datetime.now(timezone.utc)
    assert prov["input"] == {"path": str(tmp_path / "eye.jpg"), "name": "eye.jpg", "sha256": "a" * 64}
    assert prov["model"] == model and prov["model"] is not model  # a copy: later edits do not leak in
    assert prov["device"] == "cuda:0"
    assert prov["parameters"] == {"mode": "tiled", "tile": 768}
    assert prov["extra"] == {"fov": {"radius": 1000}}
    json.dumps(prov)  # plain JSON


def test_build_provenance_without_model_or_input():
    prov = build_provenance(input_sha256=None, input_path=None, model=None, device=None, parameters={})
    assert prov["model"] is None and prov["input"]["path"] is None and "extra" not in prov


def test_sidecar_path_keeps_full_name():
    assert sidecar_path_for("/x/out.png") == Path("/x/out.png.json")
    assert sidecar_path_for(Path("a.b.tif")) == Path("a.b.tif.json")


def test_write_sidecar_adds_output_hash(tmp_path):
    out = tmp_path / "result.png"
    out.write_bytes(b"pretend image")
    prov = build_provenance(
        input_sha256="b" * 64,
        input_path="in.png",
        model=None,
        device="cpu",
        parameters={"gain": np.float32(1.5), "size": np.int32(3), "where": tmp_path, "dims": (1, 2)},
    )
    digest = sha256_file(out)
    side = write_sidecar(out, prov, digest)
    assert side == tmp_path / "result.png.json"
    record = json.loads(side.read_text(encoding="utf-8"))
    assert record["output"] == {"name": "result.png", "sha256": digest}
    assert record["parameters"] == {"gain": 1.5, "size": 3, "where": str(tmp_path), "dims": [1, 2]}
    assert "output" not in prov  # the caller's dict is not changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png", "result.png.json"]


def test_write_sidecar_rejects_unserialisable(tmp_path):
    prov = {"parameters": {"thing": object()}}
    with pytest.raises(OutputError, match="processing record"):
        write_sidecar(tmp_path / "o.png", prov, "0" * 64)
    prov = {"parameters": {"nan": float("nan")}}
    with pytest.raises(OutputError):
        write_sidecar(tmp_path / "o.png", prov, "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        atomic_write_bytes(target, b"three")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_write_refuses_folder_target(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match="folder"):
        atomic_write_bytes(tmp_path / "dir.png", b"x")
