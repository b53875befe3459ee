"""The case record form: bound both ways to its model, refusing bad values visibly, never taking review keys."""

from __future__ import annotations

from PySide6.QtCore import Qt

from core.review.case_record import CaseRecord
from gui.models.case_record import CaseRecordState
from gui.views.case_record import CaseRecordForm


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


def test_reports_carry_the_typed_record_and_a_worklist_case_its_own_and_the_reviewer_verdict(
        qtbot, make_window, images, tmp_path):
    import json

    from core.review.worklist import Worklist
    from tests.gui.conftest import TIMEOUT_MS

    window = make_window(worklist=tmp_path / "review.sqlite")
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    form = window.case_form
    _type(qtbot, form.edits["patient_id"], "PSN-1")
    _type(qtbot, form.edits["reviewer"], "Dr. K")
    report = tmp_path / "one-off.png"
    with qtbot.waitSignal(window.session.exported, timeout=TIMEOUT_MS):
        window.export_report_to(str(report))
    facts = json.loads(report.with_suffix(".json").read_text())
    assert facts["patient_id"] == "PSN-1" and facts["reviewer"] == "Dr. K" and facts["reviewer_verdict"] is None
    # A worklist case brings its own record (the reviewer's name stays); edits go back to the worklist.
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image1,image2,case_id,patient_id,body_site\n{images[1]},{images[2]},C-9,PSN-2,back\n")
    window.worklist.import_csv(str(pairs))
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["next_case"].trigger()
    assert form.edits["case_id"].text() == "C-9" and form.edits["reviewer"].text() == "Dr. K"
    _type(qtbot, form.edits["body_site"], "upper back")
    assert Worklist(tmp_path / "review.sqlite").cases()[0].body_site == "upper back"
    window.actions["agree"].trigger()
    report = tmp_path / "case.png"
    with qtbot.waitSignal(window.session.exported, timeout=TIMEOUT_MS):
        window.export_report_to(str(report))
    facts = json.loads(report.with_suffix(".json").read_text())
    assert (facts["case_id"], facts["patient_id"], facts["body_site"]) == ("C-9", "PSN-2", "upper back")
    assert facts["reviewer_verdict"] == "agree" and facts["reviewer"] == "Dr. K"


def test_return_gives_the_keys_back_and_a_refused_field_blocks_the_export(qtbot, make_window, images, tmp_path):
    from tests.gui.conftest import TIMEOUT_MS

    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    edit = window.case_form.edits["reviewer"]
    edit.setFocus()
    qtbot.keyClicks(edit, "Dr. K")
    qtbot.keyClick(edit, Qt.Key_Return)
    assert not edit.hasFocus() and window.case_record.record.reviewer == "Dr. K"
    _type(qtbot, window.case_form.edits[0], "2026-13-40")
    report = tmp_path / "r.png"
    assert window.export_report_to(str(report)) is False and not report.exists()
    assert any("correct the case record" in text for text in window.problem_bar.problems())


def test_after_swap_the_record_is_the_shown_pairs_and_edits_never_reach_the_case_left(qtbot, make_window, images,
                                                                                      tmp_path):
    """Issue #31 (a): Swap leaves the worklist case (its order is the case's); the record must follow the pair."""
    from core.review.worklist import Worklist
    from tests.gui.conftest import TIMEOUT_MS

    window = make_window(worklist=tmp_path / "review.sqlite")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image1,image2,case_id,patient_id,body_site\n{images[0]},{images[1]},C-9,PSN-2,back\n")
    window.worklist.import_csv(str(pairs))
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["next_case"].trigger()
    assert window.case_record.record.case_id == "C-9"
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["swap"].trigger()
    assert window.worklist.current == -1
    assert window.case_record.record.case_id == "" and window.case_form.edits["case_id"].text() == ""
    _type(qtbot, window.case_form.edits["body_site"], "left scapula")
    assert window.case_record.record.body_site == "left scapula"
    assert Worklist(tmp_path / "review.sqlite").cases()[0].body_site == "back"


def test_a_long_case_id_from_a_worklist_shows_its_start_in_a_narrow_field(qtbot):
    state = CaseRecordState()
    form = CaseRecordForm(state)
    qtbot.addWidget(form)
    form.resize(240, form.sizeHint().height())  # the score column's width at 1366 x 768
    form.show()
    case = "004711-left-forearm-dermoscopy-comparison-with-follow-up-visit-2026-09-14"
    state.set_record(CaseRecord(case_id=case))
    edit = form.edits["case_id"]
    assert edit.text() == case and edit.cursorPosition() == 0  # the start shown, not "…visit-2026-09-14"
