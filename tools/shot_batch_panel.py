"""Show the batch panel working on the bundled sample photos (for screenshots and a visual check).

    ../shared/tools/xshot docs/images/batch_panel_full.png 19 -- .venv/bin/python tools/shot_batch_panel.py

A slowed-down stand-in model keeps some photos waiting and one enhancing when the shot is
taken (SHOT_DELAY seconds per photo, default 2.5). Everything lives in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TMP = Path(tempfile.mkdtemp(prefix="batch-shot-"))
os.environ["FUNDUS_STUDIO_HOME"] = str(TMP / "home")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow  # noqa: E402

from app.batch_panel import BatchPanel  # noqa: E402
from app.style import VIEWER_BG, apply_style  # noqa: E402
from core.batch import BatchQueue, Measurer  # noqa: E402
from core.enhance import EnhanceSettings, Enhancer  # noqa: E402
from tests.core.batch.helpers import Card, GainModel  # noqa: E402

NAMES = ["2024-03-11/patient_0412_OD", "2024-03-11/patient_0412_OS", "2024-03-11/patient_0415_OD",
         "2024-03-12/patient_0420_OD", "2024-03-12/patient_0420_OS", "2024-03-12/patient_0421_OS",
         "2024-03-12/patient_0422_OD", "2024-03-13/patient_0430_OD", "2024-03-13/patient_0431_OS",
         "2024-03-13/patient_0433_OD", "2024-03-13/patient_0434_OS"]


class SlowGain(GainModel):
    def forward(self, x, fov=None):
        time.sleep(float(os.environ.get("SHOT_DELAY", "2.5")))
        return super().forward(x, fov)


def main() -> int:
    src = TMP / "clinic"
    samples = sorted((REPO / "resources" / "samples").glob("*.jpg")) + sorted(
        (REPO / "resources" / "samples").glob("*.png"))
    for i, name in enumerate(NAMES):
        sample = samples[i % len(samples)]
        dest = (src / name).with_suffix(sample.suffix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, dest)
    (src / "2024-03-12" / "scan_notes.jpg").write_text("not a photo")
    app = QApplication([])
    apply_style(app)
    win = QMainWindow()
    win.setWindowTitle("Fundus Studio: batch panel")
    panel = BatchPanel(queue=BatchQueue(), measurer_factory=lambda vessels: Measurer(), enhancer_factory=lambda mode: Enhancer.from_module(
        SlowGain(), card=Card("MAGE-Net-S", "1.0"), settings=EnhanceSettings(working_size=128)))
    dock = QDockWidget("Batch", win)
    dock.setWidget(panel)
    win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    win.setCentralWidget(QLabel(""))
    win.centralWidget().setStyleSheet(f"background: {VIEWER_BG}")
    win.resize(1400, 900)
    win.show()
    dock.setMinimumHeight(700)
    panel.output_edit.setText(str(TMP / "enhanced"))
    panel.add_inputs([str(src)])
    rc = app.exec()
    panel.shutdown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
