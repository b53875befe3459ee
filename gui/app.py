"""The workstation's composition root: builds the runner, the review models and the window, wires what outlives
a single widget (settings, the runner's life), and starts it all; also main.py's --screenshot mode."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from PySide6.QtCore import QSettings

from .jobs.runner import JobRunner, Runner
from .jobs.tasks import DEFAULT_DEVICE, SiameseLensError
from .models.case_record import CaseRecordState, bind_case_record
from .models.followup import FollowUpReview
from .models.layers import LayerStates
from .models.links import LinksState
from .models.open_pair import OpenPair
from .models.pacs import PacsLink
from .models.pair_store import PairStore
from .models.problems import Problems
from .models.session import ReviewSession
from .models.settings import Key, bind_settings, read, remember, restore_review, save_review
from .models.similar_cases import SimilarCases
from .models.worklist import WorklistController
from .presenters.commands import Commands, CommandsView
from .presenters.followup import FollowupPresenter
from .presenters.headers import PairHeaders
from .presenters.links import LinksPresenter
from .presenters.similar import SimilarPresenter
from .presenters.worklist import WorklistPresenter
from .views.window import MainWindow

# Benchmarks set this to learn when the window is first painted: the app prints "shown <epoch seconds>" and quits.
EXIT_AFTER_SHOW = "SIAMESE_LENS_EXIT_AFTER_SHOW"
SCREENSHOT_SIZE = (1500, 860)
SCREENSHOT_TIMEOUT_MS = 180_000
NOTES_FILE = "pair-notes.sqlite"


@dataclass
class Workstation:
    settings: QSettings
    runner: Runner
    session: ReviewSession
    layers: LayerStates
    similar: SimilarCases
    worklist: WorklistController
    window: MainWindow

    def start(self, images=(), model_path: str | None = None, device: str | None = None) -> None:
        """Load the model (on the runner) and, if given, the two images (a missing or bad file shows as a problem
        of its slot, like a dropped one)."""
        stored_model = read(self.settings, Key.MODEL_PATH, "")
        stored_device = read(self.settings, Key.MODEL_DEVICE, DEFAULT_DEVICE)
        self.session.start(model_path or stored_model or None, device or stored_device)
        if images:
            self.session.open_paths([str(p) for p in images])


@dataclass
class Review:
    """The review models, wired to each other and to the settings, without a window: the workstation's state."""

    settings: QSettings
    runner: JobRunner
    problems: Problems
    session: ReviewSession
    layers: LayerStates
    similar: SimilarCases
    worklist: WorklistController
    pair: OpenPair
    case_record: CaseRecordState
    followup: FollowUpReview
    links: LinksState
    pacs: PacsLink

    def commands(self, view: CommandsView) -> Commands:
        """The reviewer's commands on these models, through `view` (the window, or a test's mock)."""
        return Commands(view, session=self.session, worklist=self.worklist, similar=self.similar, layers=self.layers,
                        links=self.links, case_record=self.case_record, pair=self.pair, followup=self.followup,
                        problems=self.problems, pacs=self.pacs, settings=self.settings)

    def close(self) -> None:
        save_review(self.settings, self.session, self.layers)
        self.settings.sync()
        self.pair.close()
        self.pacs.close()


