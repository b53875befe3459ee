"""What a new user tripped on (issue #10), each driven through the real window: shortcuts after a dialog, the
title, the toolbar at a small size, where the export dialog opens, the zoom indicator, the two layers' colours,
problems that stay visible until dismissed."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

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
