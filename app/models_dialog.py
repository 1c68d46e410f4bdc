"""Model manager: installed versions with their model cards; set active, roll back, delete, export, import.

Everything goes through core.models.registry (hash-checked safetensors + card), so
the dialog only decides what to ask the user. A site-adapted model that got worse
in its evaluation carries a flag, shown here, and needs a confirmation to become
active. "Roll back" makes the active model's parent (the model it was adapted
from) active again.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from app.style import VERDICT_COLOURS
from core.errors import FundusError

KIND_TITLES = {"enhancer": "Enhancement models", "vessel": "Vessel models"}


def is_flagged(card: Any) -> bool:
    """True when the model's own site evaluation found it worse than its starting model."""
    ev = (card.metrics or {}).get("site_evaluation") or {}
    return bool((card.training or {}).get("flagged_worse")) or ev.get("verdict") == "worse"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def card_details_html(installed: Any, active: bool) -> str:
    """The card as a readable page: identity, origin, parent, data summary, measures, notes."""
    c = installed.card
    rows = [("Name", c.name), ("Version", c.version), ("Kind", c.kind), ("Architecture", c.architecture),
            ("Created", c.created.replace("T", " ")[:19] if c.created else "unknown"),
            ("Parent model", c.parent or "none (trained from scratch)"),
            ("Origin", "shipped with Fundus Studio" if installed.origin == "shipped" else "installed on this computer"),
            ("Status", "active" if active else "not active")]
    n = installed.parameter_count()
    if n:
        rows.append(("Parameters", f"{n / 1e6:.2f} M"))
    if c.sha256:
        rows.append(("SHA-256", c.sha256[:16] + "\u2026"))
    out = []
    if is_flagged(c):
        out.append("<p style='background:#fff4e5; border-left:4px solid #b35c00; padding:6px; color:#222'>"
                   "<b>Flagged:</b> in its own evaluation this model was worse than its starting model on at least "
                   "one measure.</p>")
    out.append("<table cellspacing=3>" + "".join(
        f"<tr><td style='color:#555; padding-right:10px'>{k}</td><td>{_fmt(v)}</td></tr>" for k, v in rows) + "</table>")
    t = c.training or {}
    data = t.get("data")
    if isinstance(data, dict):
        out.append("<h4>Training data</h4><table cellspacing=3>")
        labels = {"site_folder": "Site folder", "photos_found": "Photos found", "photos_usable": "Usable",
                  "photos_excluded": "Excluded", "train_photos": "Trained on", "pair_photos": "Used as pairs",
                  "holdout_photos": "Held out for checking"}
        for k, lab in labels.items():
            if k in data:
                out.append(f"<tr><td style='color:#555; padding-right:10px'>{lab}</td><td>{_fmt(data[k])}</td></tr>")
        out.append("</table>")
    elif c.data_sources:
        shown = ", ".join(map(str, c.data_sources[:12])) + (" \u2026" if len(c.data_sources) > 12 else "")
        out.append(f"<h4>Training data</h4><p>{html.escape(shown)}</p>")
    facts = []
    if t.get("steps") is not None:
        facts.append(f"{_fmt(t['steps'])} steps")
    if isinstance(t.get("training_time_s"), (int, float)):
        sec = float(t["training_time_s"])
        facts.append(f"{sec / 60:.1f} min of training" if sec >= 120 else f"{sec:.0f} s of training")
    if t.get("hardware"):
        facts.append(_fmt(t["hardware"]))
    if facts:
        out.append("<p style='color:#555'>" + " \u00b7 ".join(facts) + "</p>")
    ev = (c.metrics or {}).get("site_evaluation")
    if isinstance(ev, dict) and isinstance(ev.get("measures"), dict):
        verdict = ev.get("verdict", "")
        out.append(f"<h4>Evaluation on {ev.get('held_out_photos', '?')} held-out site photos "
                   f"(against {html.escape(str(ev.get('compared_with', 'the parent')))}): "
                   f"<span style='color:{VERDICT_COLOURS.get(verdict, '#222')}'>{html.escape(verdict)}</span></h4>")
        out.append("<table cellspacing=0 cellpadding=3 border=0><tr style='color:#555'><td>Measure</td>"
                   "<td align=right>Photo</td><td align=right>Parent</td><td align=right>This model</td><td>Verdict</td></tr>")
        for key, m in ev["measures"].items():
            v = m.get("verdict", "")
            inp = "\u2013" if m.get("input") is None else _fmt(m.get("input"))
            out.append(f"<tr><td>{html.escape(m.get('label', key))}</td><td align=right>{inp}</td>"
                       f"<td align=right>{_fmt(m.get('starting'))}</td><td align=right>{_fmt(m.get('adapted'))}</td>"
                       f"<td style='color:{VERDICT_COLOURS.get(v, '#222')}'><b>{html.escape(v)}</b></td></tr>")
        out.append("</table>")
    elif c.metrics:
        keys = ", ".join(html.escape(str(k)) for k in list(c.metrics)[:10])
        out.append(f"<h4>Metrics</h4><p>{keys} (see the model card file)</p>")
    if c.notes:
        out.append(f"<h4>Notes</h4><p>{html.escape(c.notes)}</p>")
    if c.license:
        out.append(f"<p style='color:#555'><i>{html.escape(c.license)}</i></p>")
    return "".join(out)


