"""What the workstation remembers between runs: the window's geometry, docks and splitter, and the review
settings (method, each layer's visibility, opacity and colormap, synchronised views). Model, device, gallery,
worklist and last folder are stored as they change.

A remembered geometry is clamped to the screen the window opens on: a layout saved on a 1920 px monitor (or by
an older version whose window outgrew the screen) must not open wider than today's 1366 x 768 laptop.
"""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication

from .layers import SLOTS, LayerStates
from .session import ReviewSession
from .settings import read
from .tasks import COLORMAPS, DEFAULT_METHOD, LAYERS


def restore_review(settings, session: ReviewSession, layers: LayerStates) -> None:
    session.set_method(read(settings, "view/method", DEFAULT_METHOD))
    for name in LAYERS:
        colormap = read(settings, f"view/colormap/{name}", layers.colormap(name))
        if colormap in COLORMAPS:  # a name from an older or newer version is ignored, not fatal
            layers.set_colormap(name, colormap)
    for slot in SLOTS:
        for name in LAYERS:
            layers.set_visible(slot, name, read(settings, f"layers/{slot}/{name}/visible", layers.visible(slot, name)))
            layers.set_opacity(slot, name, read(settings, f"layers/{slot}/{name}/opacity", layers.opacity(slot, name)))


def save_review(settings, session: ReviewSession, layers: LayerStates) -> None:
    settings.setValue("view/method", session.method)
    for name in LAYERS:
        settings.setValue(f"view/colormap/{name}", layers.colormap(name))
    for slot in SLOTS:
        for name in LAYERS:
            settings.setValue(f"layers/{slot}/{name}/visible", layers.visible(slot, name))
            settings.setValue(f"layers/{slot}/{name}/opacity", layers.opacity(slot, name))


DEFAULT_SIZE = (1400, 820)  # first run: at least this, or 80 % of a larger screen; a smaller one gets all it has


def restore_window(window, available: QRect | None = None) -> None:
    """Bring back the reviewer's layout, clamped to `available` (the current screen's available geometry when
    None: without the taskbar)."""
    settings = window.settings
    geometry = settings.value("window/geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        area = available if available is not None else screen_area(window)
        window.resize(max(DEFAULT_SIZE[0], int(0.8 * area.width())), max(DEFAULT_SIZE[1], int(0.8 * area.height())))
        window.move(area.center() - window.rect().center())
    if settings.value("window/state") is not None:
        window.restoreState(settings.value("window/state"))
    if settings.value("window/splitter") is not None:
        window.splitter.restoreState(settings.value("window/splitter"))
    window.actions["sync"].setChecked(read(settings, "view/sync", False))
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
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("window/splitter", window.splitter.saveState())
    settings.setValue("view/sync", window.actions["sync"].isChecked())