def create_review(settings: QSettings, runner: JobRunner, worklist_path: str | None = None) -> Review:
    """Every model, each given what it depends on (the one problems model among them); what outlives a run is
    written to the settings here, as it changes."""
    problems = Problems()
    session = ReviewSession(runner, problems)
    layers = LayerStates()
    restore_review(settings, session, layers)
    similar = SimilarCases(session, problems)
    worklist = WorklistController(session, problems)
    pair = OpenPair(session, worklist, _pair_store(settings, problems))
    case_record = CaseRecordState(reviewer=read(settings, Key.REVIEWER, ""))
    bind_case_record(case_record, pair)
    followup = FollowUpReview(session, problems, worklist, case_record, pair)
    pair.changed.connect(followup.new_pair)
    pair.swapped.connect(followup.pair_swapped)
    links = LinksState(session, problems)
    bind_settings(settings, session, similar, case_record)
    pacs = PacsLink(session, followup, problems, settings)
    similar.set_gallery(read(settings, Key.GALLERY, "") or None)
    try:
        store = worklist.open_store(worklist_path or read(settings, Key.WORKLIST, "") or None)
        remember(settings, Key.WORKLIST, str(store.path))
    except (SiameseLensError, OSError) as exc:
        problems.report("worklist", f"Worklist not opened: {exc}")
    return Review(settings, runner, problems, session, layers, similar, worklist, pair, case_record, followup, links,
                  pacs)


def _pair_store(settings: QSettings, problems: Problems) -> PairStore:
    """One-off pairs' notes and records, beside the settings (a test's or a screenshot's settings keep their own).
    A file that cannot be opened (not a database, no permission) is left as it is: this run keeps them in memory
    and the problem bar says so, rather than the window not opening."""
    path = Path(settings.fileName()).resolve().parent / NOTES_FILE
    try:
        return PairStore(path)
    except (sqlite3.Error, OSError) as exc:
        problems.report("notes", f"{path}: {exc}; notes and records of pairs outside a worklist are "
                                 "kept only until the app closes")
        return PairStore(":memory:")


def create_workstation(settings, worklist_path: str | None = None) -> Workstation:
    """Everything but the start: tests drive the models with or without showing the window."""
    runner = Runner()
    review = create_review(settings, runner, worklist_path)
    r = review
    window = MainWindow(settings, r.session, r.problems, r.layers, r.similar, r.worklist, r.pair, r.case_record,
                        r.followup, r.links, r.pacs)
    commands = review.commands(window)
    window.attach(commands)
    window.presenters = present(review, window, commands)

    def closed() -> None:
        review.close()
        runner.stop()

    window.closed.connect(closed)
    runner.start()
    return Workstation(settings, runner, r.session, r.layers, r.similar, r.worklist, window)


def present(review: Review, window: MainWindow, commands: Commands) -> tuple:
    """The features' presenters over the window's views, and the views' gestures sent to them (those that ask
    for a file or folder go to the commands)."""
    worklist = WorklistPresenter(window.worklist_dock, review.worklist, review.session)
    window.worklist_dock.case_chosen.connect(worklist.choose)
    window.worklist_dock.import_requested.connect(commands.import_worklist)
    window.worklist_dock.export_requested.connect(commands.export_worklist)
    similar = SimilarPresenter(window.similar_dock, review.similar)
    window.similar_dock.choose_gallery.connect(commands.choose_gallery)
    window.similar_dock.clear_gallery.connect(similar.clear_gallery)
    window.similar_dock.cancel.connect(similar.cancel)
    window.similar_dock.hit_chosen.connect(similar.open_hit)
    links = LinksPresenter(window.links_overlay, review.links, review.session)
    window.links_overlay.pointer.connect(links.pointer)
    headers = PairHeaders(window, review.session)
    window.score.withheld_changed.connect(headers.set_withheld)
    dock = window.followup_dock
    followup = FollowupPresenter(dock, review.followup)
    dock.registration_chosen.connect(followup.set_mode)
    dock.pixel_size_entered.connect(followup.set_pixel_size)
    dock.assessment_typed.connect(followup.set_assessment)
    dock.history_strip.visit_clicked.connect(followup.visit_clicked)
    dock.history_strip.step_requested.connect(followup.step_by)
    dock.history_strip.pair_chosen.connect(followup.blink_pair_chosen)
    return worklist, similar, links, headers, followup


