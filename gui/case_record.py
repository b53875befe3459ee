"""The case record of the pair under review (core.review.case_record): a small model, and a form bound to it both ways.

The model holds the one CaseRecord the next report carries; a worklist case fills it from the worklist (and saves
edits back), a one-off pair starts empty but for the reviewer's name, which is remembered. The form's fields take
the keyboard only when clicked, like the note, so one-letter review shortcuts never type into them; a value that
is not valid (a date that is not a date) is shown in red with the reason and never reaches the record.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLineEdit, QWidget

from .settings import Key
from .tasks import CaseRecord, check_date, check_text, from_images

# (attribute or acquired index, label, placeholder)
FIELDS = (("case_id", "Case", "case id"), ("patient_id", "Patient", "pseudonymised id"),
          ("body_site", "Body site", "e.g. left scapula"), (0, "Image 1 taken", "YYYY-MM-DD"),
          (1, "Image 2 taken", "YYYY-MM-DD"), ("reviewer", "Reviewer", "your name"))
ERROR_STYLE = "QLineEdit { color: #b0281e; }"


class CaseRecordState(QObject):
    """The record the next report carries. `changed(record)` after every accepted edit or replacement."""

    changed = Signal(object)
    replaced = Signal(object)  # a new case or pair: what was typed for the old one no longer applies

    def __init__(self, reviewer: str = "", parent=None):
        super().__init__(parent)
        self.record = CaseRecord(reviewer=reviewer)

    def set_record(self, record: CaseRecord) -> None:
        self.replaced.emit(record)
        self._set(record)

    def _set(self, record: CaseRecord) -> None:
        if record != self.record:
            self.record = record
            self.changed.emit(record)

    def new_pair(self) -> None:
        """A one-off pair: an empty record, the reviewer kept (the same person reviews the next pair)."""
        self.set_record(CaseRecord(reviewer=self.record.reviewer))

    def set_field(self, key, text: str) -> str:
        """Set one field from typed text; returns '' or why the text was refused (the record is then unchanged)."""
        try:
            if isinstance(key, int):
                acquired = list(self.record.acquired)
                acquired[key] = check_date(text)
                record = replace(self.record, acquired=tuple(acquired))
            else:
                record = replace(self.record, **{key: check_text(key.replace("_", " "), text)})
        except ValueError as exc:
            return str(exc)
        self._set(record)
        return ""


class CaseRecordForm(QWidget):
    """One line edit per field; an edit is applied when the field is left or Return is pressed."""

    def __init__(self, state: CaseRecordState, parent=None):
        super().__init__(parent)
        self.state = state
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.edits: dict = {}
        for key, label, placeholder in FIELDS:
            edit = QLineEdit()
            edit.setPlaceholderText(placeholder)
            edit.setFocusPolicy(Qt.ClickFocus)  # never typed into by a review shortcut
            edit.setAcceptDrops(False)  # dropped files go to the window
            edit.editingFinished.connect(lambda k=key, e=edit: self._apply(k, e))
            edit.returnPressed.connect(edit.clearFocus)  # Return ends the entry: the keys go back to the review
            form.addRow(f"{label}:", edit)
            self.edits[key] = edit
        state.changed.connect(self._show)
        state.replaced.connect(self._replace)
        self._replace(state.record)

    def problems(self) -> list[str]:
        """The fields showing a refused value (in red), as 'Label: why'; empty when every field is accepted."""
        labels = {key: label for key, label, _placeholder in FIELDS}
        return [f"{labels[key]}: {edit.toolTip()}" for key, edit in self.edits.items() if edit.styleSheet()]

    def _apply(self, key, edit: QLineEdit) -> None:
        problem = self.state.set_field(key, edit.text())
        edit.setStyleSheet(ERROR_STYLE if problem else "")
        edit.setToolTip(problem)

    def _show(self, record: CaseRecord) -> None:
        for key, edit in self.edits.items():
            value = record.acquired[key] if isinstance(key, int) else getattr(record, key)
            if edit.text() != value and not edit.styleSheet():  # a refused text stays visible until corrected
                with QSignalBlocker(edit):
                    edit.setText(value)

    def _replace(self, record: CaseRecord) -> None:
        for edit in self.edits.values():
            edit.setStyleSheet("")
            edit.setToolTip("")
        self._show(record)


def bind_case_record(state: CaseRecordState, session, worklist, settings=None) -> None:
    """Keep `state` the record of what is under review: an open worklist case's own record (edits saved back to
    the worklist at once), or, for a one-off pair, a fresh record that keeps the reviewer and takes what DICOM files
    say of the case. Swapping the two images is the same pair: what was typed stays."""
    pair: dict = {"paths": None}

    def open_case(row: int) -> None:
        if row >= 0:
            case = worklist.cases[row]
            record = case.record
            state.set_record(record if record.reviewer else replace(record, reviewer=state.record.reviewer))
            pair["paths"] = frozenset((case.image1, case.image2))

    def image_changed(_slot, _ready) -> None:
        loaded = [ready.image if ready is not None else None for ready in session.images]
        paths = frozenset(image.path for image in loaded if image is not None)
        if None in loaded or paths == pair["paths"] or session.loading():
            return  # half a pair, the same pair, or the other image still on its way
        pair["paths"] = paths
        if worklist.current < 0 or paths != frozenset(worklist.open_case_paths()):
            state.set_record(CaseRecord(reviewer=state.record.reviewer).merged(from_images(loaded)))

    def record_changed(record: CaseRecord) -> None:
        if settings is not None and record.reviewer:
            settings.setValue(Key.REVIEWER, record.reviewer)
        if worklist.current >= 0 and pair["paths"] == frozenset(worklist.open_case_paths()):
            worklist.save_record(record)

    worklist.current_changed.connect(open_case)
    session.image_changed.connect(image_changed)
    state.changed.connect(record_changed)
