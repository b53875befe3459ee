"""The window fits a clinic's screen (issue "A workstation that fits a clinic"): long file names and case ids are
elided instead of widening the window, the score column scrolls instead of overlapping, and a geometry remembered
from a larger monitor is clamped to today's screen."""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication

from gui.views.persist import fit_to_screen, restore_window
from tests.gui.conftest import TIMEOUT_MS, make_image

LAPTOP = QRect(0, 0, 1366, 728)  # a 1366 x 768 screen less a 40 px taskbar
LONG = "dermoscopy-export-from-the-clinic-archive-with-a-very-long-descriptive-file-name-" * 2  # 164 characters


def long_named_cases(tmp_path, count=3):
    images = [make_image(tmp_path / f"patient-{n:04d}-{LONG}{n}.png", (300, 200), 60 + n) for n in range(count + 1)]
    pairs = tmp_path / "pairs.csv"
    rows = [f"{images[n]},{images[n + 1]},CASE-{'X' * 100}-{n},,," for n in range(count)]
    pairs.write_text("image1,image2,case_id,crop1,crop2,note\n" + "\n".join(rows) + "\n")
    return pairs


def fits(size, area=LAPTOP) -> bool:
    return size.width() <= area.width() and size.height() <= area.height()


def test_long_named_worklist_cases_never_grow_the_window_past_a_laptop_screen(qtbot, make_window, tmp_path):
    window = make_window(worklist=tmp_path / "review.sqlite")
    window.worklist.import_csv(str(long_named_cases(tmp_path)))
    assert window.worklist.cases, window.problem_bar.problems()
    window.worklist_dock.show()
    window.similar_dock.show()
    window.resize(LAPTOP.size())
    for row in range(len(window.worklist.cases)):
        with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
            window.worklist.open_case(row)
        qtbot.waitUntil(lambda: window.session.faithfulness is not None, timeout=TIMEOUT_MS)
        QApplication.processEvents()
        header = window.headers[0]
        assert LONG in header.text() and header.shown_text() != header.text()  # elided, the rest in the tooltip
        assert LONG in header.toolTip()
        for what in (window.minimumSizeHint(), window.minimumSize(), window.size()):
            assert fits(what), (row, what)
    # The score column scrolls rather than squeezing its rows on top of each other.
    window.resize(900, 520)
    QApplication.processEvents()
    score, viewport = window.score, window.side.scroll.viewport()
    assert score.height() >= score.minimumSizeHint().height()
    assert window.side.scroll.verticalScrollBar().maximum() > 0 or score.height() <= viewport.height()


def test_a_geometry_saved_on_a_wide_monitor_is_clamped_to_the_current_screen(qtbot, make_window, tmp_path):
    settings_path = tmp_path / "wide.ini"
    first = make_window(settings_path=settings_path)
    first.resize(1920, 1080)
    first.move(0, 0)
    first.close()  # saves the 1920-wide geometry, as a session on a large monitor did
    second = make_window(settings_path=settings_path)
    assert fits(second.frameGeometry().size(), second.screen().availableGeometry())
    restore_window(second, LAPTOP)  # the same remembered layout opened on a 1366 x 768 laptop
    assert fits(second.frameGeometry().size()) and LAPTOP.contains(second.frameGeometry())
    second.resize(1920, 1080)
    second.move(600, 400)
    fit_to_screen(second, LAPTOP)
    assert fits(second.frameGeometry().size()) and LAPTOP.contains(second.frameGeometry())


def test_the_follow_up_dock_is_not_restored_open_and_empty_the_other_docks_are(qtbot, make_window, tmp_path):
    settings_path = tmp_path / "docks.ini"
    first = make_window(settings_path=settings_path)
    first.followup_dock.show()
    first.worklist_dock.show()
    first.close()  # saves the layout with both docks open
    second = make_window(settings_path=settings_path)
    assert second.worklist_dock.isVisible() and not second.followup_dock.isVisible()


def rows_shown(table) -> int:
    """How many of the table's rows are wholly inside its viewport."""
    height = table.viewport().height()
    return sum(0 <= table.rowViewportPosition(row) and table.rowViewportPosition(row) + table.rowHeight(row) <= height
               for row in range(table.rowCount()))


