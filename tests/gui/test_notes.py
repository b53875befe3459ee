"""Nothing typed is lost: the note on a pair opened outside a worklist survives quitting, and `kill -9` mid-typing,
and comes back when the same two images are opened again (issue "A workstation that fits a clinic")."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.gui.conftest import NOTE, TIMEOUT_MS, switch_model, type_note_then_kill


def open_pair(qtbot, window, paths):
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(p) for p in paths])


def type_note(qtbot, window, text):
    qtbot.mouseClick(window.note.viewport(), Qt.LeftButton)  # the note takes the keyboard only when clicked
    QTest.keyClicks(window.note, text)


def test_a_note_on_a_one_off_pair_survives_quit_and_relaunch(qtbot, make_window, images, tmp_path):
    ini = tmp_path / "notes.ini"
    first = make_window(ini)
    open_pair(qtbot, first, images[:2])
    type_note(qtbot, first, "compare with last visit")
    assert first.note.toPlainText() == "compare with last visit"
    open_pair(qtbot, first, [images[0], images[2]])  # another pair has its own (empty) note
    assert first.note.toPlainText() == ""
    first.close()
    second = make_window(ini)
    assert second.note.toPlainText() == ""
    open_pair(qtbot, second, [images[1], images[0]])  # the same pair, swapped: the same note
    assert second.note.toPlainText() == "compare with last visit"
    second.note.setPlainText("")  # cleared: cleared for good
    open_pair(qtbot, second, [images[0], images[2]])
    open_pair(qtbot, second, images[:2])
    assert second.note.toPlainText() == ""


def test_a_one_off_pairs_record_and_assessment_survive_quit_and_reach_the_report(qtbot, make_window, images,
                                                                                   tmp_path):
    """Issue #31 (c): only the note was kept; Agree outside a worklist did nothing and the report said none."""
    import json

    ini = tmp_path / "record.ini"
    first = make_window(ini)
    open_pair(qtbot, first, images[:2])
    assert first.case_record.set_field("patient_id", "PSN-7") == ""
    first.actions["disagree"].trigger()
    first.close()
    second = make_window(ini)
    open_pair(qtbot, second, [images[1], images[0]])  # the same pair, swapped
    assert second.case_record.record.patient_id == "PSN-7"
    assert second.case_form.edits["patient_id"].text() == "PSN-7"
    report = tmp_path / "r.png"
    with qtbot.waitSignal(second.session.exported, timeout=TIMEOUT_MS):
        second.export_report_to(str(report))
    facts = json.loads(report.with_suffix(".json").read_text())
    assert facts["patient_id"] == "PSN-7" and facts["reviewer_verdict"] == "disagree"
    open_pair(qtbot, second, [images[0], images[2]])  # another pair: its own, empty record
    assert second.case_record.record.patient_id == ""


def test_a_one_off_pairs_assessment_holds_only_for_the_verdict_it_was_given_on(qtbot, make_window, images,
                                                                               other_weights, tmp_path):
    """Agreed with one model's verdict, then another model chosen: the report said the reviewer "agrees with the
    model's verdict (not assessed)", a verdict never seen. Back on the first model, the agreement is back."""
    import json

    window = make_window(tmp_path / "agree.ini")
    first_model = window.session.model.path
    open_pair(qtbot, window, images[:2])
    assert not window.score.assessment.isVisible()
    window.actions["agree"].trigger()
    assert window.commands.reviewer_verdict() == "agree"
    assert window.score.assessment.isVisible() and "You agree" in window.score.assessment.text()  # seen, not only
    switch_model(qtbot, window, str(other_weights))  # said in a status message that fades
    assert window.commands.reviewer_verdict() is None and not window.score.assessment.isVisible()
    report = tmp_path / "r.png"
    with qtbot.waitSignal(window.session.exported, timeout=TIMEOUT_MS):
        window.export_report_to(str(report))
    assert json.loads(report.with_suffix(".json").read_text())["reviewer_verdict"] is None
    switch_model(qtbot, window, first_model)
    assert window.commands.reviewer_verdict() == "agree" and window.score.assessment.isVisible()


def test_a_one_off_pairs_note_record_and_assessment_survive_kill_9(qtbot, make_window, images, tiny_weights,
                                                                     tmp_path):
    """One killed child for all three (each child costs a model load and a window: about 30 s on this machine)."""
    ini = tmp_path / "killed.ini"
    start = (f"station.start(images=[{str(images[0])!r}, {str(images[1])!r}], model_path={str(tiny_weights)!r}, "
             "device='cpu')")
    line = type_note_then_kill(tmp_path, ini, tmp_path / "w.sqlite", start,
                               "window.session.explained is not None and window.pair.identity is not None",
                               "window.case_record.set_field('body_site', 'left scapula'); "
                               "window.actions['agree'].trigger()")
    assert "typed" in line
    window = make_window(ini)
    open_pair(qtbot, window, images[:2])
    assert window.case_record.record.body_site == "left scapula" and window.note.toPlainText() == NOTE
    assert window.commands.reviewer_verdict() == "agree"


def test_a_pair_store_of_an_earlier_version_opens_and_keeps_its_notes_and_the_pixel_size(tmp_path):
    """A pair-notes file written before the pixel size was kept (notes only) opens with its notes; the pixel size is
    kept for the baseline it was typed for; an unreadable value reads as none typed, never a crash."""
    import sqlite3

    from gui.models.pair_store import SCHEMA, PairStore

    path = tmp_path / "pair-notes.sqlite"
    db = sqlite3.connect(path)
    db.execute(SCHEMA)
    db.execute("INSERT INTO notes (pair, note, updated) VALUES ('k', 'seen before', 'then')")
    db.commit()
    db.close()
    store = PairStore(path)
    assert store.get("k") == "seen before" and store.pixel_size("k", "sha-a") == ""
    store.put_pixel_size("k", "0.02", "sha-a")
    assert store.pixel_size("k", "sha-a") == "0.02" and store.pixel_size("k", "sha-b") == ""
    store.put("k", "")
    store.put_pixel_size("other", "0.03", "sha-a")  # a pixel size alone keeps a row
    store.close()
    store = PairStore(path)
    assert store.get("k") is None and store.pixel_size("k", "sha-a") == "0.02"
    assert store.pixel_size("other", "sha-a") == "0.03"
    store.put_pixel_size("other", "", "sha-a")  # cleared: nothing left, no row
    assert store._db is not None
    assert store._db.execute("SELECT COUNT(*) FROM notes WHERE pair='other'").fetchone() == (0,)
    store._db.execute("UPDATE notes SET pixel_size='not json' WHERE pair='k'")
    assert store.pixel_size("k", "sha-a") == ""
    store.close()
