"""The main window: layout, and the wiring of the review models' signals to the views. The reviewer's commands
are gui.presenters.commands, whose view the window is (gui.views.window_commands); the features' presenters
(gui.presenters: worklist, similar cases, links, the follow-up, the lines over the images) draw through its
docks, its links overlay and show_header (gui.app.present builds them). It holds no review state and creates no
model: the session, the layer states, similar cases, the worklist, the open pair, the case record, the follow-up,
the links, the PACS link and the problems do (gui.app builds them and hands them in)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QProgressBar, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from ..jobs.tasks import (
    INCONCLUSIVE,
    INCONCLUSIVE_MARK,
    LAYERS,
    UNCHECKED_MARK,
    UNFAITHFUL,
    UNFAITHFUL_MARK,
    check_verdict,
    cuda_unsupported,
    device_choices,
    dicom_pair,
    top_contours,
)
from ..models.followup import EXPORT_KEY as FOLLOWUP_EXPORT_KEY
from ..models.followup import MAPS_KEY as FOLLOWUP_MAPS_KEY
from ..models.layers import SLOTS
from .actions import build_actions, populate_menus
from .case_record import CaseRecordForm
from .colours import heatmap_qimage
from .elided import ElidedLabel, never_widens
from .followup_dock import FollowUpDock
from .layer_controls import LayerControls
from .links import LinksOverlay
from .pacs_visits import PacsStatus
from .persist import fit_to_screen, restore_window, save_window
from .problem_bar import ProblemBar
from .side_panel import SidePanel
from .similar_dock import SimilarCasesDock
from .sync import ViewSync
from .viewer import ImageViewer
from .window_commands import WindowCommands
from .worklist_dock import WorklistDock

# px: the outline is traced on the GUI thread at this size, a smooth map's needs no more (a 2048 px map took ~0.2 s);
# a smaller map (a small crop's) is resized up to it, as the report resizes it to its panel: the same smooth region
# as the report's and the stretched layer's, not the map's pixel staircase (3 ms)
OUTLINE_SIDE = 512
PLACEHOLDER = "Image {n}\n\nDrop an image here, or press {keys}"


class MainWindow(WindowCommands):
    actions: dict  # type: ignore[assignment]  # the QActions by command key; shadows QWidget.actions(), never called
    overlays_shown = Signal()  # an explanation's layers were just drawn
    closed = Signal()  # the window was closed: the composition root saves the review and stops the runner
    presenters: tuple = ()  # the features' presenters over this window's docks and overlay (gui.app.present)

    def __init__(self, settings, session, problems, layers, similar, worklist, pair, case_record, followup, links,
                 pacs):
        super().__init__()
        self._crops: list[tuple] = [(None, False) for _ in SLOTS]  # each image's crop box, and whether automatic
        self.settings, self.session, self.layers, self.similar, self.worklist = (settings, session, layers,
                                                                                  similar, worklist)
        self.pair = pair  # gui.models.open_pair.OpenPair: the pair under review, where its note and record are kept
        self.case_record = case_record  # gui.models.case_record.CaseRecordState: what the next report carries
        self.followup = followup  # gui.models.followup.FollowUpReview
        self.links = links  # gui.models.links.LinksState
        self.pacs = pacs  # gui.models.pacs.PacsLink: the visits list's pictures, the transfers' progress and Cancel
        self.problems = problems  # gui.models.problems.Problems: the app's one, every model reports to it
        self.help_dialog = None
        self.setAcceptDrops(True)
        self._fitted = False
        self._build()

    def attach(self, commands) -> None:
        """Take the reviewer's commands (gui.presenters.commands.Commands, built by gui.app over this window as its
        view): the menus, toolbar and shortcuts call them; then the reviewer's layout is restored."""
        self.commands = commands
        self.load_dropped, self.export_report_to = commands.load_dropped, commands.export_report_to
        self.actions = build_actions(self, {**commands.handlers(), **self._own_handlers()})
        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("main-toolbar")
        self.menus = populate_menus(self.menuBar(), self.toolbar, self.actions)
        self._connect()
        restore_window(self)

    # --- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        keys = ("Ctrl+O", "Ctrl+Shift+O")
        self.viewers = [ImageViewer(PLACEHOLDER.format(n=i + 1, keys=keys[i])) for i in SLOTS]
        # Elided, the full text in the tooltip: a long file name must never widen the window past the screen.
        self.headers = [ElidedLabel(f"Image {i + 1}") for i in SLOTS]
        self.layer_controls = [LayerControls(self.layers, i) for i in SLOTS]
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for i in SLOTS:
            pane = QWidget()
            column = QVBoxLayout(pane)
            column.setContentsMargins(2, 2, 2, 2)
            for widget, stretch in ((self.headers[i], 0), (self.viewers[i], 1), (self.layer_controls[i], 0)):
                column.addWidget(widget, stretch)
            self.splitter.addWidget(pane)
        self.side = SidePanel(self.layers, device_choices())  # Auto/CPU only in the cpu build, which has no CUDA
        if cuda_unsupported():
            self.side.device_combo.setToolTip(f"Auto and CPU only: {cuda_unsupported()}")
        self.score, self.note = self.side.score, self.side.note
        self.case_form = CaseRecordForm(self.case_record)
        self.side.add_section("Case record (printed on the report)", self.case_form)
        self.splitter.addWidget(self.side)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        self.problem_bar = ProblemBar(self.problems)
        never_widens(self.problem_bar.label, 20)  # a problem naming a long path wraps or clips, never widens
        column.addWidget(self.problem_bar)
        column.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.similar_dock = SimilarCasesDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.similar_dock)
        self.similar_dock.hide()  # until chosen; restore_window brings back the reviewer's layout
        self.followup_dock = FollowUpDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.followup_dock)
        self.followup_dock.hide()  # until Ctrl+U, or a worklist case marked as a follow-up
        self.worklist_dock = WorklistDock(self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.worklist_dock)
        self.worklist_dock.hide()
        self.sync = ViewSync(self.viewers[0], self.viewers[1], parent=self)
        self.links_overlay = LinksOverlay(central, self.viewers)
        self.links_overlay.status.connect(lambda text: self.statusBar().showMessage(text, 4000))
        # The busy text names a model file and may be long: elided, so the status bar never widens the window.
        self.busy_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        self.zoom_label, self.device_label = QLabel("Zoom –"), QLabel("Device: –")
        self.busy_label.setMaximumWidth(420)
        # Its width follows its words (ElidedLabel ignores them by default): in the status bar an ignored hint
        # left it no width at all, and the progress bar of the maps' refinement stood there without its words.
        self.busy_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # indeterminate, unless the running job reports how far it is
        self.progress.setMaximumWidth(140)
        self.progress.hide()
        self.pacs_status = PacsStatus(self.pacs)
        for widget in (self.busy_label, self.progress, self.pacs_status, self.zoom_label, self.device_label):
            self.statusBar().addPermanentWidget(widget)

    def _connect(self) -> None:
        s = self.session
        s.environment_ready.connect(self._environment_ready)
        s.model_changed.connect(self._model_changed)
        s.image_changed.connect(self._image_changed)
        s.crop_changed.connect(self._crop_changed)
        s.method_changed.connect(self.side.show_method)
        s.explanation_changed.connect(self._show_explanation)
        s.faithfulness_changed.connect(self.score.show_faithfulness)
        self.score.withheld_changed.connect(self._withheld_changed)
        s.faithfulness_changed.connect(self._mark_maps)
        self.score.show_anyway.toggled.connect(s.set_shown_anyway)  # the report follows what the window shows
        s.shown_anyway_changed.connect(self.score.show_anyway.setChecked)  # or the keyboard's (View menu)
        key = self.actions["show_anyway"].shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.score.show_anyway.setToolTip(f"{self.score.show_anyway.toolTip()} ({key}; never taken while typing)")
        s.history_changed.connect(self._history)
        s.info.connect(lambda text: self.statusBar().showMessage(text, 6000))
        s.runner.busy.connect(self._busy)
        s.runner.started.connect(self._started)
        s.runner.progress.connect(self._progressed)
        self._history(False, False)
        self.side.show_method(s.method)
        self.side.method_chosen.connect(s.set_method)
        self.side.device_chosen.connect(s.set_device)
        self.layers.changed.connect(self._layer_changed)
        self.layers.colormap_changed.connect(lambda name, _cmap: self._draw_layers(s.explained, (name,)))
        self.layers.outline_changed.connect(self._outline_shown)
        self._outline_shown(self.layers.outline)
        for i in SLOTS:
            viewer = self.viewers[i]
            viewer.files_dropped.connect(lambda paths, i=i: self.load_dropped(paths, i))
            viewer.crop_drawn.connect(lambda box, i=i: s.set_crop(i, box))
            for name in LAYERS:
                self._layer_changed(i, name, self.layers.visible(i, name), self.layers.opacity(i, name))
        self.viewers[0].zoom_changed.connect(self._zoom_shown)
        self.viewers[1].zoom_changed.connect(self._zoom_shown)
        # A panel's tick says whether it is open, behind another panel's tab too: ticked by whether it is seen, a
        # panel tabbed with another (the reviewer's layout) was closed by showing the other's tab.
        for dock, key in ((self.similar_dock, "similar_panel"), (self.worklist_dock, "worklist_panel"),
                          (self.followup_dock, "followup_panel")):
            dock.visibilityChanged.connect(lambda _seen, d=dock, k=key: self.actions[k].setChecked(not d.isHidden()))
        # The note is saved with every keystroke, with the pair under review (gui.models.open_pair): quitting or a
        # crash loses at most the last key.
        self.note.textChanged.connect(lambda: self.pair.save_note(self.note.toPlainText()))
        self.pair.note_loaded.connect(self._load_note)
        for said in (self.pair.assessed, self.pair.changed, s.explanation_changed):
            said.connect(lambda *_: self.score.show_assessment(self.pair.assessment()))
        self.followup_dock.export_requested.connect(self.commands.export_followup)
        self.followup.result_changed.connect(lambda _result: self._show_followup_verdict())
        # closed by the reviewer (its X): the verdict's words no longer point at a panel that is not there
        self.followup_dock.visibilityChanged.connect(lambda _visible: self._show_followup_verdict())
        self.followup_dock.store_requested.connect(self.commands.pacs.store_followup)
        s.explanation_changed.connect(self._dicom_outputs)
        self._dicom_outputs(s.explained)

    # --- drawing what the models say ------------------------------------------------------------------
    def _environment_ready(self, env) -> None:
        self.side.show_method(self.session.method, env.method_help)
        QApplication.setWindowIcon(QIcon(env.icon))
        model_menu = self.menus["&Model"]
        model_menu.addSeparator()
        for path in env.shipped_models:
            model_menu.addAction(f"Shipped: {Path(path).stem}", lambda p=path: self.session.load_model(p))

    def _model_changed(self, ready) -> None:
        self.score.show_model(ready)
        self.device_label.setText(f"Device: {ready.device}")
        self.side.show_device(ready.requested_device)
        # The platform adds the application's name: the title says which model is in use.
        self.setWindowTitle(ready.info.name)

    def _image_changed(self, index: int, ready) -> None:
        self.viewers[index].set_image(ready.qimage if ready is not None else None)
        self.sync.rebase()

    def _crop_changed(self, index: int, box, automatic: bool) -> None:
        self._crops[index] = (box, automatic)
        self._show_crop(index)

    def _show_crop(self, index: int) -> None:
        box, automatic = self._crops[index]
        # the model's lesion box on an image outside its domain is withheld with the maps
        self.viewers[index].set_crop(None if automatic and self.score.withheld else box)

    def _withheld_changed(self, _withheld: bool) -> None:
        """A not-assessed pair hides its maps and its automatic crop until "show anyway" (views.layer_controls)."""
        self._draw_layers(self.session.explained, LAYERS)
        self._draw_outline(self.session.explained)
        self._mark_maps(self.session.faithfulness)
        for index in SLOTS:
            self._show_crop(index)

    def show_header(self, slot: int, text: str, tail: str, tooltip: str) -> None:
        """gui.presenters.headers.HeadersView: the line over an image, its name elided first."""
        self.headers[slot].setText(text, tail)
        self.headers[slot].setToolTip(tooltip)

    def _show_explanation(self, explained) -> None:
        self.side.show_result(explained, self.busy_label.text())  # first: it decides whether the maps are withheld
        self._draw_layers(explained, LAYERS)
        self._draw_outline(explained)
        self._mark_maps(self.session.faithfulness)
        if explained is not None:
            self.overlays_shown.emit()

    def _show_followup_verdict(self) -> None:
        self.score.show_followup(self.followup.result is not None, not self.followup_dock.isHidden())

    def _mark_maps(self, curves) -> None:
        """What the faithfulness check (core.trust.checks.check_verdict) says of the maps shown is written on the
        images themselves: hatched with the words when they failed it, the words alone when it could not tell or
        has not judged them (the first maps, until the refined ones are checked), nothing once they passed."""
        explained = self.session.explained
        shown = (explained is not None and not self.score.withheld  # no map shown: no mark
                 and not explained.explanation.same_content)
        verdict = check_verdict(curves)
        marks = {UNFAITHFUL: UNFAITHFUL_MARK, INCONCLUSIVE: INCONCLUSIVE_MARK, None: UNCHECKED_MARK}
        text = marks.get(verdict) if shown else None  # a faithful map: nothing
        for i, viewer in enumerate(self.viewers):
            viewer.set_mark(text, explained.images[i].crop if text else None, hatch=verdict == UNFAITHFUL)

    def _draw_layers(self, explained, names) -> None:
        """Colour the named layers' maps (a new colormap recolours its own layer only; the score stays)."""
        for i, viewer in enumerate(self.viewers):
            for name in names:
                if explained is None or self.score.withheld:
                    viewer.set_layer(name, None)
                    continue
                heat = getattr(explained.explanation, name)[i]
                viewer.set_layer(name, heatmap_qimage(heat, self.layers.colormap(name)), explained.images[i].crop)

    def _draw_outline(self, explained) -> None:
        """The factual map's top (core's TOP_SHARE of its pixels) traced on each image (viewer.set_outline): none
        while the maps are withheld, none for maps without evidence (the same content twice)."""
        for i, viewer in enumerate(self.viewers):
            if explained is None or self.score.withheld:
                viewer.set_outline([], (1, 1))
                continue
            height, width = explained.explanation.factual[i].shape
            scale = OUTLINE_SIDE / max(width, height)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            viewer.set_outline(top_contours(explained.explanation.factual[i], size), size, explained.images[i].crop)

    def _outline_shown(self, shown: bool) -> None:
        for slot in SLOTS:
            self._show_outline(slot)
        self.actions["outline"].setChecked(shown)

    def _show_outline(self, slot: int) -> None:
        """Outlined where the factual layer shows, as a report outlines it: over the counterfactual alone it would
        read as the counterfactual's top."""
        factual = self.layers.visible(slot, "factual") and self.layers.opacity(slot, "factual") > 0
        self.viewers[slot].set_outline_visible(self.layers.outline and factual)

    def _layer_changed(self, slot: int, name: str, visible: bool, opacity: float) -> None:
        self.viewers[slot].set_layer_visible(name, visible)
        self.viewers[slot].set_layer_opacity(name, opacity)
        self.actions[f"{name}{slot}"].setChecked(visible)
        self._show_outline(slot)

    def _dicom_outputs(self, explained) -> None:
        """File > Export SR and Store report to PACS: only for a pair whose reports can file (DICOM, one patient)."""
        can = explained is not None and dicom_pair(explained.images)
        for key in ("export_sr", "store_pacs"):
            self.actions[key].setEnabled(can)

    def _started(self, _key, label: str) -> None:
        self.busy_label.setText(label)  # emitted on the runner thread: a thread-safe property change only

    def _progressed(self, key, done: int, total: int) -> None:
        # the maps' refinement (a pair's, a follow-up's, or before a follow-up report): steps done of its path
        # (then indeterminate again)
        if key in ("refine", FOLLOWUP_MAPS_KEY, FOLLOWUP_EXPORT_KEY):
            self.progress.setRange(0, 0 if done >= total else total)
            self.progress.setValue(done)

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        if not busy:
            self.progress.setRange(0, 0)
            self.busy_label.setText("")
        if self.session.explained is None:
            self.side.show_result(None, self.busy_label.text() if busy else "")

    def _zoom_shown(self, _zoom: float) -> None:
        zooms = [f"{100 * v.zoom():.0f} %" for v in self.viewers if v.has_image()]
        self.zoom_label.setText(f"Zoom {' · '.join(zooms)}" if zooms else "Zoom –")

    def _history(self, can_undo: bool, can_redo: bool) -> None:
        self.actions["undo"].setEnabled(can_undo)
        self.actions["redo"].setEnabled(can_redo)

    def _load_note(self, text: str) -> None:
        self.note.blockSignals(True)  # showing the stored note is not an edit to save back
        self.note.setPlainText(text)
        self.note.blockSignals(False)

    # --- Qt events -----------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        event.setAccepted(event.mimeData().hasUrls())

    def dropEvent(self, event) -> None:
        event.acceptProposedAction()
        self.load_dropped([url.toLocalFile() for url in event.mimeData().urls()])

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._fitted:  # the frame is known once shown: clamp again, title bar included
            self._fitted = True
            fit_to_screen(self)

    def closeEvent(self, event) -> None:
        save_window(self)
        self.closed.emit()
        super().closeEvent(event)