class ModelsDialog(QDialog):
    """Lists every installed model; acts on the selected one."""

    models_changed = Signal()

    def __init__(self, parent=None, registry: Any = None) -> None:
        super().__init__(parent)
        from core.models.registry import ModelRegistry  # noqa: PLC0415

        self.registry = registry or ModelRegistry()
        self.setWindowTitle("Models")
        self.resize(1120, 640)
        lay = QVBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Model", "Version", "Created", "Origin", "Status"])
        self.tree.setRootIsDecorated(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 5):
            self.tree.header().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.currentItemChanged.connect(self._selected)
        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        split.addWidget(self.tree)
        split.addWidget(self.details)
        split.setSizes([600, 500])
        lay.addWidget(split, 1)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b35c00;")
        lay.addWidget(self.problems)
        row = QHBoxLayout()
        self.btn_active = QPushButton("Set active")
        self.btn_rollback = QPushButton("Roll back")
        self.btn_rollback.setToolTip("Make the model the active one was adapted from active again.")
        self.btn_delete = QPushButton("Delete\u2026")
        self.btn_export = QPushButton("Export\u2026")
        self.btn_import = QPushButton("Import\u2026")
        for b, fn in ((self.btn_active, self.set_active_selected), (self.btn_rollback, self.roll_back),
                      (self.btn_delete, self.delete_selected), (self.btn_export, self.export_selected),
                      (self.btn_import, self.import_package)):
            b.clicked.connect(lambda _c=False, f=fn: f())
            row.addWidget(b)
        row.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        row.addWidget(close)
        lay.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.last_error = ""
        self.refresh()

    # ------------------------------------------------------------------ listing
    def refresh(self, select: str | None = None) -> None:
        """Re-read the registry; keep (or move) the selection."""
        keep = select or (self.selected().ref if self.selected() is not None else None)
        self.tree.clear()
        self._items: dict[str, QTreeWidgetItem] = {}
        models = self.registry.list()
        actives = {k: self.registry.active(k) for k in KIND_TITLES}
        bold = QFont(self.font())
        bold.setBold(True)
        for kind, title in KIND_TITLES.items():
            group = QTreeWidgetItem([title])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setFont(0, bold)
            self.tree.addTopLevelItem(group)
            of_kind = [m for m in models if m.card.kind == kind]
            if not of_kind:
                none = QTreeWidgetItem(["none installed"])
                none.setFlags(Qt.ItemFlag.NoItemFlags)
                group.addChild(none)
            for m in of_kind:
                is_active = actives.get(kind) is not None and actives[kind] == m
                marks = []
                if is_active:
                    marks.append("\u2713 active")
                if is_flagged(m.card):
                    marks.append("\u26a0 flagged worse")
                it = QTreeWidgetItem([m.card.name, m.card.version, (m.card.created or "")[:10],
                                      "shipped" if m.origin == "shipped" else "this computer", ", ".join(marks)])
                it.setData(0, Qt.ItemDataRole.UserRole, m)
                if is_active:
                    for col in range(5):
                        it.setFont(col, bold)
                if is_flagged(m.card):
                    it.setForeground(4, QColor("#b35c00"))
                if m.card.parent:
                    it.setToolTip(0, f"adapted from {m.card.parent}")
                group.addChild(it)
                self._items[m.ref + "/" + m.origin] = it
            group.setExpanded(True)
        probs = self.registry.problems
        self.problems.setText("Skipped model files: " + "; ".join(f"{p.name}: {why}" for p, why in probs) if probs else "")
        self.problems.setVisible(bool(probs))
        target = None
        if keep:
            target = next((it for key, it in self._items.items() if key.split("/")[0] == keep), None)
        if target is None:
            act = actives.get("enhancer")
            target = self._items.get(act.ref + "/" + act.origin) if act is not None else None
        if target is None and self._items:
            target = next(iter(self._items.values()))
        if target is not None:
            self.tree.setCurrentItem(target)
        self._update_buttons()

    def select(self, ref: str) -> None:
        self.refresh(select=ref)

    def selected(self) -> Any:
        it = self.tree.currentItem() if hasattr(self, "tree") else None
        return it.data(0, Qt.ItemDataRole.UserRole) if it is not None else None

    def _selected(self, *_: Any) -> None:
        m = self.selected()
        if m is None:
            self.details.setHtml("<p style='color:#777'>Select a model to see its model card.</p>")
        else:
            active = self.registry.active(m.card.kind)
            self.details.setHtml(card_details_html(m, active is not None and active == m))
        self._update_buttons()

    def _update_buttons(self) -> None:
        m = self.selected()
        active = self.registry.active(m.card.kind) if m is not None else None
        self.btn_active.setEnabled(m is not None and not (active is not None and active == m))
        self.btn_delete.setEnabled(m is not None and m.origin == "user")
        self.btn_export.setEnabled(m is not None)
        act = self.registry.active("enhancer") if m is None else active
        self.btn_rollback.setEnabled(act is not None and bool(act.card.parent))
        if act is not None and act.card.parent:
            self.btn_rollback.setText(f"Roll back to {act.card.parent}")
        else:
            self.btn_rollback.setText("Roll back")

    # ------------------------------------------------------------------ questions (replaced in tests)
    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def choose_export_path(self, suggested: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Export model package", suggested, "Model package (*.zip)")
        return path

    def choose_import_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Import model package", "", "Model package (*.zip)")
        return path

    def _error(self, exc: Exception) -> None:
        self.last_error = str(exc)
        self.status.setText(f"<span style='color:#b35c00; font-weight:600'>{html.escape(str(exc))}</span>")

    def _done(self, text: str, select: str | None = None) -> None:
        self.refresh(select=select)
        self.status.setText(html.escape(text))
        self.models_changed.emit()

    # ------------------------------------------------------------------ actions
    def set_active_selected(self) -> bool:
        m = self.selected()
        if m is None:
            return False
        if is_flagged(m.card) and not self.confirm(
                "Activate a flagged model?",
                f"{m.ref} was worse than its starting model on at least one measure in its evaluation.\n\n"
                "Make it the active model anyway?"):
            return False
        try:
            self.registry.set_active(m.card.kind, m.card.name, m.card.version)
        except FundusError as exc:
            self._error(exc)
            return False
        self._done(f"{m.ref} is now the active {KIND_TITLES[m.card.kind][:-7].lower()} model.", m.ref)
        return True

    def roll_back(self) -> bool:
        m = self.selected()
        kind = m.card.kind if m is not None else "enhancer"
        act = self.registry.active(kind)
        if act is None or not act.card.parent:
            return False
        try:
            parent = self.registry.get(act.card.parent)
            self.registry.set_active(kind, parent.card.name, parent.card.version)
        except FundusError as exc:
            self._error(exc)
            return False
        self._done(f"Rolled back: {parent.ref} is active again ({act.ref} stays installed).", parent.ref)
        return True

    def delete_selected(self) -> bool:
        m = self.selected()
        if m is None or m.origin != "user":
            return False
        active = self.registry.active(m.card.kind)
        extra = " It is the active model; the default model will be used instead." if active == m else ""
        if not self.confirm("Delete model?", f"Delete {m.ref} from this computer?{extra}\n\nThis cannot be undone "
                                             "(export it first to keep a copy)."):
            return False
        try:
            self.registry.delete(m)
        except FundusError as exc:
            self._error(exc)
            return False
        self._done(f"{m.ref} was deleted.")
        return True

    def export_selected(self, path: str | None = None) -> Path | None:
        m = self.selected()
        if m is None:
            return None
        path = path or self.choose_export_path(f"{m.card.stem}.zip")
        if not path:
            return None
        try:
            out = self.registry.export_package(m, path)
        except FundusError as exc:
            self._error(exc)
            return None
        self.status.setText(html.escape(f"{m.ref} exported to {out}"))
        return out

    def import_package(self, path: str | None = None) -> Any:
        path = path or self.choose_import_path()
        if not path:
            return None
        try:
            installed = self.registry.import_package(path)
        except FundusError as exc:
            self._error(exc)
            return None
        self._done(f"{installed.ref} was imported (not made active).", installed.ref)
        return installed


def open_models_dialog(parent=None) -> ModelsDialog:
    """Show the model manager (modal) and return it after it closes."""
    d = ModelsDialog(parent)
    d.exec()
    return d


__all__ = ["ModelsDialog", "card_details_html", "is_flagged", "open_models_dialog"]
