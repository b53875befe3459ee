"""Follow-up review without widgets (core.followup.visits): image 2 as a later visit of image 1's lesion, aligned
onto it and measured on the runner; its report written on the runner. The dock (gui.views.followup_dock) only draws
`result_changed`; what the report carries (the case record, the note) and whether it may be written at all (no
refused case-record field) is the presenter's (gui.presenters.commands).

What the reviewer chooses for the follow-up is held here, not in the dock: the registration mode (auto, or an
override), the pixel size in mm (refused with one line when it is not a size), and the assessment printed on the
report; changing the mode or the pixel size redoes the follow-up shown. The pixel size and the assessment are kept
with the pair (gui.models.open_pair.OpenPair) and come back when it is opened again, never on another pair; where
each visit's scale came from (typed, over a DICOM file's own spacing or not, the file's, none) is core's fact of the
result (core.followup.visits.pixel_scale), which the dock shows for as long as the result is shown.

A worklist case marked as a follow-up (CSV column kind) is aligned once its pair has been explained; when other
follow-up cases share its lesion (patient id, body site, lesion id) and so bring more than two visits, the lesion's
history is opened instead, from whichever of its cases was opened.

A lesion's history (more than two visits: File > Follow-up history, or a worklist case's lesion) is computed on
the runner (gui.jobs.tasks.followup_history); `result` is then its last visit against the baseline (what the
report explains), `history` the whole of it, and the reviewer steps through its visits (`visit`, 1..N-1 against the
baseline) and blinks between any two (`blink_pair`).

The maps its report draws are the aligned pair's, treated as the main view treats a pair's (gui.models.session):
refined and checked in the background once the follow-up is shown (MAPS_KEY, with progress; a new follow-up or
pair cancels it), `maps` then holding them and `maps_error` why they could not be; the report uses them, or
refines and checks them itself when asked for before they are ready.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import export_followup as export_followup_task
from ..jobs.tasks import followup as followup_task
from ..jobs.tasks import followup_history as history_task
from ..jobs.tasks import followup_maps as maps_task
from ..jobs.tasks import read_pixel_size
from .worklist import resolved

KEY, EXPORT_KEY, MAPS_KEY = "followup", "followup-export", "followup-maps"
REGISTRATION_MODES = ("auto", "rigid", "similarity")  # core.followup.registration's; auto chooses by the evidence


class FollowUpReview(QObject):
    running = Signal()  # an alignment was asked for: the dock shows itself and says so
    result_changed = Signal(object)  # core.followup.visits.FollowUp, or None when the shown one no longer applies

    settings_changed = Signal()  # the mode, pixel size or assessment changed: the dock shows them
    history_changed = Signal(object)  # gui.jobs.tasks.HistoryShown, or None
    visit_changed = Signal()  # the visit stepped to, or the two blinked between
    maps_changed = Signal()  # the report's maps: being refined and checked, checked, or failed

    def __init__(self, session, problems, worklist=None, case_record=None, pair=None):
        super().__init__()
        self.session, self.problems, self.result = session, problems, None
        self.pair = pair  # gui.models.open_pair.OpenPair: where the assessment typed is kept, as the note is
        self.worklist = worklist  # gui.models.worklist.WorklistController: a follow-up case keeps what changed
        self.case_record = case_record  # gui.models.case_record.CaseRecordState: the visits' dates, for the interval
        self.mode, self.pixel_size_text, self.assessment = "auto", "", ""
        self.history = None  # gui.jobs.tasks.HistoryShown while a lesion's history is shown
        self._history_request: tuple | None = None  # (paths, dates) of the history shown: redone on a new mode
        self.visit, self.blink_pair = 1, (0, 1)
        self.maps = None  # gui.jobs.tasks.FollowupMaps of `result` once refined and checked
        self._export_waiting: tuple | None = None  # a report asked for while its maps were being checked
        self.maps_error = ""  # why they could not be, one line
        self._pending_case = False  # a follow-up case was opened: align it once its pair is explained
        self._case_visits: list[tuple[str, str]] = []  # that case's lesion's visits (image, date)
        self._case_visit = ""  # its later visit: the history opened from it steps to that visit
        session.explanation_changed.connect(self._explanation_changed)
        if worklist is not None:
            worklist.current_changed.connect(lambda row: self._case_opened(worklist, row))

    def align_when_explained(self) -> None:
        """Align the next pair once it is explained (two visits opened from the PACS as a follow-up)."""
        self._pending_case = True

    def run(self) -> None:
        """Register, measure and explain the pair shown (image 1 the baseline), on the runner."""
        s = self.session
        images = [ready.image if ready is not None else None for ready in s.images]
        if None in images or s.model is None:
            self.problems.report(KEY, "Follow-up needs two images and a model")
            return
        if self._reported_bad_pixel_size():
            return
        size = self.pixel_size_mm()
        self.running.emit()
        s.runner.submit(KEY, followup_task, tuple(images), s.method, self.mode, size,
                        label="Aligning and measuring the follow-up…",
                        on_result=self._set,
                        on_error=lambda text: self.problems.report(KEY, f"Follow-up failed: {text}"))

    def run_history(self, paths: list[str], dates: list[str] | None = None) -> None:
        """The history of the lesion photographed in `paths` (two or more, any order: sorted by date; `dates`
        one ISO date or "" per path, None for the files' own), on the runner."""
        if len(paths) < 2:
            self.problems.report(KEY, f"A follow-up history needs two or more images, got {len(paths)}")
            return
        if self.session.model is None:
            self.problems.report(KEY, "Follow-up history needs a model")
            return
        if self._reported_bad_pixel_size():
            return
        size = self.pixel_size_mm()
        self._history_request = (tuple(paths), tuple(dates) if dates else None)
        self.running.emit()
        self.session.runner.submit(KEY, history_task, tuple(paths), self._history_request[1], self.session.method,
                                   self.mode, size, label=f"Aligning and measuring {len(paths)} visits…",
                                   on_result=self._set_history,
                                   on_error=lambda text: self.problems.report(KEY, f"Follow-up history failed: {text}"))

    def step(self, visit: int) -> None:
        """Show visit `visit` (1..N-1) against the baseline, and blink between the two."""
        if self.history is not None and 1 <= visit < len(self.history.pictures):
            self.visit, self.blink_pair = visit, (0, visit)
            self.visit_changed.emit()

    def set_blink_pair(self, first: int, second: int) -> None:
        """Blink (swipe, difference) between any two visits, 0 the baseline."""
        count = len(self.history.pictures) if self.history is not None else 0
        if 0 <= first < count and 0 <= second < count:
            self.blink_pair = (first, second)
            self.visit_changed.emit()

    def shown(self):
        """The comparison the table and headline show: the visit stepped to against the baseline."""
        if self.history is not None:
            return self.history.history.comparisons[self.visit - 1]
        return self.result

    def _set_history(self, shown) -> None:
        self.problems.clear(KEY)
        self.history = shown
        last = len(shown.pictures) - 1
        files = [resolved(visit["file"] or "") for visit in shown.facts["visits"]]
        if self._case_visit in files[1:]:
            last = files.index(self._case_visit)
        self._case_visit = ""
        self.visit, self.blink_pair = last, (0, last)
        self.result = shown.last
        self._check_maps(shown.last)
        self._keep_change()
        self.history_changed.emit(shown)
        self.result_changed.emit(shown.last)

    def set_mode(self, mode: str) -> None:
        """auto, rigid or similarity; the follow-up shown is redone with it."""
        if mode not in REGISTRATION_MODES:
            raise ValueError(f"registration mode {mode!r}: one of {', '.join(REGISTRATION_MODES)}")
        if mode != self.mode:
            self.mode = mode
            self.settings_changed.emit()
            self._redo()

    def set_pixel_size(self, text: str) -> None:
        """The size of one baseline pixel in mm as typed; empty: a DICOM file's, else pixels."""
        text = text.strip()
        if text != self.pixel_size_text:
            self.pixel_size_text = text
            self.settings_changed.emit()
            if not self._reported_bad_pixel_size():
                if self.pair is not None:
                    self.pair.save_pixel_size(text)  # a size, or none: never a text that is not one
                self.problems.clear(KEY)
                self._redo()

    def set_assessment(self, text: str) -> None:
        """The reviewer's assessment of the follow-up, printed on its report and kept with the pair at once."""
        if text != self.assessment:
            self.assessment = text
            if self.pair is not None:
                self.pair.save_followup_assessment(text)
            self.settings_changed.emit()

    def new_pair(self, identity) -> None:
        """Another pair under review (gui.models.open_pair.OpenPair.changed; None: half a pair, nothing yet): the
        assessment typed for the last lesion must never reach this one's report; this pair's own, typed before,
        comes back (it was lost with another pair opened, or a quit). Nor the pixel size typed for it: it measured
        the next case in mm by another lesion's scale, over a DICOM file's own spacing; this pair's own comes back
        (typed again on each opening, it was forgotten or mistyped)."""
        if identity is not None:
            self.assessment = self.pair.followup_assessment() if self.pair is not None else ""
            self.pixel_size_text = self.pair.pixel_size() if self.pair is not None else ""
            self.settings_changed.emit()

    def pair_swapped(self) -> None:
        """The same one-off pair shown the other way round: its baseline is the other photograph, so the size kept
        for this one as the baseline (if any) applies, not the one typed for the other."""
        if self.pair is not None and self.pair.pixel_size() != self.pixel_size_text:
            self.pixel_size_text = self.pair.pixel_size()
            self.settings_changed.emit()

    def pixel_size_mm(self) -> float | None:
        """The typed pixel size in mm (core's rule: gui.jobs.tasks.read_pixel_size); None when empty, or when it is
        not a size (then the problem bar says so)."""
        try:
            return read_pixel_size(self.pixel_size_text)
        except ValueError:
            return None

    def _reported_bad_pixel_size(self) -> bool:
        """Whether the typed pixel size is not a size; if so the problem bar says so."""
        try:
            read_pixel_size(self.pixel_size_text)
        except ValueError as exc:
            self.problems.report(KEY, f"Pixel size {exc}, or leave it empty")
            return True
        return False

    def interval_days(self) -> int | None:
        """Days between the two visits from the case record's dates; None when either is unknown."""
        from datetime import date

        record = getattr(self.case_record, "record", None)
        dates = getattr(record, "acquired", ("", ""))
        if not (dates and dates[0] and dates[-1]):
            return None
        try:
            return (date.fromisoformat(dates[-1]) - date.fromisoformat(dates[0])).days
        except ValueError:
            return None

    def _redo(self) -> None:
        if self.history is not None and self._history_request is not None:
            self.run_history(list(self._history_request[0]), self._history_request[1])
        elif self.result is not None:
            self.run()

    def export_to(self, path: str, record=None, note: str = "", overwrite: bool = False) -> bool:
        """The follow-up report (PNG, PDF or DICOM by the name) with both visits' dates and measurements; False
        when there is no follow-up to report."""
        s = self.session
        if self.result is None:
            self.problems.report(KEY, "Nothing to export yet: align the pair first (Ctrl+U)")
            return False
        request = (path, self.result, record, note, overwrite, self.assessment.strip(),
                   self.history.facts if self.history is not None else None)
        if self.maps is None and s.runner.is_pending(MAPS_KEY):
            self._export_waiting = request  # written once its maps are checked: they are never refined twice
            return True
        self._submit_export(request, self.maps)
        return True

    def _submit_export(self, request: tuple, maps) -> None:
        """Write the report asked for; `maps` None: the export refines and checks them first."""
        self.session.runner.submit(EXPORT_KEY, export_followup_task, *request, maps,
                                   label="Writing the follow-up report…" if maps is not None
                                   else "Refining and checking the maps, then writing the follow-up report…",
                                   on_result=lambda written: self._exported(written),
                                   on_error=lambda text: self.problems.report(KEY, f"Report not saved: {text}"))

    def _release_export(self, result, maps) -> None:
        """The report waiting for `result`'s maps (`maps`: checked, or None) is written now."""
        request, self._export_waiting = self._export_waiting, None
        if request is not None:
            self._submit_export(request, maps if request[1] is result else None)

    def _exported(self, written: str) -> None:
        self.problems.clear(KEY)
        self.session.info.emit(f"Report saved: {written}")

    def _set(self, result) -> None:
        if self.history is not None:  # a pair's follow-up, or none: the history shown no longer applies
            self.history = self._history_request = None
            self.history_changed.emit(None)
        self.result = result
        self._check_maps(result)
        self._keep_change()
        self.result_changed.emit(result)

    def _keep_change(self) -> None:
        """The open worklist case's list shows what its follow-up found (the comparison shown, when it is the case's
        own pair of visits) instead of the model's verdict."""
        shown = self.shown()
        changes = getattr(shown, "changes", None)
        if self.worklist is not None and changes is not None and "change_brief" in changes:
            self.worklist.save_followup_change([image.path for image in shown.images], changes)

    def _check_maps(self, result) -> None:
        """Refine and check the maps of the follow-up now shown (None: none), as the main view does a pair's."""
        self.maps, self.maps_error = None, ""
        self._release_export(None, None)  # a report asked for of the follow-up shown before: written, not lost
        self.session.runner.cancel(MAPS_KEY)  # of a follow-up no longer shown
        if result is not None and getattr(result, "explanation", None) is not None:
            self.session.runner.submit(MAPS_KEY, maps_task, result,
                                       label="Refining and checking the follow-up's maps…",
                                       on_result=lambda maps: self._maps_checked(result, maps),
                                       on_error=lambda text: self._maps_failed(result, text))
        self.maps_changed.emit()

    def _maps_checked(self, result, maps) -> None:
        if result is self.result:
            self.maps = maps
            self.maps_changed.emit()
        self._release_export(result, maps)

    def _maps_failed(self, result, text: str) -> None:
        if result is self.result:
            self.maps_error = text
            self.maps_changed.emit()
        self._release_export(result, None)

    def _case_opened(self, worklist, row: int) -> None:
        self._pending_case = row >= 0 and worklist.cases[row].kind == "followup"
        self._case_visits = worklist.lesion_visits(row) if self._pending_case else []
        self._case_visit = resolved(worklist.cases[row].image2) if self._pending_case else ""
        if self._pending_case and worklist.shows_open_case() and self.session.explained is not None:
            self._explanation_changed(self.session.explained)  # the case's pair was explained before it was told

    def _explanation_changed(self, explained) -> None:
        if explained is None:
            if self.result is not None:
                self._set(None)  # another pair, crop or model: the old alignment no longer applies
        elif self._pending_case:
            self._pending_case = False
            if len(self._case_visits) > 2:  # the case is one visit pair of a longer history: show all of it
                self.run_history([path for path, _ in self._case_visits], [when for _, when in self._case_visits])
            else:
                self.run()
