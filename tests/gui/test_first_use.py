"""What a new user tripped on (issue #10), each driven through the real window: shortcuts after a dialog, the
title, the toolbar at a small size, where the export dialog opens, the zoom indicator, the two layers' colours,
problems that stay visible until dismissed."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTableWidget

from gui.views import dialogs

from .conftest import TIMEOUT_MS, grab_pixels


def test_one_letter_shortcuts_act_after_a_file_dialog_and_never_type_into_the_note(qtbot, make_window, monkeypatch):
    window = make_window()
    monkeypatch.setattr(dialogs, "open_image", lambda *args: None)  # the reviewer cancels the dialog
    window.actions["open0"].trigger()
    focused = QApplication.focusWidget()
    assert focused is not window.note and window.note.focusPolicy() == Qt.ClickFocus
    method = window.session.method
    qtbot.keyClick(focused or window, Qt.Key_M)
    assert window.session.method != method and window.note.toPlainText() == ""
    window.note.setFocus()  # a click puts the reviewer in the note; Esc gives the keyboard back
    qtbot.keyClick(window.note, Qt.Key_Escape)
    assert QApplication.focusWidget() is not window.note


def test_the_note_is_reached_by_a_key_as_by_a_click_and_left_by_esc(qtbot, make_window):
    """Writing the note took the mouse (it takes the keyboard only when clicked, so one-letter keys never type
    into it): Ctrl+N puts the keyboard in it, at the end of what is there; Esc gives it back to the images."""
    window = make_window()
    window.note.setPlainText("grew since March")
    assert window.actions["write_note"].shortcut().toString() == "Ctrl+N"
    window.actions["write_note"].trigger()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.note)
    qtbot.keyClicks(window.note, "; biopsy")
    assert window.note.toPlainText() == "grew since March; biopsy"
    qtbot.keyClick(window.note, Qt.Key_Escape)
    assert QApplication.focusWidget() is not window.note


def test_the_title_names_the_model_and_leaves_the_app_name_to_the_platform(make_window):
    window = make_window()
    assert window.windowTitle() == "tiny-test"
    assert QApplication.applicationDisplayName() not in window.windowTitle()


def test_export_stays_on_the_toolbar_at_1024x640(qtbot, make_window):
    window = make_window()
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=TIMEOUT_MS)
    button = window.toolbar.widgetForAction(window.actions["export"])
    assert button.isVisible() and window.toolbar.rect().contains(button.geometry())


def test_the_status_bar_shows_the_zoom(qtbot, explained):
    window = explained
    window.actions["fit"].trigger()
    fitted = window.zoom_label.text()
    window.actions["zoom_in"].trigger()
    assert fitted.startswith("Zoom ") and "%" in fitted and window.zoom_label.text() != fitted
    window.actions["actual"].trigger()
    assert "100 %" in window.zoom_label.text()


def test_factual_and_counterfactual_have_their_own_colours_and_legend(qtbot, explained):
    window = explained
    legend = window.side.legend.ramps
    factual, counterfactual = (legend[name].pixmap().toImage() for name in ("factual", "counterfactual"))
    assert factual != counterfactual
    before = grab_pixels(window.viewers[0].viewport())
    window.layers.set_visible(0, "counterfactual", True)
    window.layers.set_opacity(0, "counterfactual", 1.0)
    window.side.colormap_combos["counterfactual"].setCurrentText("magma")
    assert window.layers.colormap("counterfactual") == "magma"
    assert legend["counterfactual"].pixmap().toImage() != counterfactual
    shown = window.session.explained.explanation.counterfactual[0]
    if shown.max() > 0:  # a random model's counterfactual may be empty: then there is nothing to redraw
        assert np.abs(grab_pixels(window.viewers[0].viewport()) - before).sum() > 0


def test_problems_stay_until_dismissed_and_esc_dismisses_them(qtbot, make_window, tmp_path):
    window = make_window()
    window.load_dropped([str(tmp_path / "nowhere.png")])
    qtbot.waitUntil(window.problem_bar.isVisible)  # the loader's answer, from the runner thread
    assert "nowhere.png: no such image file" in window.problem_bar.problems()[0]
    window.statusBar().showMessage("something else happened", 10)
    qtbot.wait(50)
    assert window.problem_bar.isVisible()  # not a status-bar flash
    qtbot.keyClick(window.viewers[0], Qt.Key_Escape)
    assert not window.problem_bar.isVisible() and window.problem_bar.problems() == []


def test_overlay_opacity_and_colours_by_key_on_the_active_layer_never_while_typing(qtbot, make_window):
    """Opacity sliders and colour-map choices took the mouse. `,` / `.` and `P` act on the active layer (bold under
    the images): the model changes, the sliders and choices follow; in the note they are letters typed; Help lists
    them."""
    from gui.views.actions import ShortcutsDialog

    window = make_window()
    layers, controls, combos = window.layers, window.layer_controls, window.side.colormap_combos
    window.refocus()
    focused = QApplication.focusWidget() or window
    assert controls[0].boxes["factual"].font().bold() and not controls[0].boxes["counterfactual"].font().bold()
    qtbot.keyClick(focused, Qt.Key_Period)
    assert [layers.opacity(slot, "factual") for slot in (0, 1)] == [0.6, 0.6]
    assert [c.sliders["factual"].value() for c in controls] == [60, 60] and controls[1].values["factual"].text() == (
        "60 %")
    qtbot.keyClick(focused, Qt.Key_2)  # image 1's counterfactual on: the active layer now
    assert controls[1].boxes["counterfactual"].font().bold() and not controls[1].boxes["factual"].font().bold()
    qtbot.keyClick(focused, Qt.Key_Comma)
    assert layers.opacity(0, "counterfactual") == 0.4 and layers.opacity(0, "factual") == 0.6
    before = layers.colormap("counterfactual")
    qtbot.keyClick(focused, Qt.Key_P)
    assert layers.colormap("counterfactual") != before and combos["counterfactual"].currentText() == (
        layers.colormap("counterfactual"))
    window.actions["write_note"].trigger()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.note)
    qtbot.keyClicks(window.note, "p.,")
    assert window.note.toPlainText() == "p.," and layers.opacity(0, "counterfactual") == 0.4
    table = ShortcutsDialog(window).findChild(QTableWidget)
    listed = {table.item(row, 0).text(): table.item(row, 1).text() for row in range(table.rowCount())}
    assert listed["View › Active layer: more opaque"] == "." and listed["View › Active layer: less opaque"] == ","
    assert listed["View › Active layer: next colour map"] == "P"
    assert listed["View › Show score and maps anyway"] == "Ctrl+Shift+Y"
