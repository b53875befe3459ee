"""The case record form: bound both ways to its model, refusing bad values visibly, never taking review keys."""

from __future__ import annotations

from PySide6.QtCore import Qt

from core.case_record import CaseRecord
from gui.case_record import CaseRecordForm, CaseRecordState


def _type(qtbot, edit, text):
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    edit.editingFinished.emit()


def test_typed_fields_reach_the_record_and_bad_dates_do_not(qtbot):
    state = CaseRecordState(reviewer="Dr. K")
    form = CaseRecordForm(state)
    qtbot.addWidget(form)
    assert form.edits["reviewer"].text() == "Dr. K"
    with qtbot.waitSignal(state.changed):
        _type(qtbot, form.edits["patient_id"], "PSN-9")
    _type(qtbot, form.edits[0], "2026-02-30")
    assert state.record.patient_id == "PSN-9" and state.record.acquired == ("", "")
    assert "not a date" in form.edits[0].toolTip() and form.edits[0].styleSheet()
    _type(qtbot, form.edits[0], "2026-02-28")
    assert state.record.acquired == ("2026-02-28", "") and not form.edits[0].styleSheet()
    assert all(edit.focusPolicy() == Qt.ClickFocus for edit in form.edits.values())


def test_a_new_pair_clears_the_record_but_keeps_the_reviewer(qtbot):
    state = CaseRecordState(reviewer="Dr. K")
    form = CaseRecordForm(state)
    qtbot.addWidget(form)
    state.set_record(CaseRecord(case_id="C-1", patient_id="P", reviewer="Dr. K"))
    assert form.edits["case_id"].text() == "C-1"
    _type(qtbot, form.edits[1], "not a date")
    state.new_pair()
    assert state.record == CaseRecord(reviewer="Dr. K")
    assert form.edits["case_id"].text() == "" and form.edits[1].text() == "" and not form.edits[1].styleSheet()
