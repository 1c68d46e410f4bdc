"""Input collection, mirrored output paths, and the refusal to write among the originals."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.batch.inputs import check_outputs_outside_inputs, collect_inputs, plan_outputs
from core.errors import OutputError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folders_are_searched_recursively_with_include_patterns(tmp_path):
    root = tmp_path / "in"
    touch(root / "a" / "1_h.jpg")
    touch(root / "a" / "1_h.jpg.json")  # a sidecar: never an input
    touch(root / "b" / "c" / "2_g.TIF")
    touch(root / ".hidden" / "3.png")
    touch(root / "notes.txt")
    found = collect_inputs([root])
    assert [str(f.relative) for f in found] == ["a/1_h.jpg", "b/c/2_g.TIF"]
    assert [f.path.name for f in collect_inputs([root], include=["*_g.*"])] == ["2_g.TIF"]
    assert [f.path.name for f in collect_inputs([root], recursive=False)] == []
    assert collect_inputs([root], exclude_dirs=[root / "b"])[0].path.name == "1_h.jpg"


def test_outputs_mirror_sub_folders_and_never_collide(tmp_path):
    root = tmp_path / "in"
    files = [touch(root / "v1" / "eye.jpg"), touch(root / "v1" / "eye.tif"), touch(root / "v2" / "eye.jpg")]
    single = touch(tmp_path / "loose" / "other.png")
    items = collect_inputs([root, single])
    outs = plan_outputs(items, tmp_path / "out", "png")
    rel = sorted(str(o.relative_to(tmp_path / "out")) for o in outs)
    assert rel == ["other_enhanced.png", "v1/eye_jpg_enhanced.png", "v1/eye_tif_enhanced.png",
                   "v2/eye_enhanced.png"]
    assert len(files) == 3


def test_several_folders_keep_their_own_top_folder(tmp_path):
    a, b = touch(tmp_path / "siteA" / "x.png"), touch(tmp_path / "siteB" / "x.png")
    outs = plan_outputs(collect_inputs([a.parent, b.parent]), tmp_path / "out", "auto")
    assert sorted(str(o.relative_to(tmp_path / "out")) for o in outs) == ["siteA/x_enhanced.png",
                                                                         "siteB/x_enhanced.png"]


def test_output_inside_the_input_tree_is_refused_unless_allowed(tmp_path):
    root = tmp_path / "in"
    touch(root / "sub" / "p.png")
    items = collect_inputs([root])
    inside = plan_outputs(items, root / "enhanced", "png")
    with pytest.raises(OutputError, match="inside the folder of the original photos"):
        check_outputs_outside_inputs(items, inside)
    check_outputs_outside_inputs(items, inside, allow_inside=True)
    check_outputs_outside_inputs(items, plan_outputs(items, tmp_path / "out", "png"))
    loose = collect_inputs([root / "sub" / "p.png"])  # a file given directly: its folder is protected
    with pytest.raises(OutputError):
        check_outputs_outside_inputs(loose, plan_outputs(loose, root / "sub", "png"))


def test_same_file_name_given_from_two_places_is_numbered(tmp_path):
    from core.batch import BatchQueue, batch_settings, enqueue  # noqa: PLC0415

    a, b = touch(tmp_path / "x" / "eye.png"), touch(tmp_path / "y" / "eye.png")
    q = BatchQueue()
    bid, _ = enqueue(q, [a, b], tmp_path / "out", batch_settings("fast", "png"))
    assert [j.output_path.rsplit("/", 1)[1] for j in q.jobs(bid)] == ["eye_enhanced.png", "eye_enhanced-2.png"]
