"""Guards against a Qt binding that corrupts Python reference counts while painting.

PySide6 6.12.0 on Python 3.11 drops a reference to None on every widget paint, which
aborts the application after a few thousand repaints ("deallocating None"). The
application pins a version without that fault; this test fails if the pin regresses.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QWidget


def test_painting_does_not_leak_references_to_none(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    w.resize(50, 50)
    w.show()
    app = QApplication.instance()
    for _ in range(5):
        w.update()
        app.processEvents()
    before = sys.getrefcount(None)
    for _ in range(200):
        w.update()
        app.processEvents()
    after = sys.getrefcount(None)
    assert after >= before - 20, f"None lost {before - after} references in 200 paints"
