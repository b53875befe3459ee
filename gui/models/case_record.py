"""The case record of the pair under review (core.review.case_record): a small model, and a form bound to it both ways.

The model holds the one CaseRecord the next report carries; a worklist case fills it from the worklist (and saves
edits back), a one-off pair from the pair store, a new pair starts empty but for the reviewer's name, which is
remembered. A value that is not valid (a date that is not a date) never reaches the record: the model holds the
refusal, the form (gui.views.case_record) shows it in red with the reason.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import CaseRecord, check_date, check_text, from_images

# (attribute or acquired index, label, placeholder)
FIELDS = (("case_id", "Case", "case id"), ("patient_id", "Patient", "pseudonymised id"),
          ("body_site", "Body site", "e.g. left scapula"), (0, "Image 1 taken", "YYYY-MM-DD"),
          (1, "Image 2 taken", "YYYY-MM-DD"), ("reviewer", "Reviewer", "your name"))
LABELS = {key: label for key, label, _placeholder in FIELDS}


class CaseRecordState(QObject):
    """The record the next report carries, and the fields whose typed text was refused: a report (pair or
    follow-up) is never written while one is, since it would silently lack what the reviewer typed.
    `changed(record)` after every accepted edit or replacement; `refusals_changed()` when a refusal comes or goes."""

    changed = Signal(object)
    replaced = Signal(object)  # a new case or pair: what was typed for the old one no longer applies
    refusals_changed = Signal()

    def __init__(self, reviewer: str = "", parent=None):
        super().__init__(parent)
        self.record = CaseRecord(reviewer=reviewer)
        self.refused: dict = {}  # field key -> why its typed text was refused

    def set_record(self, record: CaseRecord) -> None:
        had_refusals, self.refused = bool(self.refused), {}
        self.replaced.emit(record)
        self._set(record)
        if had_refusals:
            self.refusals_changed.emit()

    def _set(self, record: CaseRecord) -> None:
        if record != self.record:
            self.record = record
            self.changed.emit(record)

    def new_pair(self) -> None:
        """A one-off pair: an empty record, the reviewer kept (the same person reviews the next pair)."""
        self.set_record(CaseRecord(reviewer=self.record.reviewer))

    def set_field(self, key, text: str) -> str:
        """Set one field from typed text; returns '' or why the text was refused (the record is then unchanged and
        the refusal held until the field is corrected or the record replaced)."""
        try:
            if isinstance(key, int):
                acquired = list(self.record.acquired)
                acquired[key] = check_date(text)
                record = replace(self.record, acquired=(acquired[0], acquired[1]))
            else:
                values: dict[str, str] = {key: check_text(key.replace("_", " "), text)}
                record = replace(self.record, **values)  # type: ignore[arg-type]  # key: a str field of FIELDS
        except ValueError as exc:
            self.refused[key] = str(exc)
            self.refusals_changed.emit()
            return str(exc)
        if self.refused.pop(key, None) is not None:
            self.refusals_changed.emit()
        self._set(record)
        return ""

    def swap_images(self) -> None:
        """The pair's images swapped places: each date (and a refusal of it) follows its image."""
        self.refused = {(1 - key if isinstance(key, int) else key): why for key, why in self.refused.items()}
        self._set(replace(self.record, acquired=(self.record.acquired[1], self.record.acquired[0])))
        self.refusals_changed.emit()

    def problems(self) -> list[str]:
        """The refused fields as 'Label: why'; empty when every typed field was accepted."""
        return [f"{LABELS[key]}: {why}" for key, why in self.refused.items()]

    def blocks_report(self, problems, source: str) -> bool:
        """Whether a report must wait for the record to be corrected (a refused field); if so `problems` (the
        app's Problems) says which, under `source`."""
        refused = self.problems()
        if refused:
            problems.report(source, "Report not saved: correct the case record first (" + "; ".join(refused) + ")")
        return bool(refused)


def bind_case_record(state: CaseRecordState, pair) -> None:
    """Keep `state` the record of the pair under review (gui.models.open_pair.OpenPair): a worklist case's own record, a
    one-off pair's as last typed, or, for a pair never recorded, a fresh record that keeps the reviewer and takes
    what DICOM files say of the case. Every accepted edit is saved with the pair at once; the reviewer's name stays
    for the next pair."""
    replacing = {"on": False}

    def pair_changed(identity) -> None:
        if identity is None:
            return  # half a pair: what is shown stays until the pair is complete
        stored = pair.stored_record()
        if stored is None:
            loaded = [ready.image for ready in pair.session.images]
            stored = CaseRecord(reviewer=state.record.reviewer).merged(from_images(loaded))
        elif not stored.reviewer:
            stored = replace(stored, reviewer=state.record.reviewer)
        replacing["on"] = True  # showing what is stored is not an edit to save back
        try:
            state.set_record(stored)
        finally:
            replacing["on"] = False

    def record_changed(record: CaseRecord) -> None:
        if not replacing["on"]:
            pair.save_record(record)

    pair.changed.connect(pair_changed)
    pair.swapped.connect(state.swap_images)
    state.changed.connect(record_changed)
