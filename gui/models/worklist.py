"""The worklist controller: which case is open, and every reviewer action saved to the store at once.

It drives the pair through the review session (opening a case loads both images with their crops) and listens to
its explanations to record the model's score for the open case. Widget-free, so tests can drive it directly.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import NOT_ASSESSED, Explained, Worklist, band_of, counted, shown_probability
from .layers import SLOTS
from .problems import Problems
from .session import ReviewSession


class WorklistController(QObject):
    cases_changed = Signal()  # the table of cases must be redrawn
    current_changed = Signal(int)  # row of the open case, -1 when none

    def __init__(self, session: ReviewSession, problems: Problems, parent=None):
        super().__init__(parent)
        self.session, self.problems = session, problems
        self.store: Worklist | None = None
        self.cases: list = []  # core.review.worklist.Case rows
        self.current = -1
        self.changed: list[int] = []  # slots of the open case whose file changed since import
        self._result_id: int | None = None
        session.explanation_changed.connect(self._explained)
        session.crop_changed.connect(self._crop_changed)
        session.image_changed.connect(self._image_changed)

    # --- the store ---------------------------------------------------------------------------------
    def open_store(self, path=None) -> Worklist:
        if self.store is not None:
            self.store.close()
        self.store = Worklist(path)
        self.current, self._result_id = -1, None
        self.refresh()
        return self.store

    def _db(self) -> Worklist:
        """The open store; the window offers worklist commands only once one is open (gui.app opens it)."""
        if self.store is None:
            raise RuntimeError("no worklist is open")
        return self.store

    def refresh(self) -> None:
        self.cases = self._db().cases() if self.store else []
        self.cases_changed.emit()

    def import_csv(self, path: str) -> None:
        imported = self._db().import_csv(path)
        problems = imported.problems
        self.refresh()
        text = f"{counted(len(imported.added), 'case')} imported from {Path(path).name}"
        if imported.already:
            text += f", {len(imported.already)} already in the worklist"
        if imported.notes_kept:
            text += f" ({counted(len(imported.notes_kept), 'note')} in the CSV differed: the worklist's kept)"
        if problems:  # "pairs.csv:4: no such image file ..." -> "line 4: no such image file ..."
            text += f"; {counted(len(problems), 'row')} skipped: " + "; ".join(
                "line " + p[len(str(path)) + 1:] for p in problems[:3])
        if problems:
            self.problems.report("worklist", text)
        else:
            self.session.info.emit(text)

    def export_csv(self, path: str) -> None:
        count = self._db().export_csv(path)
        self.session.info.emit(f"{count} cases exported to {path}")

    def report_dir(self) -> Path:
        """Reports of worklist cases go beside the worklist, in one folder per worklist."""
        folder = self._db().path.with_name(self._db().path.stem + "-reports")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # --- navigation and review ---------------------------------------------------------------------
    def open_case(self, row: int) -> None:
        if not self.cases or not 0 <= row < len(self.cases):
            return
        case = self.cases[row]
        self.current, self._result_id = row, None
        self.changed = self._db().changed_images(case)
        if case.status == "new":
            self._db().set_status(case.id, "in review")
        self.session.open_pair([case.image1, case.image2], (case.crop1, case.crop2))
        if self.changed:
            names = " and ".join(f"image {slot + 1}" for slot in self.changed)
            self.problems.report("worklist", f"Case {case.case_id or case.id}: {names} changed since import "
                                    "(sha256 differs); its score is not recorded as this case's")
        self.refresh()
        self.current_changed.emit(row)

    def lesion_visits(self, row: int) -> list[tuple[str, str]]:
        """(image, date) of every visit of the lesion of case `row` (core.review.worklist.Worklist.lesion_visits)."""
        return self._db().lesion_visits(self.cases[row].id) if 0 <= row < len(self.cases) else []

    def step(self, delta: int) -> None:
        if self.cases:
            self.open_case(min(max(self.current + delta, 0), len(self.cases) - 1) if self.current >= 0 else 0)

    def mark(self, status: str) -> None:
        if self.current >= 0:
            self._db().set_status(self.cases[self.current].id, status)
            self.refresh()

    def review(self, decision: str) -> None:
        """The reviewer agrees or disagrees with the model's verdict on the open case."""
        result = self._ensure_result()
        if result is not None:
            self._db().save_review(result, decision=decision)
            self.refresh()

    def save_note(self, text: str) -> None:
        if self._ensure_result() is not None:  # a result to hold it even before the first score
            self._db().save_note(self.cases[self.current].id, text)

    def case_note(self) -> str:
        """The open case's note: the reviewer's, else the one it was imported with (which batch's reports print
        too); '' when neither."""
        if self.current < 0:
            return ""
        case = self.cases[self.current]
        return (self._db().latest_result(case.id) or {}).get("reviewer_note") or case.note or ""

    def shows_open_case(self) -> bool:
        """Whether the pair shown is the open case: both its images, in the case's order (a swapped case is
        another pair: image 1 is the case's baseline). The one place this is decided (gui.models.open_pair)."""
        return self.current >= 0 and self._shown_paths() == self.open_case_paths()

    def open_case_paths(self) -> tuple:
        """The open case's two image paths, () when none is open."""
        if self.current < 0:
            return ()
        case = self.cases[self.current]
        return (case.image1, case.image2)

    def save_record(self, record) -> None:
        """The open case's record as edited in the window (core.review.case_record), on disk at once."""
        if self.current >= 0:
            self._db().set_record(self.cases[self.current].id, record)
            self.refresh()

    def save_followup_change(self, images, changes: dict) -> None:
        """What a follow-up of `images` (paths, baseline first) found, kept with the open case when it is that
        case's visit pair (gui.models.followup.FollowUpReview, once a follow-up is shown). A case imported as a
        plain pair and followed up by the reviewer (Ctrl+U) too, once its visits were compared: listed as "similar"
        beside a lesion that grew, it read as "unchanged"."""
        if self.current < 0:
            return
        case = self.cases[self.current]
        if tuple(map(resolved, images)) != (resolved(case.image1), resolved(case.image2)):
            return
        if case.kind != "followup" and not changes.get("comparable"):  # not aligned: the model's verdict stays
            return
        self._db().set_followup_change(case.id, changes["change_headline"], changes["change_brief"])
        self.cases[self.current] = self._db().case(case.id)
        self.refresh()

    def save_followup_assessment(self, text: str) -> None:
        """The reviewer's assessment of the open case's follow-up, on disk at once."""
        if self.current >= 0:
            self._db().set_followup_assessment(self.cases[self.current].id, text)
            self.cases[self.current] = replace(self.cases[self.current], followup_assessment=text or None)

    def save_pixel_size(self, text: str) -> None:
        """The baseline pixel size (mm, as typed) for the open case's follow-up, on disk at once."""
        if self.current >= 0:
            self._db().set_pixel_size(self.cases[self.current].id, text)
            self.cases[self.current] = replace(self.cases[self.current], pixel_size_mm=text or None)

    def reviewer_verdict(self) -> str | None:
        """The reviewer's agree / disagree on the open case's latest result, for its report; None when none."""
        if self.current < 0:
            return None
        return (self._db().latest_result(self.cases[self.current].id) or {}).get("reviewer_decision")

    def record_report(self, png: str) -> None:
        result = self._ensure_result()
        if result is not None:
            self._db().set_report(result, png)

    def rows(self) -> list[tuple]:
        """The table's texts per case: case, status, the model's verdict and score, the reviewer's agree/disagree, its
        images' names (and, for the open case, whether they changed since import)."""
        rows = []
        for row, case in enumerate(self.cases):
            result = self._db().latest_result(case.id) or {}
            # a follow-up case lists what changed: the model's "similar" of a grown lesion would read "unchanged"
            followed = case.kind == "followup" or case.change is not None  # or followed up by the reviewer
            score = _change_text(case.change) if followed else _verdict_text(result, self._band())
            names = f"{Path(case.image1).name} / {Path(case.image2).name}"
            changed = " · changed since import" if row == self.current and self.changed else ""
            rows.append((case.case_id or f"#{case.id}", case.status, score, result.get("reviewer_decision") or "",
                         names + changed))
        return rows

    # --- helpers -----------------------------------------------------------------------------------
    def _band(self):
        """The loaded model's verdict band: P prints against it as the score panel prints it."""
        model = self.session.model
        return band_of(model.info.metadata) if model is not None else None

    def _ensure_result(self) -> int | None:
        if self.current < 0 or self.session.model is None:
            return None
        if self._result_id is None:
            self._result_id = self._db().ensure_result(self.cases[self.current].id, self.session.model.info.sha256,
                                                       self.session.method)
        return self._result_id

    def _image_changed(self, _slot, _ready) -> None:
        """Other images opened over a case leave the case: its note, record and score are no longer what is shown."""
        if self.current < 0 or None in self._shown_paths() or self.session.loading():
            return
        if not self.shows_open_case():
            self.current, self._result_id = -1, None
            self.refresh()
            self.current_changed.emit(-1)

    def _shown_paths(self) -> tuple:
        return tuple(ready.image.path if ready else None for ready in self.session.images)

    def _crop_changed(self, _slot, _box, _automatic) -> None:
        """A crop drawn, adjusted or cleared on the open case is saved with the case at once; the model's automatic
        box is the model's, not the case's, so it is saved as no crop."""
        if self.current < 0 or self.store is None:
            return
        case = self.cases[self.current]
        if not self.shows_open_case():
            return  # the reviewer has since put another image in
        crops = tuple(None if self.session.is_automatic(slot) else self.session.crops[slot] for slot in SLOTS)
        if crops != (case.crop1, case.crop2):
            self._db().set_crops(case.id, crops)
            self.refresh()

    def _explained(self, explained: Explained | None) -> None:
        if explained is None or self.current < 0 or self.changed:
            return
        case = self.cases[self.current]
        if tuple(img.path for img in explained.images) != self.open_case_paths():
            return  # the reviewer has since put another image in: not this case's score
        self._result_id = self._db().ensure_result(case.id, explained.model.sha256, explained.explanation.method)
        e = explained.explanation
        self._db().update_score(self._result_id, e.similarity, e.verdict, e.probability_same)
        self.refresh()


VERDICT_PARTS = " · "  # between a case's verdict and its P (the worklist dock draws the two parts on two lines)


def _change_text(change: dict | None) -> str:
    """A follow-up case's "changed · area +27 %" (core.followup.visits.change_brief), or that it is not measured yet."""
    lead, figure = (change or {}).get("brief") or ("follow-up", "not measured yet")
    return f"{lead}{VERDICT_PARTS}{figure}" if figure else lead


def resolved(path) -> str:
    """A path as one file is named whichever way it was reached (a case's, a pulled visit's, a history's): '' for
    none."""
    return str(Path(path).resolve()) if path else ""


def _verdict_text(result: dict, band) -> str:
    """The model's verdict and the probability it follows from ("different · P 16.8 %"), never the raw
    similarity (which sits where P is not 0.5, so could contradict the verdict); a pair not assessed shows no
    number, as the score panel shows none."""
    verdict, probability = result.get("decision"), result.get("probability")
    if not verdict:
        return ""
    if verdict == NOT_ASSESSED or probability is None:
        return verdict
    return f"{verdict}{VERDICT_PARTS}P {shown_probability(probability, band)}"
