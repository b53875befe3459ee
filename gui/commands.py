"""The reviewer's commands behind the menus, toolbar and shortcuts: file dialogs, clipboard, export, views,
similar cases and the worklist. Each one turns into calls on the review models; the window draws the result."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from . import dialogs
from .actions import ShortcutsDialog
from .drops import drop_problem
from .layers import SLOTS
from .qimage import qimage_to_pil
from .settings import Key, read
from .tasks import DISCLAIMER, LAYERS, SiameseLensError


class Commands:
    def __init__(self, window):
        self.w = window
        self.help_dialog = None

    def handlers(self) -> dict:
        s, w = self.w.session, self.w.worklist
        handlers = {
            "open0": lambda: self._open(0), "open1": lambda: self._open(1),
            "paste0": lambda: self._paste(0), "paste1": lambda: self._paste(1),
            "swap": s.swap, "export": self._export, "quit": self.w.close,
            "crop": self._set_crop_mode, "reset_crops": s.reset_crops, "undo": s.undo, "redo": s.redo,
            "fit": lambda: self._views("fit"), "actual": lambda: self._views("actual_size"),
            "zoom_in": lambda: self._zoom(1.25), "zoom_out": lambda: self._zoom(0.8),
            "sync": self.w.sync.set_enabled, "explain": s.explain, "next_method": s.next_method,
            "choose_model": self._choose_model, "default_model": lambda: s.load_model(None),
            "help": self._show_help, "about": self._about, "dismiss": self._dismiss,
            "similar_panel": self.w.similar_dock.setVisible, "choose_gallery": self.choose_gallery,
            "next_hit": lambda: self._step_hit(1), "previous_hit": lambda: self._step_hit(-1),
            "worklist_panel": self.w.worklist_dock.setVisible, "import_worklist": self.import_worklist,
            "export_worklist": self.export_worklist, "next_case": lambda: w.step(1),
            "previous_case": lambda: w.step(-1), "agree": lambda: w.review("agree"),
            "disagree": lambda: w.review("disagree"), "case_done": lambda: w.mark("done"),
            "case_flag": lambda: w.mark("flagged"),
            "followup": self.w.followup_dock.run, "links": self.w.links.set_visible, "more_links": lambda: self.w.links.set_count(self.w.links.count + 5),
            "fewer_links": lambda: self.w.links.set_count(self.w.links.count - 5),
        }
        for i in SLOTS:
            for name in LAYERS:
                handlers[f"{name}{i}"] = lambda on, i=i, n=name: self.w.layers.set_visible(i, n, on)
        return handlers

    def load_dropped(self, paths: list[str], index: int | None = None) -> None:
        problem = drop_problem(paths)
        if problem:
            self.w.session.report("drop", problem)
            return
        self.w.session.withdraw("drop")
        self._remember_folder(paths[0])
        self.w.session.open_paths(paths, index)

    def export_report_to(self, path: str, overwrite: bool = False) -> bool:
        """Export the current explanation with the layers as shown and the note as typed; never with a case-record
        field the reviewer typed and the form refused (the report would silently lack it)."""
        refused = self.w.case_form.problems()
        if refused:
            self.w.session.report("export", "Report not saved: correct the case record first (" + "; ".join(refused) + ")")
            return False
        return self.w.session.export(path, self.w.layers.colormaps, self.w.layers.shown(), self.w.note.toPlainText().strip(),
                                     overwrite, self.w.case_record.record, self.w.worklist.reviewer_verdict())

    def report_folder(self) -> Path:
        """A worklist case's reports go to the worklist's report folder; others next to image 1."""
        if self.w.worklist.current >= 0:
            return self.w.worklist.report_dir()
        first = self.w.session.images[0]
        if first is not None and first.image.path:
            return Path(first.image.path).resolve().parent
        return Path(self._folder())

    def _open(self, index: int) -> None:
        path = dialogs.open_image(self.w, index, self._folder())
        self._refocus()
        if path:
            self.load_dropped([path], index)

    def _paste(self, index: int) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime.hasImage():
            self.w.session.open_image(index, qimage_to_pil(QApplication.clipboard().image()))
        elif mime.hasUrls():
            self.load_dropped([url.toLocalFile() for url in mime.urls()][:1], index)
        else:
            self.w.session.report("clipboard", "The clipboard holds no image")

    def _export(self) -> None:
        explained = self.w.session.explained
        if explained is None:
            self.w.session.report("export", "Nothing to export yet: load and explain a pair first")
            return
        stems = "_vs_".join(Path(img.path).stem if img.path else "pasted" for img in explained.images)
        chosen = dialogs.report_path(self.w, self.report_folder() / f"report_{stems}.png")
        self._refocus()
        if chosen:
            self._remember_folder(chosen[0])
            self.export_report_to(*chosen)

    def import_worklist(self) -> None:
        path = dialogs.pairs_csv(self.w, self._folder()) if self.w.worklist.store else None
        self._refocus()
        if path:
            try:
                self.w.worklist.import_csv(path)
            except SiameseLensError as exc:  # a file we could not read as pairs
                self.w.session.report("worklist", str(exc))
            self.w.worklist_dock.show()

    def export_worklist(self) -> None:
        path = dialogs.worklist_csv(self.w, self._folder()) if self.w.worklist.store else None
        self._refocus()
        if path:
            try:
                self.w.worklist.export_csv(path)
            except OSError as exc:
                self.w.session.report("worklist", f"Worklist not exported: {exc.strerror or exc}")

    def choose_gallery(self) -> None:
        path = dialogs.gallery_folder(self.w, self.w.similar.gallery or self._folder())
        self._refocus()
        if path:
            self.w.similar.set_gallery(path)
            self.w.similar_dock.show()

    def _step_hit(self, step: int) -> None:
        if not self.w.similar.step(step):
            self.w.session.report("similar", "No similar cases yet: load image 1 and choose a gallery (Ctrl+G)")

    def _choose_model(self) -> None:
        env = self.w.session.environment
        path = dialogs.model_file(self.w, env.weights_dir if env else self._folder())
        self._refocus()
        if path:
            self.w.session.load_model(path)

    def _set_crop_mode(self, on: bool) -> None:
        for viewer in self.w.viewers:
            viewer.set_crop_mode(on)
        self.w.statusBar().showMessage("Crop mode: drag a box on either image" if on else "Crop mode off", 6000)

    def _views(self, method: str) -> None:
        for viewer in self.w.viewers:
            getattr(viewer, method)()
        self.w.sync.rebase()

    def _zoom(self, factor: float) -> None:
        for viewer in self.w.viewers[:1] if self.w.sync.enabled else self.w.viewers:
            viewer.zoom_by(factor)

    def _show_help(self) -> None:
        self.help_dialog = self.help_dialog or ShortcutsDialog(self.w)
        self.help_dialog.show()
        self.help_dialog.raise_()

    def _about(self) -> None:
        env = self.w.session.environment
        version = f"{env.app_name} {env.version}" if env else QApplication.applicationDisplayName()
        QMessageBox.about(self.w, "About", f"{version}\nExplainable image similarity with Siamese networks.\n\n"
                                         f"{DISCLAIMER}")
        self._refocus()

    def _dismiss(self) -> None:
        self.w.problem_bar.dismiss()
        self._refocus()

    def _refocus(self) -> None:
        """After a dialog the keyboard belongs to the review (its one-letter shortcuts), never to the note."""
        self.w.viewers[0].setFocus(Qt.OtherFocusReason)

    def _folder(self) -> str:
        return read(self.w.settings, Key.LAST_FOLDER, str(Path.home()))

    def _remember_folder(self, path: str) -> None:
        self.w.settings.setValue(Key.LAST_FOLDER, str(Path(path).parent))
