"""Contact sheets: layout, mixed inputs, labels drawn, PNG written."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.errors import OutputError
from core.evaluation.contact_sheet import make_contact_sheet, save_png, to_uint8_rgb


def test_layout_and_mixed_inputs(tmp_path):
    f = np.full((50, 80, 3), 0.5, np.float32)
    u8 = np.full((30, 30, 3), 200, np.uint8)
    u16 = np.full((40, 40, 3), 65535, np.uint16)
    gray = np.zeros((20, 20), np.float32)
    rows = [[f, u8, u16], [gray, None]]
    sheet = make_contact_sheet(rows, ["row a", "row b"], ["c1", "c2", "c3"], cell=64)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3
    label_w = max(90, int(64 * 0.55))
    assert sheet.shape[1] == label_w + 3 * (64 + 4) + 4
    # the u16 white cell is white in the first row, third column; the None cell stays background
    head = sheet.shape[0] - 2 * (64 + 4) - 4
    y = head + 4 + 32
    x3 = label_w + 4 + 2 * (64 + 4) + 32
    assert tuple(sheet[y, x3]) == (255, 255, 255)
    x2_row2 = label_w + 4 + 1 * (64 + 4) + 32
    assert tuple(sheet[y + 64 + 4, x2_row2]) == (24, 24, 24)
    # labels drew something bright in the header and the label column
    assert sheet[:head].max() > 150
    assert sheet[:, :label_w].max() > 150
    out = tmp_path / "s.png"
    save_png(out, sheet)
    back = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, sheet)


def test_aspect_kept():
    wide = np.ones((10, 100, 3), np.float32)
    sheet = make_contact_sheet([[wide]], cell=100)
    cell = sheet[4:104, 4:104]
    assert cell[50, 50].max() == 255 and cell[2, 50].max() < 100  # letterboxed


def test_errors(tmp_path):
    with pytest.raises(ValueError):
        make_contact_sheet([])
    with pytest.raises(OutputError):
        save_png(tmp_path / "missing_dir" / "x.png", np.zeros((4, 4, 3), np.uint8))
    assert to_uint8_rgb(np.ones((2, 2, 4), np.float32)).shape == (2, 2, 3)
