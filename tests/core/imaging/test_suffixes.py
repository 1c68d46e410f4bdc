"""One suffix list and one folder walker: the GUI, batch, `enhance` and the site scan find the same photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.batch.inputs import collect_inputs
from core.commands import enhance as enhance_command
from core.imaging.suffixes import DICOM_SUFFIXES, IMAGE_SUFFIXES, find_photos, is_photo_name, name_patterns
from core.training.site_scan import list_image_files


def _tree(root: Path) -> None:
    for rel in ("a.png", "b.JPG", "c.dic", "d.dcm", "e.tif", "notes.txt", "a.png.json", ".hidden.png",
                "sub/f.jpeg", "sub/deeper/g.bmp", ".cache/h.png", "out/i.png"):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    (root / "folder.png").mkdir()  # a folder with a photo's name is not a photo


def test_the_one_list_has_dicom_by_every_suffix_the_reader_accepts():
    assert {".dcm", ".dicom", ".dic"} == DICOM_SUFFIXES <= IMAGE_SUFFIXES
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"} <= IMAGE_SUFFIXES
    assert is_photo_name("X.DIC") and not is_photo_name(".x.png") and not is_photo_name("x.json")
    assert name_patterns().split() == sorted(f"*{s}" for s in IMAGE_SUFFIXES)


def test_find_photos_recursive_include_exclude(tmp_path):
    _tree(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in find_photos(tmp_path)]
    assert names == ["a.png", "b.JPG", "c.dic", "d.dcm", "e.tif", "out/i.png", "sub/deeper/g.bmp", "sub/f.jpeg"]
    top = [p.name for p in find_photos(tmp_path, recursive=False)]
    assert top == ["a.png", "b.JPG", "c.dic", "d.dcm", "e.tif"]
    assert [p.name for p in find_photos(tmp_path, include=["*.jpg", "*.JPEG"])] == ["b.JPG", "f.jpeg"]
    kept = [p.relative_to(tmp_path).as_posix() for p in find_photos(tmp_path, exclude=[tmp_path / "out", tmp_path / "sub"])]
    assert kept == ["a.png", "b.JPG", "c.dic", "d.dcm", "e.tif"]


def test_batch_enhance_and_site_scan_walk_folders_alike(tmp_path):
    _tree(tmp_path)
    expected = find_photos(tmp_path)
    assert [it.path for it in collect_inputs([tmp_path])] == expected
    assert enhance_command.collect_inputs([str(tmp_path)]) == expected
    assert list_image_files(tmp_path) == expected
    assert [it.path for it in collect_inputs([tmp_path], recursive=False)] == find_photos(tmp_path, recursive=False)


def test_enhance_command_choices_come_from_core():
    from core.choices import DEVICE_PREFERENCES, MODES

    parser = argparse.ArgumentParser()
    enhance_command.register(parser.add_subparsers())
    actions = {a.dest: a for a in parser._subparsers._group_actions[0].choices["enhance"]._actions}
    assert tuple(actions["device"].choices) == DEVICE_PREFERENCES and tuple(actions["mode"].choices) == MODES


def test_enhance_and_batch_name_their_outputs_alike(tmp_path):
    from core.batch.inputs import BatchInput, plan_outputs

    src = tmp_path / "eye.dic"
    for fmt, depth, suffix in (("auto", 16, ".tif"), ("auto", 8, ".png"), ("jpg", 8, ".jpg")):
        one = enhance_command.output_path(tmp_path / "out", src, depth, fmt)
        assert one == tmp_path / "out" / f"eye_enhanced{suffix}"
    assert plan_outputs([BatchInput(src, None, Path(src.name))], tmp_path / "out", "png")[0] == \
        enhance_command.output_path(tmp_path / "out", src, 8, "png")
