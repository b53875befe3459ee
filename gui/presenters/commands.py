"""The reviewer's commands on the review models, behind the menus, toolbar and shortcuts: images opened, pasted
or dropped, crops and their history, methods and models, the report, similar cases, links, layers and the
worklist. A presenter: all it needs of the window is `CommandsView` (tests drive it with a mock view); the
commands that only change what the window shows (zoom, panels, crop mode, help) are the window's own."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PIL import Image

from ..jobs.tasks import LAYER_TITLES, LAYERS, SiameseLensError
from ..models.case_record import CaseRecordState
from ..models.followup import FollowUpReview
from ..models.layers import SLOTS, LayerStates
from ..models.links import LinksState
from ..models.open_pair import OpenPair
from ..models.pacs import PacsLink
from ..models.problems import Problems
from ..models.session import NOTHING_TO_EXPORT, ReviewSession
from ..models.settings import Key, read, remember
from ..models.similar_cases import SimilarCases
from ..models.worklist import WorklistController
from .drops import drop_problem
from .pacs import PacsCommands, PacsView

OPACITY_STEP = 0.1  # of a layer's opacity per key press (, and .): 0 to 100 % in ten


class CommandsView(PacsView, Protocol):
    """What the commands ask of the window (with what the PACS commands ask). The ask_* methods return None when
    the reviewer cancels."""

    def ask_image_path(self, slot: int, folder: str) -> str | None: ...

    def ask_visit_paths(self, folder: str) -> list[str]:
        """Images of one lesion's visits (none when the reviewer cancels)."""

    def ask_model_path(self, folder: str) -> str | None: ...

    def ask_gallery_folder(self, folder: str) -> str | None: ...

    def ask_pairs_csv(self, folder: str) -> str | None: ...

    def ask_worklist_csv(self, folder: str) -> str | None: ...

    def clipboard_image(self) -> Image.Image | None: ...

    def clipboard_paths(self) -> list[str]: ...

    def note_text(self) -> str: ...

    def show_similar_panel(self) -> None: ...

    def show_worklist_panel(self) -> None: ...

    def typing(self) -> bool:
        """A text box has the keyboard (the note, a case-record field, the follow-up's pixel size or assessment)."""


