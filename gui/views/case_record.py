"""The case record's form (the model: gui.models.case_record.CaseRecordState), bound to it both ways. Its fields take
the keyboard only when clicked, like the note, so one-letter review shortcuts never type into them; a refused value
stays shown in red, with the reason as its tooltip, until corrected."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QFormLayout, QLineEdit, QWidget

from ..jobs.tasks import CaseRecord
from ..models.case_record import FIELDS, CaseRecordState

ERROR_STYLE = "QLineEdit { color: #b0281e; }"


class CaseRecordForm(QWidget):
    """One line edit per field; an edit is applied when the field is left or Return is pressed. A refused text
    stays shown in red, with the reason as its tooltip, until corrected."""

    def __init__(self, state: CaseRecordState, parent=None):
        super().__init__(parent)
        self.state = state
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.edits: dict = {}
        for key, label, placeholder in FIELDS:
            edit = QLineEdit()
            edit.setPlaceholderText(placeholder)
            edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # never typed into by a review shortcut
            edit.setAcceptDrops(False)  # dropped files go to the window
            edit.editingFinished.connect(lambda k=key, e=edit: self.state.set_field(k, e.text()))
            edit.returnPressed.connect(edit.clearFocus)  # Return ends the entry: the keys go back to the review
            form.addRow(f"{label}:", edit)
            self.edits[key] = edit
        state.changed.connect(self._show)
        state.replaced.connect(self._show)
        state.refusals_changed.connect(self._show_refusals)
        self._show(state.record)

    def _show_refusals(self) -> None:
        for key, edit in self.edits.items():
            why = self.state.refused.get(key, "")
            edit.setStyleSheet(ERROR_STYLE if why else "")
            edit.setToolTip(why)

    def _show(self, record: CaseRecord) -> None:
        self._show_refusals()
        for key, edit in self.edits.items():
            value = record.acquired[key] if isinstance(key, int) else getattr(record, key)
            if edit.text() != value and key not in self.state.refused:  # a refused text stays until corrected
                with QSignalBlocker(edit):
                    edit.setText(value)
                    # a long id's start tells cases apart ("004711-left-…"), not its end where setText leaves it
                    edit.setCursorPosition(0)
