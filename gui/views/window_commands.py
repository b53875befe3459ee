"""The main window as the reviewer's commands see it, split from gui.views.window by concept: the `CommandsView` that
gui.presenters.commands.Commands asks for paths, the clipboard and the note (problems go to the injected
gui.models.problems.Problems, which the problem bar draws), and the commands that change only what the window shows
(crop mode, zoom, panels, help). A mixin of MainWindow, which builds the widgets it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QInputDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
)

from ..jobs.qimage import qimage_to_pil
from ..jobs.tasks import DISCLAIMER
from . import dialogs
from .actions import ShortcutsDialog
from .pacs_visits import ask_pacs_search, choose_visits


class WindowCommands(QMainWindow):
    # built by MainWindow (gui.views.window)
    viewers: list
    sync: Any
    problems: Any
    note: Any
    session: Any
    similar_dock: Any
    worklist_dock: Any
    followup_dock: Any
    help_dialog: Any
    pacs: Any
    # --- gui.presenters.commands.CommandsView -----------------------------------------------------------------
    def ask_image_path(self, slot: int, folder: str) -> str | None:
        return dialogs.open_image(self, slot, folder)

    def ask_report_path(self, suggested: Path) -> tuple[str, bool] | None:
        return dialogs.report_path(self, suggested)

    def ask_visit_paths(self, folder: str) -> list[str]:
        return dialogs.visit_paths(self, folder)

    def ask_model_path(self, folder: str) -> str | None:
        return dialogs.model_file(self, folder)

    def ask_gallery_folder(self, folder: str) -> str | None:
        return dialogs.gallery_folder(self, folder)

    def ask_pairs_csv(self, folder: str) -> str | None:
        return dialogs.pairs_csv(self, folder)

    def ask_worklist_csv(self, folder: str) -> str | None:
        return dialogs.worklist_csv(self, folder)

    def clipboard_image(self) -> Image.Image | None:
        clipboard = QApplication.clipboard()
        return qimage_to_pil(clipboard.image()) if clipboard.mimeData().hasImage() else None

    def clipboard_paths(self) -> list[str]:
        mime = QApplication.clipboard().mimeData()
        return [url.toLocalFile() for url in mime.urls()] if mime.hasUrls() else []

    def note_text(self) -> str:
        return self.note.toPlainText()

    def show_similar_panel(self) -> None:
        self.similar_dock.show()

    def show_worklist_panel(self) -> None:
        self.worklist_dock.show()

    def typing(self) -> bool:
        focus = QApplication.focusWidget()
        if isinstance(focus, QComboBox):
            return focus.isEditable()
        return isinstance(focus, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)) and not (
            focus.isReadOnly() if isinstance(focus, (QLineEdit, QTextEdit, QPlainTextEdit)) else False)

    def ask_pacs_url(self, current: str) -> str | None:
        url, ok = QInputDialog.getText(self, "PACS", "DICOMweb URL of the PACS (credentials: docs/pacs.md):",
                                       text=current)
        return url if ok else None

    def ask_pacs_search(self, url: str, patient_id: str) -> tuple[str, str] | None:
        return ask_pacs_search(self, url, patient_id)

    def choose_visits(self, choice) -> bool | None:
        return choose_visits(self, choice, self.pacs)

    def refocus(self) -> None:
        """After a dialog the keyboard belongs to the review (its one-letter shortcuts), never to the note."""
        self.viewers[0].setFocus(Qt.FocusReason.OtherFocusReason)

    # --- the commands that change only what the window shows --------------------------------------------
    def _own_handlers(self) -> dict:
        """Handlers by gui.views.actions command key, for the commands no review model hears of."""
        return {
            "quit": self.close, "crop": self._set_crop_mode, "sync": self.sync.set_enabled,
            "fit": lambda: self._views("fit"), "actual": lambda: self._views("actual_size"),
            "zoom_in": lambda: self._zoom(1.25), "zoom_out": lambda: self._zoom(0.8),
            "similar_panel": lambda on: self._show_panel(self.similar_dock, on),
            "worklist_panel": lambda on: self._show_panel(self.worklist_dock, on),
            "followup_panel": lambda on: self._show_panel(self.followup_dock, on),
            "help": self._show_help, "about": self._about,
            "dismiss": self._dismiss, "write_note": self._write_note,
        }

    def _show_panel(self, dock, on: bool) -> None:
        """Open (in front, when tabbed with another panel) or close a panel."""
        dock.setVisible(on)
        if on:
            dock.raise_()

    def _write_note(self) -> None:
        """Into the note at its end, without the mouse (its click-only focus keeps one-letter keys off it)."""
        self.note.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.note.moveCursor(QTextCursor.MoveOperation.End)

    def _set_crop_mode(self, on: bool) -> None:
        for viewer in self.viewers:
            viewer.set_crop_mode(on)
        self.statusBar().showMessage("Crop mode: drag a box on either image" if on else "Crop mode off", 6000)

    def _views(self, method: str) -> None:
        for viewer in self.viewers:
            getattr(viewer, method)()
        self.sync.rebase()

    def _zoom(self, factor: float) -> None:
        for viewer in self.viewers[:1] if self.sync.enabled else self.viewers:
            viewer.zoom_by(factor)

    def _show_help(self) -> None:
        self.help_dialog = self.help_dialog or ShortcutsDialog(self)
        self.help_dialog.show()
        self.help_dialog.raise_()

    def _about(self) -> None:
        env = self.session.environment
        version = f"{env.app_name} {env.version}" if env else QApplication.applicationDisplayName()
        QMessageBox.about(self, "About", f"{version}\nExplainable image similarity with Siamese networks.\n\n"
                                         f"{DISCLAIMER}")
        self.refocus()

    def _dismiss(self) -> None:
        self.problems.dismiss()
        self.refocus()
