"""The follow-up dock: image 2 aligned onto image 1, shown in blink, swipe and difference modes, with
measurements, and nudged by hand with undo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import TIMEOUT_MS

SKIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "skin" / "malignant"


def test_followup_aligns_measures_and_offers_three_views(qtbot, make_window, tmp_path):
    source = sorted(SKIN.glob("*.jpg"))[0]
    baseline = tmp_path / "visit1.png"
    Image.open(source).convert("RGB").save(baseline)
    later = tmp_path / "visit2.png"
    Image.open(source).convert("RGB").rotate(12, resample=Image.BICUBIC, fillcolor=(120, 80, 70)).save(later)
    window = make_window()
    window.resize(1366, 768)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(baseline), str(later)])
    dock = window.followup_dock
    window.actions["followup"].trigger()  # Ctrl+U
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    assert dock.isVisible() and dock.result.registration.ok and not dock.view.pixmap().isNull()
    assert dock.table.item(0, 0).text() not in ("", "–") and "×" in dock.table.item(0, 2).text()
    assert dock.result.changes["change_headline"] in dock.headline.text()  # what changed leads
    # PNG visits, nothing typed: said beside the Pixel field for as long as the follow-up is shown, no mm figures
    assert dock.scale.text().startswith("Scale: pixel size unknown: no mm figures") and dock.scale.isVisible()
    assert dock.result.explanation.verdict in dock.verdict.text().lower() and "#5f5f5f" in dock.verdict.text()
    qtbot.waitUntil(lambda: dock.view.height() >= window.height() / 2, timeout=TIMEOUT_MS)  # the view uses the screen
    dock.registration_mode.setCurrentIndex(dock.registration_mode.findData("similarity"))  # an override, redone
    qtbot.waitUntil(lambda: dock.result is not None and dock.result.registration.mode == "similarity",
                    timeout=TIMEOUT_MS)
    assert dock.result.registration.chosen_by == "given"
    assert window.followup.mode == "similarity"  # the choice is the model's state, the dock only forwards it
    dock.pixel_size.setText("abc")
    dock.pixel_size.editingFinished.emit()
    assert window.followup.pixel_size_text == "abc"
    assert any("Pixel size" in text for text in window.problems.texts())
    window.followup.run()  # refused while the pixel size is not a size: the shown follow-up stays
    assert dock.result.registration.mode == "similarity"
    dock.pixel_size.setText("")
    dock.pixel_size.editingFinished.emit()
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    pictures = {}
    for mode in ("swipe", "difference"):
        dock.set_mode(mode)
        pictures[mode] = dock.composed()
    dock.blink()
    first = dock.composed()
    dock.blink()
    assert not np.array_equal(first, dock.composed())  # B shows the other visit
    assert not np.array_equal(pictures["swipe"], pictures["difference"])
    dock.set_mode("swipe")
    before = dock.composed()
    dock.nudge(1, 0)
    assert not np.array_equal(before, dock.composed()) and "nudged" in dock.legend.text()
    dock.undo_nudge()
    assert np.array_equal(before, dock.composed()) and "nudged" not in dock.legend.text()
    # the report's maps, refined and checked in the background as the main view's, and said so in the dock
    qtbot.waitUntil(lambda: window.followup.maps is not None, timeout=TIMEOUT_MS)
    said = dock.maps.text()  # of which pair: not the viewers' (their maps are of the images as loaded)
    assert said.startswith("Maps on the report of the follow-up registered onto the baseline (coalition (refined "
                           "from gradcam))") and "the two answers can differ" in said
    report = tmp_path / "followup.pdf"
    dock.assessment.textEdited.emit("stable, routine follow-up")  # as typed
    assert window.followup.assessment == "stable, routine follow-up"
    with qtbot.waitSignal(window.session.info, timeout=TIMEOUT_MS):
        window.note.setPlainText("compare in 3 months")
        window.commands.export_followup_to(str(report))
    facts = json.loads(report.with_suffix(".json").read_text())
    assert report.read_bytes().startswith(b"%PDF") and facts["kind"] == "followup"
    assert len(facts["measurements"]) == 2 and facts["note"] == "compare in 3 months"
    assert facts["assessment"] == "stable, routine follow-up" and facts["change_headline"]
    # its maps as the main view would show them: refined, and judged by the check (docs/explanations.md)
    assert facts["method"] == "coalition" and set(facts["faithfulness"]) >= {"deletion_auc_map", "insertion_auc_map"}
    with qtbot.waitSignal(window.session.explanation_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda explained: explained is None):
        window.session.swap()
    assert dock.result is None  # another pair: the old alignment no longer applies


def test_while_a_follow_up_is_shown_the_verdict_is_no_heading_over_what_changed(qtbot, make_window, tmp_path):
    """A lesion that grew 55 % read "Similar" in 20 pt above the dock's "area +55 %": the score panel's verdict is
    then said as the model's likeness in small grey type, and a heading again once the follow-up is gone."""
    source = sorted(SKIN.glob("*.jpg"))[3]
    baseline, later = tmp_path / "visit1.png", tmp_path / "visit2.png"
    Image.open(source).convert("RGB").save(baseline)
    Image.open(source).convert("RGB").rotate(8, resample=Image.BICUBIC, fillcolor=(120, 80, 70)).save(later)
    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(baseline), str(later)])
    verdict = window.score.verdict
    shown = window.session.explained.explanation.verdict
    assert verdict.text() == shown.capitalize() and "20pt" in verdict.styleSheet()
    window.actions["followup"].trigger()
    qtbot.waitUntil(lambda: window.followup_dock.result is not None, timeout=TIMEOUT_MS)
    assert verdict.text().startswith(f"Model: {shown} (a likeness, not a change") and "20pt" not in (
        verdict.styleSheet())
    assert "leads the Follow-up panel" in verdict.text()
    window.followup_dock.close()  # its X: the words pointed at a panel no longer there
    assert "leads the Follow-up panel" not in verdict.text() and "Ctrl+U" in verdict.text()
    assert "20pt" not in verdict.styleSheet()  # still no heading over a lesion that may have grown
    window.followup_dock.show()
    assert "leads the Follow-up panel" in verdict.text()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.session.swap()  # another pair: the follow-up is gone
    assert window.followup_dock.result is None
    assert verdict.text() == window.session.explained.explanation.verdict.capitalize()
    assert "20pt" in verdict.styleSheet()


