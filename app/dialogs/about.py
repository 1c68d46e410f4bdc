"""About box: version, disclaimer, the active model's card, sample photo credit."""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout

from core import DISCLAIMER, __version__

SAMPLE_CREDIT = (
    "Sample photograph: \u201cFundus photograph of normal left eye\u201d by Mikael H\u00e4ggstr\u00f6m, "
    "Wikimedia Commons, released under CC0 1.0 (public domain). The other samples are synthetic "
    "degradations of it made by Fundus Studio's degradation model."
)


def card_html(card: Any) -> str:
    """A model card as readable HTML (name, version, training data, metrics, licence, notes)."""
    if card is None:
        return "<p><i>No enhancement model is installed.</i></p>"
    d = card.to_dict() if hasattr(card, "to_dict") else dict(card)
    rows = []
    for key in ("name", "version", "kind", "architecture", "created", "parent", "license", "sha256"):
        if d.get(key):
            rows.append(f"<tr><td><b>{key}</b></td><td>{html.escape(str(d[key]))}</td></tr>")
    for key in ("training", "metrics"):
        if d.get(key):
            text = html.escape(json.dumps(d[key], indent=1)[:1500])
            rows.append(f"<tr><td><b>{key}</b></td><td><pre style='margin:0'>{text}</pre></td></tr>")
    if d.get("data_sources"):
        rows.append(f"<tr><td><b>data</b></td><td>{html.escape(', '.join(map(str, d['data_sources'])))}</td></tr>")
    if d.get("notes"):
        rows.append(f"<tr><td><b>notes</b></td><td>{html.escape(str(d['notes']))}</td></tr>")
    return "<table cellspacing=4>" + "".join(rows) + "</table>"


class AboutDialog(QDialog):
    def __init__(self, card: Any = None, device_label: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Fundus Studio")
        lay = QVBoxLayout(self)
        head = QLabel(
            f"<h2 style='margin-bottom:2px'>Fundus Studio {__version__}</h2>"
            "<p>Enhancement of retinal fundus photographs with MAGE-Net, before/after and vessel comparison."
            " Everything runs on this computer; no image leaves it.</p>"
            f"<p style='color:#b35c00'><b>{DISCLAIMER}.</b> Enhanced images can show structure that is not"
            " in the original photograph and can hide structure that is. Always review the original.</p>"
        )
        head.setWordWrap(True)
        lay.addWidget(head)
        body = QTextBrowser()
        body.setOpenExternalLinks(False)
        body.setHtml(
            "<h3>Active enhancement model</h3>"
            + card_html(card)
            + (f"<p><b>Device:</b> {html.escape(device_label)}</p>" if device_label else "")
            + f"<h3>Credits</h3><p>{html.escape(SAMPLE_CREDIT)}</p>"
            "<p>Built with PySide6 (Qt), pyqtgraph, PyTorch, NumPy and OpenCV.</p>"
        )
        lay.addWidget(body, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.body = body
        self.resize(560, 520)
