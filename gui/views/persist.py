"""The window's layout between runs: geometry, docks, splitter and synchronised views (the review's own settings:
gui.models.settings).

A remembered geometry is clamped to the screen the window opens on: a layout saved on a 1920 px monitor (or by
an older version whose window outgrew the screen) must not open wider than today's 1366 x 768 laptop.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication

from ..models.settings import Key, read

DEFAULT_SIZE = (1400, 820)  # first run: at least this, or 80 % of a larger screen; a smaller one gets all it has


def restore_window(window, available: QRect | None = None) -> None:
    """Bring back the reviewer's layout, clamped to `available` (the current screen's available geometry when
    None: without the taskbar)."""
    settings = window.settings
    geometry = settings.value(Key.GEOMETRY)
    if geometry is None or not window.restoreGeometry(geometry):
        area = available if available is not None else screen_area(window)
        window.resize(max(DEFAULT_SIZE[0], int(0.8 * area.width())), max(DEFAULT_SIZE[1], int(0.8 * area.height())))
        window.move(area.center() - window.rect().center())
    if settings.value(Key.WINDOW_STATE) is not None:
        window.restoreState(settings.value(Key.WINDOW_STATE))
        # The follow-up dock has nothing to show until a follow-up is asked for (Ctrl+U, a follow-up case), which
        # shows it: restored open and empty, it took 62 % of a 1366 x 768 window and left the images 120 px high.
        window.followup_dock.hide()
    # The left docks (the worklist) run the window's full height, the bottom ones (follow-up, similar cases) beside
    # them: under the follow-up's 62 % of a 1366 x 768 window the worklist showed two cases. After restoreState,
    # which brings back the corners a layout was saved with (an older version's among them); the reviewer's docks,
    # their places and sizes stay as restored, and no control of the window changes a corner.
    window.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
    if settings.value(Key.SPLITTER) is not None:
        window.splitter.restoreState(settings.value(Key.SPLITTER))
    window.actions["sync"].setChecked(read(settings, Key.SYNC, False))
    fit_to_screen(window, available)


def screen_area(window) -> QRect:
    """The available geometry of the screen under the window's centre (the primary screen if none is)."""
    screen = QGuiApplication.screenAt(window.geometry().center()) or window.screen() or \
        QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_to_screen(window, available: QRect | None = None) -> None:
    """Shrink the window to fit `available` and move it inside; a maximised or full-screen window is the
    platform's to place."""
    if window.isMaximized() or window.isFullScreen():
        return
    area = available if available is not None else screen_area(window)
    frame, inner = window.frameGeometry(), window.geometry()
    extra_w, extra_h = frame.width() - inner.width(), frame.height() - inner.height()  # 0 before it is shown
    width = max(min(window.width(), area.width() - extra_w), 1)
    height = max(min(window.height(), area.height() - extra_h), 1)
    if (width, height) != (window.width(), window.height()):
        window.resize(width, height)
    x = min(max(frame.x(), area.x()), area.x() + area.width() - width - extra_w)
    y = min(max(frame.y(), area.y()), area.y() + area.height() - height - extra_h)
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)


def save_window(window) -> None:
    settings = window.settings
    settings.setValue(Key.GEOMETRY, window.saveGeometry())
    settings.setValue(Key.WINDOW_STATE, window.saveState())
    settings.setValue(Key.SPLITTER, window.splitter.saveState())
    settings.setValue(Key.SYNC, window.actions["sync"].isChecked())