def test_a_worklist_case_marked_followup_opens_aligned(qtbot, make_window, tmp_path):
    source = sorted(SKIN.glob("*.jpg"))[4]
    first, later = tmp_path / "v1.png", tmp_path / "v2.png"
    Image.open(source).convert("RGB").save(first)
    Image.open(source).convert("RGB").rotate(-9, resample=Image.BICUBIC, fillcolor=(120, 80, 70)).save(later)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image1,image2,case_id,kind,acquired\n{first},{later},L-1,followup,\"2026-01-05,2026-04-07\"\n")
    window = make_window(worklist=tmp_path / "review.sqlite")
    window.worklist.import_csv(str(pairs))
    window.actions["next_case"].trigger()
    qtbot.waitUntil(lambda: window.followup_dock.result is not None, timeout=TIMEOUT_MS)
    assert window.followup_dock.isVisible() and window.followup_dock.result.registration.ok


def test_a_follow_up_case_is_listed_by_what_changed_not_by_the_model_s_verdict(qtbot, make_window, tmp_path):
    first, later = _visits(tmp_path, count=2)  # the lesion changed beyond measurement uncertainty
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image1,image2,case_id,kind\n{first},{later},L-1,followup\n{first},{later},P-2,pair\n")
    window = make_window(worklist=tmp_path / "review.sqlite")
    worklist = window.worklist
    worklist.import_csv(str(pairs))
    assert worklist.rows()[0][2] == "follow-up · not measured yet"
    window.actions["next_case"].trigger()
    qtbot.waitUntil(lambda: window.followup_dock.result is not None, timeout=TIMEOUT_MS)
    changes = window.followup_dock.result.changes
    assert changes["change_beyond_uncertainty"]
    qtbot.waitUntil(lambda: worklist.rows()[0][2].startswith("changed · area "), timeout=TIMEOUT_MS)
    assert worklist.rows()[0][2] == "changed · " + changes["change_brief"][1]
    qtbot.waitUntil(lambda: worklist.rows()[1][2] == "", timeout=TIMEOUT_MS)  # the plain pair: not scored yet
    window.actions["next_case"].trigger()  # the plain pair of the same images: listed by the model's verdict
    qtbot.waitUntil(lambda: worklist.rows()[1][2] != "", timeout=TIMEOUT_MS)
    assert worklist.rows()[1][2].split(" · ")[0] in ("similar", "different", "inconclusive", "not assessed")
    assert worklist.rows()[0][2].startswith("changed · ")  # kept with its case


