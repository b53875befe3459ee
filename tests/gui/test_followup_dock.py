"""The follow-up dock: image 2 aligned onto image 1, shown in blink, swipe and difference modes, with
measurements, and nudged by hand with undo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.gui.conftest import TIMEOUT_MS

SKIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "skin" / "malignant"


def test_followup_aligns_measures_and_offers_three_views(qtbot, make_window, tmp_path):
    source = sorted(SKIN.glob("*.jpg"))[3]
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
    with qtbot.waitSignal(window.session.explanation_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda explained: explained is None):
        window.session.swap()
    assert dock.result is None  # another pair: the old alignment no longer applies


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