def test_the_worklist_shows_its_cases_beside_an_open_follow_up_on_a_laptop_screen(qtbot, make_window, tmp_path):
    """At 1366 x 768 with the worklist and the follow-up open, the follow-up (62 % of the window's height, the
    aligned view's share) ran under the worklist too and left it two cases. The worklist runs the full height, the
    follow-up beside it, its change column inside the panel; so on a layout restored from an earlier version too."""
    from PySide6.QtCore import Qt

    settings_path = tmp_path / "laptop.ini"
    pairs = tmp_path / "cases.csv"
    images = [make_image(tmp_path / f"v{n}.png", (64, 48), n) for n in range(13)]
    pairs.write_text("image1,image2\n" + "".join(f"{images[n]},{images[n + 1]}\n" for n in range(12)))
    for restart in range(3):
        window = make_window(settings_path=settings_path, worklist=tmp_path / "review.sqlite")
        if restart == 0:
            window.worklist.import_csv(str(pairs))
            window.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)  # as saved before
        window.resize(LAPTOP.size())
        window.worklist_dock.show()
        window.followup_dock.show_running()  # what Ctrl+U does first: the aligned view gets its share
        dock = window.followup_dock
        dock.table.setRowCount(2)  # as a comparison fills it (show_comparison): the figures' names head the rows
        dock.table.setVerticalHeaderLabels(["Longest diameter (mm)", "Asymmetry"])
        QApplication.processEvents()
        assert rows_shown(window.worklist_dock.table) >= 6 or restart == 0, restart
        assert dock.view.height() >= 0.4 * window.height() and dock.view.width() >= 400
        header = dock.table.horizontalHeader()
        assert header.sectionViewportPosition(2) + header.sectionSize(2) <= dock.table.viewport().width()
        window.close()  # saves the layout; the next run restores it


def test_the_wheel_over_a_choice_scrolls_the_column_and_never_changes_it(qtbot, make_window):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    window = make_window()
    combo = window.side.method_combo
    before = combo.currentText()
    wheel = QWheelEvent(QPointF(5, 5), QPointF(combo.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, -120),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(combo, wheel)
    assert combo.currentText() == before and window.session.method == before


def test_the_status_bar_says_what_its_progress_bar_measures_on_a_laptop_screen(qtbot, make_window):
    """The maps' background refinement shows a progress bar; beside it the words say what runs (an elided label
    given no width showed a bare "75 %")."""
    window = make_window()
    window.resize(LAPTOP.size())
    window.session.runner.busy.emit(False)
    QApplication.processEvents()  # laid out with no words first, as between two jobs
    window.session.runner.started.emit("refine", "Refining the maps…")
    window.session.runner.busy.emit(True)
    QApplication.processEvents()
    label = window.busy_label
    assert window.progress.isVisible() and label.isVisible()
    assert label.shown_text() == "Refining the maps…" and label.width() > 0
    assert fits(window.minimumSizeHint())


def test_panels_tabbed_together_stay_open_when_the_other_tab_is_shown(qtbot, make_window):
    """Panels the reviewer tabbed together (the worklist and the follow-up, to give each the height) closed each
    other: showing one tab unticked the other panel's View menu entry, which closed it. Each stays open behind the
    other's tab, ticked, and its entry brings it to the front."""
    window = make_window()
    worklist, followup = window.worklist_dock, window.followup_dock
    worklist.show()
    followup.show()
    window.tabifyDockWidget(worklist, followup)
    QApplication.processEvents()
    for front, behind in ((worklist, followup), (followup, worklist)):
        front.raise_()
        QApplication.processEvents()
        assert not behind.isHidden() and not front.isHidden()
        assert window.actions["worklist_panel"].isChecked() and window.actions["followup_panel"].isChecked()
    window.actions["worklist_panel"].trigger()  # closes the worklist
    assert worklist.isHidden() and not followup.isHidden()
    window.actions["worklist_panel"].trigger()  # opens it again, in front
    QApplication.processEvents()
    assert worklist.isVisible() and window.actions["worklist_panel"].isChecked()
