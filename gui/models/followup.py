"""Follow-up review without widgets (core.followup.visits): image 2 as a later visit of image 1's lesion, aligned
onto it and measured on the runner; its report written on the runner. The dock (gui.views.followup_dock) only draws
`result_changed`; what the report carries (the case record, the note) and whether it may be written at all (no
refused case-record field) is the presenter's (gui.presenters.commands).

A worklist case marked as a follow-up (CSV column kind) is aligned once its pair has been explained.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import export_followup as export_followup_task
from ..jobs.tasks import followup as followup_task

KEY, EXPORT_KEY = "followup", "followup-export"


class FollowUpReview(QObject):
    running = Signal()  # an alignment was asked for: the dock shows itself and says so
    result_changed = Signal(object)  # core.followup.visits.FollowUp, or None when the shown one no longer applies

    def __init__(self, session, problems, worklist=None):
        super().__init__()
        self.session, self.problems, self.result = session, problems, None
        self._pending_case = False  # a follow-up case was opened: align it once its pair is explained
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
        self.running.emit()
        s.runner.submit(KEY, followup_task, tuple(images), s.method, label="Aligning and measuring the follow-up…",
                        on_result=self._set,
                        on_error=lambda text: self.problems.report(KEY, f"Follow-up failed: {text}"))

    def export_to(self, path: str, record=None, note: str = "", overwrite: bool = False) -> bool:
        """The follow-up report (PNG, PDF or DICOM by the name) with both visits' dates and measurements; False
        when there is no follow-up to report."""
        s = self.session
        if self.result is None:
            self.problems.report(KEY, "Nothing to export yet: align the pair first (Ctrl+U)")
            return False
        s.runner.submit(EXPORT_KEY, export_followup_task, path, self.result, record, note, overwrite,
                        label="Writing the follow-up report…",
                        on_result=lambda written: self._exported(written),
                        on_error=lambda text: self.problems.report(KEY, f"Report not saved: {text}"))
        return True

    def _exported(self, written: str) -> None:
        self.problems.clear(KEY)
        self.session.info.emit(f"Report saved: {written}")

    def _set(self, result) -> None:
        self.result = result
        self.result_changed.emit(result)

    def _case_opened(self, worklist, row: int) -> None:
        self._pending_case = row >= 0 and worklist.cases[row].kind == "followup"
        if self._pending_case and worklist.shows_open_case() and self.session.explained is not None:
            self._explanation_changed(self.session.explained)  # the case's pair was explained before it was told

    def _explanation_changed(self, explained) -> None:
        if explained is None:
            if self.result is not None:
                self._set(None)  # another pair, crop or model: the old alignment no longer applies
        elif self._pending_case:
            self._pending_case = False
            self.run()