def _visits(tmp_path, count: int = 3) -> list[Path]:
    """A lesion's visits: the same skin picture (its lesion clear of the picture's edge) rotated a little more each
    time, its lesion grown 30 % by the last."""
    from core.followup.synthetic import make_followup
    from core.model.lesion import find_lesion

    rgb = np.asarray(Image.open(sorted(SKIN.glob("*.jpg"))[4]).convert("RGB"))
    paths = [tmp_path / "visit1.png"]
    Image.fromarray(rgb).save(paths[0])
    mask = find_lesion(rgb).mask
    for index in range(1, count):
        later = make_followup(rgb, mask, np.random.default_rng(index), max_rotation=15,
                              growth=0.3 * index / (count - 1))
        paths.append(tmp_path / f"visit{index + 1}.png")
        Image.fromarray(later.followup).save(paths[-1])
    return paths


def test_a_lesion_history_steps_through_its_visits_blinks_any_two_and_draws_the_trend(qtbot, make_window, tmp_path):
    paths = _visits(tmp_path)
    window = make_window()
    window.resize(1366, 768)
    followup, dock = window.followup, window.followup_dock
    given = [paths[2], paths[0], paths[1]]  # out of date order: sorted by the dates
    with qtbot.waitSignal(followup.history_changed, timeout=TIMEOUT_MS):
        followup.run_history([str(p) for p in given], ["2026-06-01", "2026-01-05", "2026-03-02"])
    strip = dock.history_strip
    assert dock.isVisible() and strip.isVisible() and len(strip.buttons) == 3
    assert "V1 2026-01-05" in strip.buttons[0].text() and "+147 d" in strip.buttons[2].text()
    qtbot.waitUntil(lambda: dock.view.height() >= window.height() / 2, timeout=TIMEOUT_MS)  # under the strip too
    assert dock.trend.isVisible() and not dock.trend.pixmap().isNull()
    assert followup.visit == 2 and followup.blink_pair == (0, 2) and dock.result is followup.history.last
    assert "V3 of 3, 147 days" in dock.headline.text()
    last = dock.composed()
    strip.previous.click()  # step back to the second visit
    assert followup.visit == 1 and "V2 of 3" in dock.headline.text() and not np.array_equal(last, dock.composed())
    assert not strip.previous.isEnabled() and strip.next.isEnabled()
    dock.set_mode("blink")
    strip.second.setCurrentIndex(2)  # blink the second visit with the third
    strip.first.setCurrentIndex(1)
    assert followup.blink_pair == (1, 2)
    shown = {dock.composed().tobytes()}
    dock.blink()
    shown.add(dock.composed().tobytes())
    assert len(shown) == 2 and np.array_equal(dock.composed(), followup.history.pictures[2])
    report = tmp_path / "history.png"
    with qtbot.waitSignal(window.session.info, timeout=TIMEOUT_MS):
        window.commands.export_followup_to(str(report))
    facts = json.loads(report.with_suffix(".json").read_text())
    assert len(facts["visits"]) == 3 and facts["acquired"] == ["2026-01-05", "2026-06-01"]
    assert [v["given_position"] for v in facts["visits"]] == [2, 3, 1]
    followup.run_history([str(paths[0])])  # one image is no history
    assert any("two or more images" in text for text in window.problems.texts())
    broken = tmp_path / "notes.png"
    broken.write_text("not a picture")
    followup.run_history([str(paths[0]), str(broken)])  # one line naming the file, the history shown stays
    qtbot.waitUntil(lambda: any("notes.png" in text for text in window.problems.texts()), timeout=TIMEOUT_MS)
    assert followup.history is not None and len(followup.history.pictures) == 3