class Commands:
    def __init__(self, view: CommandsView, *, session: ReviewSession, worklist: WorklistController,
                 similar: SimilarCases, layers: LayerStates, links: LinksState, case_record: CaseRecordState,
                 pair: OpenPair, followup: FollowUpReview, problems: Problems, pacs: PacsLink, settings):
        self.view, self.session, self.worklist, self.similar = view, session, worklist, similar
        self.problems = problems  # the app's one: what the problem bar shows
        self.layers, self.links, self.case_record, self.settings = layers, links, case_record, settings
        self.pair, self.followup = pair, followup
        self.pulled = pacs.pulled  # a path in a folder of pulled PACS visits, removed when the app quits
        self.pacs = PacsCommands(view, pacs=pacs, session=session, followup=followup, layers=layers,
                                 case_record=case_record, problems=problems,
                                 report_folder=self.report_folder,
                                 reviewer_verdict=self.reviewer_verdict)

    def handlers(self) -> dict:
        """Handlers by gui.views.actions command key, for the commands on the review models."""
        s, w, links = self.session, self.worklist, self.links
        handlers = {
            "open0": lambda: self.open(0), "open1": lambda: self.open(1),
            "paste0": lambda: self.paste(0), "paste1": lambda: self.paste(1),
            "swap": s.swap, "export": self.export, "export_followup": self.export_followup,
            "reset_crops": s.reset_crops, "undo": s.undo, "redo": s.redo,
            "explain": s.explain, "next_method": s.next_method,
            "choose_model": self.choose_model, "default_model": lambda: s.load_model(None),
            "choose_gallery": self.choose_gallery,
            "next_hit": lambda: self.step_hit(1), "previous_hit": lambda: self.step_hit(-1),
            "import_worklist": self.import_worklist, "export_worklist": self.export_worklist,
            "next_case": lambda: w.step(1), "previous_case": lambda: w.step(-1),
            "agree": lambda: self.assess("agree"), "disagree": lambda: self.assess("disagree"),
            "followup": self.followup.run, "followup_history": self.followup_history,
            "case_done": lambda: w.mark("done"), "case_flag": lambda: w.mark("flagged"),
            "links": links.set_visible, "more_links": lambda: links.set_count(links.count + 5),
            "fewer_links": lambda: links.set_count(links.count - 5),
        }
        handlers.update(self.pacs.handlers())
        for i in SLOTS:
            for name in LAYERS:
                handlers[f"{name}{i}"] = lambda on, i=i, n=name: self.layers.set_visible(i, n, on)
        handlers["outline"] = self.layers.set_outline
        handlers.update({"opacity_up": lambda: self.step_opacity(OPACITY_STEP),
                         "opacity_down": lambda: self.step_opacity(-OPACITY_STEP),
                         "next_colormap": self.next_colormap, "show_anyway": self.toggle_shown_anyway})
        return handlers

    def step_opacity(self, step: float) -> None:
        """The active layer's opacity on both images (gui.models.layers: the layer last turned on or changed)."""
        layers, name = self.layers, self.layers.active
        layers.step_opacity(step)
        hidden = "" if layers.shown_anywhere(name) else ", hidden (1-4 shows a layer)"
        self.session.info.emit(f"{LAYER_TITLES[name]} layer opacity "
                               + " · ".join(f"{100 * layers.opacity(slot, name):.0f} %" for slot in SLOTS) + hidden)

    def next_colormap(self) -> None:
        name = self.layers.active
        self.layers.next_colormap()
        self.session.info.emit(f"{LAYER_TITLES[name]} layer colours: {self.layers.colormap(name)}")

    def toggle_shown_anyway(self) -> None:
        """Show a not-assessed pair's score and maps anyway, or withhold them again: a deliberate act, never a key
        pressed while typing a note or a field (the words typed must not reveal an extrapolation)."""
        if self.view.typing():
            self.problems.report("show-anyway", "Show anyway is not taken while typing: Esc leaves the text box, then "
                                                "press it again")
            return
        self.problems.clear("show-anyway")
        if not self.session.not_assessed():
            self.session.info.emit("Nothing is withheld: the pair shown is assessed")
            return
        self.session.set_shown_anyway(not self.session.shown_anyway)
        self.session.info.emit("Score and maps shown anyway: an extrapolation beyond what the model learned"
                               if self.session.shown_anyway else "Score and maps withheld again (not assessed)")

    def load_dropped(self, paths: list[str], index: int | None = None) -> None:
        problem = drop_problem(paths)
        if problem:
            self.problems.report("drop", problem)
            return
        self.problems.clear("drop")
        self._remember_folder(paths[0])
        self.session.open_paths(paths, index)

    def open(self, index: int) -> None:
        path = self.view.ask_image_path(index, self._image_folder(index))
        self.view.refocus()
        if path:
            self.load_dropped([path], index)

    def followup_history(self) -> None:
        """File > Follow-up history: the visits chosen, sorted by date, each aligned onto the first."""
        paths = self.view.ask_visit_paths(self._image_folder(0))
        self.view.refocus()
        if paths:
            self._remember_folder(paths[0])
            self.followup.run_history(paths)

    def paste(self, index: int) -> None:
        image = self.view.clipboard_image()
        if image is not None:
            self.session.open_image(index, image)
            return
        paths = self.view.clipboard_paths()
        if paths:
            self.load_dropped(paths[:1], index)
        else:
            self.problems.report("clipboard", "The clipboard holds no image")

    def export(self) -> None:
        explained = self.session.explained
        if explained is None:
            self.problems.report("export", NOTHING_TO_EXPORT)
            return
        stems = "_vs_".join(Path(img.path).stem if img.path else "pasted" for img in explained.images)
        chosen = self.view.ask_report_path(self.report_folder() / f"report_{stems}.png")
        self.view.refocus()
        if chosen:
            self._remember_folder(chosen[0])
            self.export_report_to(*chosen)

    def export_report_to(self, path: str, overwrite: bool = False) -> bool:
        """Export the current explanation with the layers as shown and the note as typed; never with a case-record
        field the reviewer typed and the form refused (the report would silently lack it)."""
        if self.case_record.blocks_report(self.problems, "export"):
            return False
        return self.session.export(path, self.layers.colormaps, self.layers.shown(), self.view.note_text().strip(),
                                   overwrite, self.case_record.record, self.reviewer_verdict())

    def export_followup(self) -> None:
        result = self.followup.result
        if result is None:
            self.problems.report("followup", "Nothing to export yet: align the pair first (Ctrl+U)")
            return
        first = result.images[0].path
        start = Path(first) if first and not self.pulled(first) else self.report_folder() / (
            Path(first).name if first else "followup.png")
        chosen = self.view.ask_report_path(start.with_name(start.stem + "-followup.png"))
        self.view.refocus()
        if chosen:
            self._remember_folder(chosen[0])
            self.export_followup_to(*chosen)

    def export_followup_to(self, path: str, overwrite: bool = False) -> bool:
        """The follow-up report, under the same rule as the pair's: no refused case-record field."""
        if self.case_record.blocks_report(self.problems, "followup"):
            return False
        return self.followup.export_to(path, self.case_record.record, self.view.note_text().strip(), overwrite)

    def assess(self, decision: str) -> None:
        """Agree / disagree with the model's verdict on the pair shown, a worklist case or not."""
        if self.pair.assess(decision):
            self.problems.clear("assessment")
            self.session.info.emit(f"Recorded: you {decision} with the model's verdict")
        else:
            self.problems.report("assessment", f"Nothing to {decision} with: no verdict is shown yet")

    def reviewer_verdict(self) -> str | None:
        """The reviewer's agree / disagree on the pair shown, for its report; None when not given."""
        return self.pair.assessment()

    def report_folder(self) -> Path:
        """A worklist case's reports go to the worklist's report folder; others next to image 1, unless it was
        pulled from the PACS (its folder goes when the app quits): then to the last folder used."""
        if self.worklist.current >= 0:
            return self.worklist.report_dir()
        first = self.session.images[0]
        if first is not None and first.image.path and not self.pulled(first.image.path):
            return Path(first.image.path).resolve().parent
        return Path(self._folder())

    def choose_model(self) -> None:
        env = self.session.environment
        path = self.view.ask_model_path(env.weights_dir if env else self._folder())
        self.view.refocus()
        if path:
            self.session.load_model(path)

    def choose_gallery(self) -> None:
        path = self.view.ask_gallery_folder(self.similar.gallery or self._folder())
        self.view.refocus()
        if path:
            self.similar.set_gallery(path)
            self.view.show_similar_panel()

    def step_hit(self, step: int) -> None:
        if not self.similar.step(step):
            self.problems.report("similar", "No similar cases yet: load image 1 and choose a gallery (Ctrl+G)")

    def import_worklist(self) -> None:
        path = self.view.ask_pairs_csv(self._folder()) if self.worklist.store else None
        self.view.refocus()
        if path:
            try:
                self.worklist.import_csv(path)
            except SiameseLensError as exc:  # a file we could not read as pairs; its message names it
                self.problems.report("worklist", str(exc))
            self.view.show_worklist_panel()

    def export_worklist(self) -> None:
        path = self.view.ask_worklist_csv(self._folder()) if self.worklist.store else None
        self.view.refocus()
        if path:
            try:
                self.worklist.export_csv(path)
            except OSError as exc:
                self.problems.report("worklist", f"Worklist not exported: {path}: {exc.strerror or exc}")

    def _image_folder(self, slot: int) -> str:
        """Where an image's dialog opens: beside the other image shown (a pair's images usually share a folder,
        whether they came from a drop, the command line or a worklist), else the last folder used."""
        for other in (1 - slot, slot):
            shown = self.session.images[other]
            if shown is not None and shown.image.path:
                return str(Path(shown.image.path).resolve().parent)
        return self._folder()

    def _folder(self) -> str:
        return read(self.settings, Key.LAST_FOLDER, str(Path.home()))

    def _remember_folder(self, path: str) -> None:
        remember(self.settings, Key.LAST_FOLDER, str(Path(path).parent))
