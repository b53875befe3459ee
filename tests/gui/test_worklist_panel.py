"""The worklist dock: navigate cases with the keyboard, decisions and notes saved at once, nothing lost on a kill."""

from __future__ import annotations

from core.review.worklist import Worklist
from core.trust.verdict import VERDICTS
from gui.views.worklist_dock import COLUMNS
from tests.gui.conftest import NOTE, TIMEOUT_MS, make_image, switch_model, type_note_then_kill


def make_cases(tmp_path, count=3):
    images = [make_image(tmp_path / f"case{n}.png", (80, 72), 40 + n) for n in range(count + 1)]
    pairs = tmp_path / "pairs.csv"
    rows = [f'{images[n]},{images[n + 1]},case-{n},"{"0,0,60,60" if n == 1 else ""}",,' for n in range(count)]
    pairs.write_text("image1,image2,case_id,crop1,crop2,note\n" + "\n".join(rows) + "\n")
    return images, pairs


def test_keyboard_review_of_a_worklist_is_saved_at_once(qtbot, make_window, tmp_path):
    images, pairs = make_cases(tmp_path)
    store = tmp_path / "review.sqlite"
    window = make_window(worklist=store)
    window.worklist.import_csv(str(pairs))
    assert window.worklist_dock.table.rowCount() == 3
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["next_case"].trigger()  # J: the first case
    assert window.worklist.current == 0 and window.session.images[0].image.path == str(images[0])
    table = window.worklist_dock.table
    assert table.item(0, COLUMNS.index("Review")).text() == "in review"  # the status; no reviewer's verdict yet
    qtbot.waitUntil(lambda: table.item(0, COLUMNS.index("Model verdict")).text().split("\n")[0] in VERDICTS,
                    timeout=TIMEOUT_MS)
    window.actions["disagree"].trigger()
    window.note.setPlainText("border irregular")
    window.actions["case_done"].trigger()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["next_case"].trigger()
    assert window.session.crops[0] == (0, 0, 60, 60)  # the case's crop came with it
    assert window.note.toPlainText() == ""  # a new case has its own note
    # Saved without any exit: another connection sees it now.
    other = Worklist(store)
    first = other.cases()[0]
    assert first.status == "done"
    result = other.latest_result(first.id)
    assert result["reviewer_decision"] == "disagree" and result["reviewer_note"] == "border irregular"
    assert result["similarity"] is not None and result["decision"] in VERDICTS
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["previous_case"].trigger()
    assert window.note.toPlainText() == "border irregular"


def test_a_note_survives_another_model_scoring_the_case(qtbot, make_window, other_weights, tmp_path):
    """The note typed on a case, then another model chosen (a new result for the case): the case reopened in a
    new window still has the note (it was the new result's empty one)."""
    _images, pairs = make_cases(tmp_path, count=1)
    store = tmp_path / "review.sqlite"
    window = make_window(worklist=store)
    pairs.write_text(pairs.read_text().replace(',case-0,"",,', ',case-0,"",,referred: changing mole'))
    window.worklist.import_csv(str(pairs))
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["next_case"].trigger()
    assert window.note.toPlainText() == "referred: changing mole"  # the note the case came with
    window.note.setPlainText("border irregular")
    switch_model(qtbot, window, str(other_weights))
    latest = window.worklist.store.latest_result(window.worklist.cases[0].id)
    assert latest["model_sha256"] == window.session.model.info.sha256  # the other model's result is the newest
    window.close()
    again = make_window(tmp_path / "again.ini", worklist=store)
    with qtbot.waitSignal(again.overlays_shown, timeout=TIMEOUT_MS):
        again.actions["next_case"].trigger()
    assert again.note.toPlainText() == "border irregular"


def test_a_typed_note_survives_kill_9(tmp_path):
    images, pairs = make_cases(tmp_path, count=1)
    store = tmp_path / "review.sqlite"
    line = type_note_then_kill(tmp_path, tmp_path / "s.ini", store,
                               f"window.worklist.import_csv({str(pairs)!r}); station.start(device='cpu')",
                               "window.session.model is not None", "window.worklist.open_case(0)")
    assert "typed" in line
    worklist = Worklist(store)
    case = worklist.cases()[0]
    assert worklist.latest_result(case.id)["reviewer_note"] == NOTE


def test_the_verdict_column_shows_the_verdict_and_p_never_the_raw_similarity():
    from gui.models.worklist import _verdict_text

    band = (0.17, 0.81)
    assert _verdict_text({"decision": "different", "probability": 0.168, "similarity": 0.7031}, band) == (
        "different · P 16.8 %")
    assert _verdict_text({"decision": "similar", "probability": 0.93, "similarity": 0.9}, band) == "similar · P 93 %"
    assert _verdict_text({"decision": "not assessed", "probability": 0.84, "similarity": 0.949}, band) == (
        "not assessed")
    assert _verdict_text({"decision": "inconclusive", "probability": None, "similarity": 0.5}, None) == (
        "inconclusive")
    assert _verdict_text({}, band) == ""
