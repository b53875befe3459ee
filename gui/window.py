"""The main window: lays out the views, turns user actions into presenter calls and presenter signals into
drawing. It holds no review state of its own beyond what is on screen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QApplication, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QSplitter,
                               QVBoxLayout, QWidget)

from core.device import cuda_unsupported, device_choices

from .actions import ShortcutsDialog, build_actions, populate_menus
from .drops import drop_problem
from .panels import LayerControls
from .persist import restore_window, save_window
from .presenter import SLOTS, Presenter
from .qimage import heatmap_qimage, qimage_to_pil
from .runner import ModelRunner
from .settings import read
from .sidepanel import SidePanel
from .similar import SimilarCasesDock
from .worklist import WorklistController
from .worklist_dock import WorklistDock
from .sync import ViewSync
from .viewer import LAYERS, ImageViewer

PLACEHOLDER = "Image {n}\n\nDrop an image here, or press {keys}"


class MainWindow(QMainWindow):
    overlays_shown = Signal()  # an explanation's layers were just drawn

    def __init__(self, settings, model_path: str | None = None, device: str | None = None,
                 worklist_path: str | None = None):
        super().__init__()
        self.settings = settings
        self.runner = ModelRunner()
        self.presenter = Presenter(self.runner, method=read(settings, "view/method", "gradcam"))
        stored_model = read(settings, "model/path", "")
        self._model_request = (model_path or stored_model or None, device or read(settings, "model/device", "auto"))
        self._worklist_path = worklist_path or read(settings, "worklist/path", "") or None
        self.worklist = WorklistController(self.presenter, self)
        self.colormap = read(settings, "view/colormap", "jet")
        self._shown_images = [None, None]
        self._help = None
        self.setWindowTitle(QApplication.applicationDisplayName())
        self.setAcceptDrops(True)
        self._build()
        self._connect()
        restore_window(self)
        self.runner.start()

    def start(self, images: list[str] = ()) -> None:
        """Load the model (on the runner) and, if given, the two images."""
        self.presenter.start(*self._model_request)
        if images:
            self.presenter.open_paths([str(p) for p in images])

    # --- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        keys = ("Ctrl+O", "Ctrl+Shift+O")
        self.viewers = [ImageViewer(PLACEHOLDER.format(n=i + 1, keys=keys[i])) for i in SLOTS]
        self.headers = [QLabel(f"Image {i + 1}") for i in SLOTS]
        self.layer_controls = [LayerControls() for _ in SLOTS]
        self.splitter = QSplitter(Qt.Horizontal)
        for i in SLOTS:
            pane = QWidget()
            column = QVBoxLayout(pane)
            column.setContentsMargins(2, 2, 2, 2)
            self.headers[i].setTextInteractionFlags(Qt.TextSelectableByMouse)
            column.addWidget(self.headers[i])
            column.addWidget(self.viewers[i], 1)
            column.addWidget(self.layer_controls[i])
            self.splitter.addWidget(pane)
        side = SidePanel(device_choices())  # Auto/CPU only in the cpu build, which has no CUDA
        if cuda_unsupported():
            side.device_combo.setToolTip(f"Auto and CPU only: {cuda_unsupported()}")
        self.splitter.addWidget(side)
        self.score, self.legend, self.note = side.score, side.legend, side.note
        self.method_combo, self.colormap_combo, self.device_combo = side.method_combo, side.colormap_combo, side.device_combo
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self.similar_dock = SimilarCasesDock(self)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.similar_dock)
        self.similar_dock.hide()  # until chosen; restore_window brings back the reviewer's layout
        self.worklist_dock = WorklistDock(self)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.worklist_dock)
        self.worklist_dock.hide()
        self.sync = ViewSync(*self.viewers, parent=self)
        self.actions = build_actions(self, self._handlers())
        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("main-toolbar")
        self.menus = populate_menus(self.menuBar(), self.toolbar, self.actions)
        self.busy_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # indeterminate: model work reports no fractions
        self.progress.setMaximumWidth(140)
        self.progress.hide()
        self.device_label = QLabel("Device: –")
        for widget in (self.busy_label, self.progress, self.device_label):
            self.statusBar().addPermanentWidget(widget)

    def _handlers(self) -> dict:
        handlers = {
            "open0": lambda: self._open(0), "open1": lambda: self._open(1),
            "paste0": lambda: self._paste(0), "paste1": lambda: self._paste(1),
            "swap": self.presenter.swap, "export": self._export, "quit": self.close,
            "crop": self._set_crop_mode, "reset_crops": self.presenter.reset_crops,
            "undo": self.presenter.undo, "redo": self.presenter.redo,
            "fit": lambda: self._views("fit"), "actual": lambda: self._views("actual_size"),
            "zoom_in": lambda: self._zoom(1.25), "zoom_out": lambda: self._zoom(0.8),
            "sync": self.sync.set_enabled, "explain": self.presenter.explain, "next_method": self._next_method,
            "choose_model": self._choose_model, "default_model": lambda: self.presenter.load_model(None),
            "help": self._show_help, "about": self._about,
            "similar_panel": self.similar_dock.setVisible, "choose_gallery": self._choose_gallery,
            "next_hit": lambda: self._step_hit(1), "previous_hit": lambda: self._step_hit(-1),
            "worklist_panel": self.worklist_dock.setVisible, "import_worklist": self._import_worklist,
            "export_worklist": self._export_worklist, "next_case": lambda: self.worklist.step(1),
            "previous_case": lambda: self.worklist.step(-1), "agree": lambda: self.worklist.review("agree"),
            "disagree": lambda: self.worklist.review("disagree"), "case_done": lambda: self.worklist.mark("done"),
            "case_flag": lambda: self.worklist.mark("flagged"),
        }
        for i in SLOTS:
            for name in LAYERS:
                handlers[f"{name}{i}"] = lambda on, i=i, n=name: self.layer_controls[i].boxes[n].setChecked(on)
        return handlers

    def _connect(self) -> None:
        p = self.presenter
        p.environment_ready.connect(self._environment_ready)
        p.model_changed.connect(self._model_changed)
        p.image_changed.connect(self._image_changed)
        p.explanation_changed.connect(self._show_explanation)
        p.faithfulness_changed.connect(self.score.show_faithfulness)
        p.message.connect(self._message)
        p.busy_changed.connect(self._busy)
        p.history_changed.connect(self._history)
        self._history(False, False)
        for i in SLOTS:
            viewer, controls = self.viewers[i], self.layer_controls[i]
            viewer.files_dropped.connect(lambda paths, i=i: self.load_dropped(paths, i))
            viewer.crop_drawn.connect(lambda box, i=i: self.presenter.set_crop(i, box))
            controls.visibility_changed.connect(lambda n, on, i=i: self._layer_visible(i, n, on))
            controls.opacity_changed.connect(lambda n, o, v=viewer: v.set_layer_opacity(n, o))
        dock = self.similar_dock
        dock.choose_gallery.connect(self._choose_gallery)
        dock.clear_gallery.connect(lambda: self._set_gallery(None))
        dock.cancel.connect(p.cancel_similar)
        dock.hit_chosen.connect(p.open_hit)
        dock.visibilityChanged.connect(self.actions["similar_panel"].setChecked)
        p.similar_found.connect(dock.show_found)
        p.similar_progress.connect(lambda done, total: dock.show_progress((done, total)))
        self._set_gallery(read(self.settings, "similar/gallery", "") or None)
        w = self.worklist
        w.cases_changed.connect(self._show_cases)
        w.current_changed.connect(self.worklist_dock.show_current)
        w.note_loaded.connect(self._load_note)
        w.message.connect(self._message)
        self.worklist_dock.case_chosen.connect(w.open_case)
        self.worklist_dock.import_requested.connect(self._import_worklist)
        self.worklist_dock.export_requested.connect(self._export_worklist)
        self.worklist_dock.visibilityChanged.connect(self.actions["worklist_panel"].setChecked)
        # The reviewer's note of an open case is saved with every keystroke: a crash loses at most the last one.
        self.note.textChanged.connect(lambda: w.save_note(self.note.toPlainText()) if w.current >= 0 else None)
        p.exported.connect(lambda exported: w.record_report(exported.png) if w.current >= 0 else None)
        self._open_worklist(self._worklist_path)
        self.method_combo.currentTextChanged.connect(self._method_chosen)
        self.colormap_combo.currentTextChanged.connect(self._colormap_chosen)
        self.device_combo.activated.connect(lambda _i: self.presenter.set_device(self.device_combo.currentData()))

    # --- user actions ------------------------------------------------------------------------------
    def load_dropped(self, paths: list[str], index: int | None = None) -> None:
        problem = drop_problem(paths)
        if problem:
            self._message(problem, True)
            return
        self._remember_folder(paths[0])
        self.presenter.open_paths(paths, index)

    def export_report_to(self, path: str, overwrite: bool = False) -> bool:
        """Export the current explanation with the layers as shown and the note as typed."""
        layers = []
        for controls in self.layer_controls:
            state = controls.state()
            layers.append({name: opacity if visible else 0.0 for name, (visible, opacity) in state.items()})
        return self.presenter.export(path, self.colormap, layers, self.note.toPlainText().strip(), overwrite)

    def _open(self, index: int) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Open image {index + 1}", self._folder(),
                                              "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp);;All files (*)")
        if path:
            self.load_dropped([path], index)

    def _paste(self, index: int) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime.hasImage():
            self.presenter.open_image(index, qimage_to_pil(QApplication.clipboard().image()))
        elif mime.hasUrls():
            self.load_dropped([url.toLocalFile() for url in mime.urls()][:1], index)
        else:
            self._message("The clipboard holds no image", True)

    def _export(self) -> None:
        if self.presenter.explained is None:
            self._message("Nothing to export yet: load and explain a pair first", True)
            return
        stems = "_vs_".join(Path(img.path).stem if img.path else "pasted" for img in self.presenter.explained.images)
        # A worklist case's report goes to the worklist's report folder by default.
        folder = self.worklist.report_dir() if self.worklist.current >= 0 else Path(self._folder())
        path, _ = QFileDialog.getSaveFileName(self, "Export report", str(folder / f"report_{stems}.png"),
                                              "PNG report (*.png)", options=QFileDialog.DontConfirmOverwrite)
        if not path:
            return
        path = path if path.lower().endswith(".png") else path + ".png"
        existing = [p.name for p in (Path(path), Path(path).with_suffix(".json")) if p.exists()]
        if existing and QMessageBox.question(self, "Replace report?", f"{' and '.join(existing)} already exist"
                                             f"{'s' if len(existing) == 1 else ''}. Replace?") != QMessageBox.Yes:
            return
        self._remember_folder(path)
        self.export_report_to(path, overwrite=bool(existing))

    def _open_worklist(self, path: str | None) -> None:
        from core.errors import SiameseLensError

        try:
            self.worklist.open_store(path)
        except (SiameseLensError, OSError) as exc:
            self._message(f"Worklist not opened: {exc}", True)
            return
        self.settings.setValue("worklist/path", str(self.worklist.store.path))

    def _show_cases(self) -> None:
        w = self.worklist
        rows = []
        for row, case in enumerate(w.cases):
            result = w.store.latest_result(case.id) or {}
            score = f"{100 * result['similarity']:.1f} % {result['decision']}" if result.get("similarity") is not None else ""
            changed = "changed" if row == w.current and w.changed else ""
            rows.append((case.case_id or f"#{case.id}", case.status, score, result.get("reviewer_decision") or "", changed))
        self.worklist_dock.show_cases(w.store.path if w.store else None, rows, w.current)

    def _load_note(self, text: str) -> None:
        self.note.blockSignals(True)  # showing the stored note is not an edit to save back
        self.note.setPlainText(text)
        self.note.blockSignals(False)

    def _import_worklist(self) -> None:
        if self.worklist.store is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import pairs", self._folder(), "CSV (*.csv);;All files (*)")
        if path:
            from core.errors import SiameseLensError

            try:
                self.worklist.import_csv(path)
            except SiameseLensError as exc:
                self._message(str(exc), True)
            self.worklist_dock.show()

    def _export_worklist(self) -> None:
        if self.worklist.store is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export worklist", str(Path(self._folder()) / "worklist.csv"),
                                              "CSV (*.csv)")
        if path:
            try:
                self.worklist.export_csv(path)
            except OSError as exc:
                self._message(f"Worklist not exported: {exc.strerror or exc}", True)

    def _choose_gallery(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a gallery of known cases",
                                                self.presenter.gallery or self._folder())
        if path:
            self._set_gallery(path)
            self.similar_dock.show()

    def _set_gallery(self, path: str | None) -> None:
        self.settings.setValue("similar/gallery", path or "")
        self.similar_dock.set_gallery(path)
        self.presenter.set_gallery(path)

    def _step_hit(self, step: int) -> None:
        """Load the next (or previous) similar case as image 2, starting from the nearest."""
        found = self.presenter.similar
        if found is None or not found.hits:
            self._message("No similar cases yet: load image 1 and choose a gallery (Ctrl+G)", True)
            return
        current = self.presenter.provenance[1]
        rank = current["rank"] if current and current.get("query") == found.query else 0
        position = min(max(rank - 1 + step, 0), len(found.hits) - 1) if rank else 0
        self.presenter.open_hit(found.hits[position])

    def _choose_model(self) -> None:
        start = self.presenter.environment.weights_dir if self.presenter.environment else self._folder()
        path, _ = QFileDialog.getOpenFileName(self, "Choose model", start, "Weights (*.pt);;All files (*)")
        if path:
            self.presenter.load_model(path)

    def _set_crop_mode(self, on: bool) -> None:
        for viewer in self.viewers:
            viewer.set_crop_mode(on)
        self._message("Crop mode: drag a box on either image" if on else "Crop mode off", False)

    def _views(self, method: str) -> None:
        for viewer in self.viewers:
            getattr(viewer, method)()
        self.sync.rebase()

    def _zoom(self, factor: float) -> None:
        for viewer in self.viewers[:1] if self.sync.enabled else self.viewers:
            viewer.zoom_by(factor)

    def _next_method(self) -> None:
        if self.method_combo.count():
            self.method_combo.setCurrentIndex((self.method_combo.currentIndex() + 1) % self.method_combo.count())

    def _show_help(self) -> None:
        self._help = self._help or ShortcutsDialog(self)
        self._help.show()
        self._help.raise_()

    def _about(self) -> None:
        env = self.presenter.environment
        version = f"{env.app_name} {env.version}" if env else QApplication.applicationDisplayName()
        QMessageBox.about(self, "About", f"{version}\nExplainable image similarity with Siamese networks.")

    # --- presenter signals -------------------------------------------------------------------------
    def _environment_ready(self, env) -> None:
        for combo, items, chosen in ((self.method_combo, env.methods, self.presenter.method),
                                     (self.colormap_combo, env.colormaps, self.colormap)):
            combo.blockSignals(True)
            combo.addItems(list(items))
            combo.setCurrentText(chosen if chosen in items else items[0])
            combo.blockSignals(False)
        for index, name in enumerate(env.methods):  # one line of help per method (core.methods)
            self.method_combo.setItemData(index, env.method_help.get(name, ""), Qt.ToolTipRole)
        self.presenter.set_method(self.method_combo.currentText())
        self.colormap = self.colormap_combo.currentText()
        self.legend.set_colormap(self.colormap)
        QApplication.setWindowIcon(QIcon(env.icon))
        model_menu = self.menus["&Model"]
        model_menu.addSeparator()
        for path in env.shipped_models:
            model_menu.addAction(f"Shipped: {Path(path).stem}", lambda p=path: self.presenter.load_model(p))
        self._title()

    def _model_changed(self, ready) -> None:
        self.score.show_model(ready)
        self.device_label.setText(f"Device: {ready.device}")
        self._sync_device_combo()
        self.settings.setValue("model/path", ready.path or "")
        self.settings.setValue("model/device", ready.requested_device)
        self._title()

    def _image_changed(self, index: int) -> None:
        image, crop = self.presenter.images[index], self.presenter.crops[index]
        viewer = self.viewers[index]
        if image is not self._shown_images[index]:
            self._shown_images[index] = image
            viewer.set_image(self.presenter.qimages[index])
            self.sync.rebase()
        viewer.set_crop(crop)
        text = f"Image {index + 1}"
        if image is not None:
            name = Path(image.path).name if image.path else "pasted image"
            text = f"Image {index + 1}: {name}  ({image.original_size[0]} × {image.original_size[1]} px)"
            if crop:
                kind = "automatic lesion crop" if self.presenter.is_automatic(index) else "crop"
                text += f"  · {kind} {crop[0]},{crop[1]} {crop[2]} × {crop[3]}"
        self.headers[index].setText(text)
        self.headers[index].setToolTip(image.path if image is not None and image.path else "")

    def _show_explanation(self, explained) -> None:
        for i, viewer in enumerate(self.viewers):
            for name in LAYERS:
                if explained is None:
                    viewer.set_layer(name, None)
                    continue
                heat = getattr(explained.explanation, name)[i]
                crop = explained.images[i].crop
                viewer.set_layer(name, heatmap_qimage(heat, self.colormap), crop[:2] if crop else (0, 0))
        self.score.show_result(explained, self.busy_label.text())
        if explained is not None:
            self.overlays_shown.emit()

    def _message(self, text: str, error: bool) -> None:
        self.statusBar().setStyleSheet("color: #b0281e;" if error else "")
        self.statusBar().showMessage(text, 0 if error else 6000)
        if error:
            self._sync_device_combo()

    def _busy(self, busy: bool, text: str) -> None:
        self.progress.setVisible(busy)
        self.busy_label.setText(text if busy else "")
        if self.presenter.explained is None:
            self.score.show_result(None, text if busy else "")

    def _history(self, can_undo: bool, can_redo: bool) -> None:
        self.actions["undo"].setEnabled(can_undo)
        self.actions["redo"].setEnabled(can_redo)

    # --- small helpers -----------------------------------------------------------------------------
    def _layer_visible(self, index: int, name: str, on: bool) -> None:
        self.viewers[index].set_layer_visible(name, on)
        self.actions[f"{name}{index}"].setChecked(on)

    def _method_chosen(self, method: str) -> None:
        if method:
            self.presenter.set_method(method)

    def _colormap_chosen(self, name: str) -> None:
        if name and name != self.colormap:
            self.colormap = name
            self.legend.set_colormap(name)
            self._show_explanation(self.presenter.explained)

    def _sync_device_combo(self) -> None:
        if self.presenter.model is not None:
            self.device_combo.setCurrentIndex(self.device_combo.findData(self.presenter.model.requested_device))

    def _title(self) -> None:
        env, model = self.presenter.environment, self.presenter.model
        title = f"{env.app_name} {env.version}" if env else QApplication.applicationDisplayName()
        self.setWindowTitle(f"{title} — {model.info.name}" if model else title)

    def _folder(self) -> str:
        return read(self.settings, "files/last_folder", str(Path.home()))

    def _remember_folder(self, path: str) -> None:
        self.settings.setValue("files/last_folder", str(Path(path).parent))

    # --- Qt events ---------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        event.setAccepted(event.mimeData().hasUrls())

    def dropEvent(self, event) -> None:
        event.acceptProposedAction()
        self.load_dropped([url.toLocalFile() for url in event.mimeData().urls()])

    def closeEvent(self, event) -> None:
        save_window(self)
        self.runner.stop()
        super().closeEvent(event)