def test_a_worklist_case_of_a_lesion_with_more_visits_opens_its_history(qtbot, make_window, tmp_path):
    v1, v2, v3 = _visits(tmp_path)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("image1,image2,case_id,kind,patient_id,body_site,lesion_id,acquired\n"
                     f"{v1},{v2},C-1,followup,P-1,back,L1,\"2026-01-05,2026-03-02\"\n"
                     f"{v2},{v3},C-2,followup,P-1,back,L1,\"2026-03-02,2026-06-01\"\n"
                     f"{v1},{v3},C-3,followup,P-1,back,L2,\"2026-01-05,2026-06-01\"\n")  # another lesion
    window = make_window(worklist=tmp_path / "review.sqlite")
    window.worklist.import_csv(str(pairs))
    followup = window.followup
    with qtbot.waitSignal(followup.history_changed, timeout=TIMEOUT_MS):
        window.worklist.open_case(0)  # the first visit pair: the lesion's history of three visits opens
    assert len(followup.history.pictures) == 3 and followup.visit == 1  # stepped to this case's later visit
    assert [v["date"] for v in followup.history.facts["visits"]] == ["2026-01-05", "2026-03-02", "2026-06-01"]
    assert window.followup_dock.history_strip.isVisible()
    with qtbot.waitSignal(followup.history_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda shown: shown is not None):
        window.worklist.open_case(1)  # its other case: the same history, at that case's later visit
    assert len(followup.history.pictures) == 3 and followup.visit == 2
    with qtbot.waitSignal(followup.result_changed, timeout=TIMEOUT_MS, check_params_cb=lambda r: r is not None):
        window.worklist.open_case(2)  # a lesion of two visits: the pair's follow-up, no history
    assert followup.history is None and not window.followup_dock.history_strip.isVisible()


def test_the_docks_words_are_read_as_html_even_without_a_tag(qtbot):
    from PySide6.QtCore import Qt

    from gui.views.followup_dock import FollowUpDock

    dock = FollowUpDock()
    qtbot.addWidget(dock)
    dock.show_maps("Maps on the report: check inconclusive (better than the random maps&#x27; mean)")
    # an escaped apostrophe with no tag around it would be shown as "&#x27;" in plain text
    assert all(label.textFormat() == Qt.RichText for label in (dock.headline, dock.verdict, dock.maps))


def test_the_follow_up_views_step_by_key_and_every_dock_key_is_in_help(qtbot):
    """Swipe and difference took the mouse (only B blinked); V steps through the views, and Help lists the dock's
    keys (B, V, the nudges), which it left out: they were bound in the dock only."""
    from PySide6.QtGui import QShortcut

    from gui.views.actions import FOLLOWUP_KEYS, ShortcutsDialog
    from gui.views.followup_dock import MODES, FollowUpDock

    dock = FollowUpDock()
    qtbot.addWidget(dock)
    bound = {shortcut.key().toString(): shortcut for shortcut in dock.findChildren(QShortcut)}
    assert {keys for _name, shortcuts, _words in FOLLOWUP_KEYS for keys in shortcuts} == set(bound)
    seen = [dock.mode]
    for _ in MODES:
        bound["V"].activated.emit()
        seen.append(dock.mode)
        checked = [b.text().lower() for b in dock.mode_buttons.buttons() if b.isChecked()]
        assert checked == [dock.mode]
    assert seen == ["swipe", "difference", "blink", "swipe"]
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    table = dialog.layout().itemAt(0).widget()
    listed = {table.item(row, 1).text() for row in range(table.rowCount())}
    assert {"B", "V", "Alt+Backspace"} <= listed


def test_a_closed_follow_up_panel_comes_back_from_the_view_menu_without_aligning_again(qtbot, make_window, tmp_path):
    """Once closed (its X), the follow-up panel came back only by aligning again (Ctrl+U): seconds of work, and a
    nudge or a visit stepped to lost. View > Follow-up panel (Ctrl+Shift+F) shows it as it was left, like the other
    panels' toggles; its tick follows the panel."""
    source = sorted(SKIN.glob("*.jpg"))[1]
    baseline, later = tmp_path / "visit1.png", tmp_path / "visit2.png"
    Image.open(source).convert("RGB").save(baseline)
    Image.open(source).convert("RGB").rotate(8, resample=Image.BICUBIC, fillcolor=(120, 80, 70)).save(later)
    window = make_window()
    window.resize(1366, 768)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(baseline), str(later)])
    dock, toggle = window.followup_dock, window.actions["followup_panel"]
    assert toggle.menu() is None and toggle in window.menus["&View"].actions() and "Ctrl+Shift+F" in [
        key.toString() for key in toggle.shortcuts()]
    window.actions["followup"].trigger()
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    assert toggle.isChecked()
    result, headline = window.followup.result, dock.headline.text()
    dock.close()
    assert not toggle.isChecked()
    submitted = []
    window.session.runner.started.connect(lambda key, _label: submitted.append(key))
    toggle.trigger()
    assert dock.isVisible() and toggle.isChecked()
    assert window.followup.result is result and dock.result is result and dock.headline.text() == headline
    QApplication.processEvents()
    assert "followup" not in submitted  # nothing aligned again
    toggle.trigger()
    assert not dock.isVisible() and window.followup.result is result
