"""Look of the application: system palette for panels, dark neutral grey around images.

The grey around a photo matters clinically: a neutral dark surround lets the eye adapt
to the photo rather than to bright chrome (as radiology and fundus review software do).
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

VIEWER_BG = "#262626"  # neutral: equal R, G and B, so it biases no colour judgement
STRIP_BG = "#1e1e1e"

# Vessel overlay colours (UI.md) are core.colours.COLOUR_*: the screen and the exported overlay agree.
DISCLAIMER_STYLE = "color: #b35c00; font-weight: 600;"
VERDICT_COLOURS = {"better": "#1b7f3b", "same": "#555555", "worse": "#b35c00"}
"""An adapted model against its starting model (wizard results, model manager)."""


def corner_label_style() -> str:
    return (
        "QLabel { color: rgba(255,255,255,215); background: rgba(0,0,0,120);"
        " border-radius: 3px; padding: 2px 7px; font-size: 11px; }"
    )


def apply_style(app: QApplication) -> None:
    """Fusion everywhere (consistent across Windows, macOS and Linux), system colours kept.

    Done once per application: re-styling a running application re-polishes every live
    widget, which is slow and (with widgets being torn down) can crash Qt.
    """
    if app.property("fundus_styled"):
        return
    app.setProperty("fundus_styled", True)
    app.setStyle("Fusion")
    font = app.font()
    if font.pointSizeF() < 9:
        font.setPointSizeF(9.0)
    app.setFont(font)
    pal = app.palette()
    # a calm selection colour that does not compete with the photo
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#2f6f9f"))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    app.setPalette(pal)
    app.setStyleSheet(
        """
        QDockWidget::title { padding: 4px 6px; font-weight: 600; }
        QGroupBox { font-weight: 600; margin-top: 14px; }
        QGroupBox::title { subcontrol-origin: margin; left: 6px; padding: 0 3px; }
        QToolBar { spacing: 2px; padding: 2px; }
        QToolButton { padding: 3px 6px; }
        QToolButton:checked { background: palette(highlight); color: palette(highlighted-text); border-radius: 3px; }
        QStatusBar QLabel { padding: 0 6px; }
        """
    )


def mono_font() -> QFont:
    f = QFont("DejaVu Sans Mono")
    f.setStyleHint(QFont.StyleHint.Monospace)
    return f
