"""Opening photos: files, folders, samples and recent items into the image list; which one is shown.

Photos are read off the GUI thread (app.workers.LoaderClient): thumbnails on one loader, the
photo shown on another, so a big folder never delays it. The session decides what is shown;
this module only feeds it paths and keeps the list, the recent menu and the titles up to date.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from app.image_list import ImageEntry
from app.session import Session
from app.workers import LoaderClient
from core import DISCLAIMER
from core.imaging.suffixes import find_photos, name_patterns

if TYPE_CHECKING:
    from app.main_window import MainWindow


class Opening:
    """The File menu's opening commands and the image list's navigation."""

    def __init__(self, window: MainWindow, session: Session, loader: LoaderClient, thumbs: LoaderClient) -> None:
        self.w, self.session, self.loader, self.thumbs = window, session, loader, thumbs
        self.settings = window.settings
        lst = window.image_list
        lst.current_changed.connect(self.show_index)
        lst.files_dropped.connect(self.open_paths)
        lst.remove_requested.connect(self.remove_entry)

    # ------------------------------------------------------------------ dialogs
    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self.w, "Open fundus photographs", self.settings.last_open_dir,
            f"Images ({name_patterns()});;All files (*)",
        )
        if files:
            self.settings.last_open_dir = str(Path(files[0]).parent)
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self.w, "Open a folder of photographs", self.settings.last_open_dir)
        if d:
            self.settings.last_open_dir = d
            self.open_paths([d])

    def open_samples(self) -> None:
        from app.samples import sample_entries  # noqa: PLC0415 - reads resources only when asked

        entries = sample_entries()
        if not entries:
            self.w.statusBar().showMessage("No sample photographs are bundled with this installation.", 6000)
            return
        self.add_entries(entries, remember=False)

    # ------------------------------------------------------------------ adding and removing
    def open_paths(self, paths: list[str | Path]) -> int:
        """Files and folders (their photos, sorted); returns how many photos were added."""
        files: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                files.extend(find_photos(p, recursive=False))
            elif p.exists():
                files.append(p)
            else:
                self.w.statusBar().showMessage(f"Not found: {p}", 6000)
                continue
            self.settings.add_recent(p.resolve())  # a folder is remembered as the folder
        self.rebuild_recent()
        self.w.settings_changed()
        return self.add_entries([ImageEntry(path=f) for f in files], remember=False)

    def add_entries(self, entries: list[ImageEntry], remember: bool = True) -> int:
        lst = self.w.image_list
        first = -1
        for e in entries:
            e.path = e.path.resolve()
            idx = lst.index_of(e.path)
            if idx < 0:
                idx = lst.add(e)
                self.thumbs.load(e.path, full=False)
            if first < 0:
                first = idx
            if remember:
                self.settings.add_recent(e.path)
        if remember:
            self.rebuild_recent()
        self._update_title()
        if first >= 0:
            lst.setCurrentRow(first)
        return len(entries)

    def remove_entry(self, index: int) -> None:
        """Take a photo off the list (the file itself is not touched)."""
        lst = self.w.image_list
        if not 0 <= index < lst.count():
            return
        current = lst.index_of(self.session.path) if self.session.path is not None else -1
        self.session.forget(lst.entries[index].path)
        was_current = index == current
        lst.blockSignals(True)
        lst.remove(index)
        lst.blockSignals(False)
        self._update_title()
        if lst.count() and (was_current or index < current):
            row = min(index if was_current else current - 1, lst.count() - 1)
            lst.setCurrentRow(row)
            self.show_index(row)
        if lst.count() == 0:
            self.session.select(None)

    def step(self, delta: int) -> None:
        lst = self.w.image_list
        if lst.count():
            lst.setCurrentRow(min(lst.count() - 1, max(0, lst.currentRow() + delta)))

    # ------------------------------------------------------------------ showing
    def show_index(self, index: int) -> None:
        lst = self.w.image_list
        entry = lst.entries[index] if 0 <= index < len(lst.entries) else None
        if entry is None:
            self.session.select(None)
            return
        self.w.setWindowTitle(f"{entry.title} \u2014 Fundus Studio \u2014 {DISCLAIMER}")
        if self.session.select(entry.path) is None:
            lst.set_status(index, "loading" if entry.status in ("new", "ready") else entry.status)
            self.loader.load(entry.path, full=True)

    def rebuild_recent(self) -> None:
        menu = self.w.recent_menu
        menu.clear()
        for p in self.settings.recent_files:
            a = menu.addAction(p)
            a.triggered.connect(lambda _c=False, path=p: self.open_paths([path]))
        menu.setEnabled(bool(self.settings.recent_files))

    def _update_title(self) -> None:
        n = self.w.image_list.count()
        self.w.images_dock.setWindowTitle(f"Images ({n})" if n else "Images")