def run_app(args) -> int:
    """args: images (0 or 2 paths), model (path or None), device (auto/cpu/cuda or None), screenshot (path or None).
    Returns the exit status: 0, or 2 with one line on stderr for unusable input."""
    images = [str(p) for p in (args.images or [])]
    problem = _input_problem(images, args.screenshot)
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        return 2
    if args.screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from .models.settings import APPLICATION, ORGANIZATION, open_settings

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        qInstallMessageHandler(_without_offscreen_noise)  # keep stderr to the one line that matters
    app = cast(QApplication, QApplication.instance()) or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Siamese Lens")
    scratch = tempfile.TemporaryDirectory() if args.screenshot else None
    # A screenshot never reads or changes the user's settings, so docs pictures are reproducible.
    settings = open_settings(Path(scratch.name) / "settings.ini" if scratch else None)
    # nor the user's worklist
    worklist = args.worklist or (str(Path(scratch.name) / "worklist.sqlite") if scratch else None)
    station = create_workstation(settings, worklist)
    window = station.window
    window.show()
    if args.screenshot:  # after show(), which fits the window to the screen: the offscreen one is only 800 px
        window.resize(*SCREENSHOT_SIZE)
    status = {"code": 0}
    if args.screenshot:
        _arm_screenshot(app, window, args.screenshot, status)
    if os.environ.get(EXIT_AFTER_SHOW):
        # repaint() paints synchronously, while the runner is already importing torch: a real first frame.
        QTimer.singleShot(0, lambda: (window.repaint(), print(f"shown {time.time():.6f}", flush=True), window.close()))
    station.start(images, args.model, args.device)
    app.exec()
    if scratch:
        scratch.cleanup()
    return status["code"]


def _input_problem(images: list[str], screenshot: str | None) -> str | None:
    if len(images) not in (0, 2):
        return f"give zero or two images, not {len(images)}"
    if screenshot and not images:
        return "--screenshot needs two images: main.py --screenshot FILE.png IMG1 IMG2"
    if screenshot and not screenshot.lower().endswith(".png"):
        return f"{screenshot}: the screenshot must be a .png file"
    return None  # a missing or unreadable image opens the window with that slot's problem shown


def _without_offscreen_noise(_mode, _context, message: str) -> None:
    if "does not support propagateSizeHints" not in message:  # harmless, printed by the offscreen platform
        sys.stderr.write(f"{message}\n")


def _save_whole(pixmap, target: str) -> bool:
    """Write `pixmap` as a PNG that is there whole or not at all (QSaveFile renames a finished temporary)."""
    from PySide6.QtCore import QIODevice, QSaveFile

    file = QSaveFile(target)
    if not file.open(QIODevice.OpenModeFlag.WriteOnly):
        return False
    if not pixmap.save(file, "PNG"):
        file.cancelWriting()
        file.commit()
        return False
    return file.commit()


def _arm_screenshot(app, window, target: str, status: dict) -> None:
    """Grab the window once the pair's overlays are drawn and their faithfulness measured; any error reported
    meanwhile ends the run with 2."""
    from PySide6.QtCore import QTimer

    def finish(code: int, message: str = "") -> None:
        if status.get("done"):
            return
        status.update(done=True, code=code)
        if message:
            sys.stderr.write(f"error: {message}\n")
        window.close()

    def grab() -> None:
        if status.get("done"):
            return
        app.processEvents()
        if _save_whole(window.grab(), target):
            print(f"wrote {target}")
            finish(0)
        else:
            finish(2, f"{target}: cannot write the screenshot")

    def maps_shown() -> None:
        # The picture shows the whole result: wait for the faithfulness measurement that follows the maps (none
        # comes for same-content pairs, which draw no maps).
        explained = window.session.explained
        if explained is not None and explained.explanation.same_content:
            QTimer.singleShot(150, grab)

    def faithfulness(curves) -> None:
        if curves is not None:
            QTimer.singleShot(150, grab)

    window.overlays_shown.connect(maps_shown)
    window.session.faithfulness_changed.connect(faithfulness)
    window.session.error.connect(lambda _source, text: finish(2, text))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: finish(2, "timed out waiting for the explanation"))
