"""Correspondence links in the window: computed only while shown, drawn between the viewers, following the view."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import TIMEOUT_MS


def test_links_are_computed_when_shown_and_follow_the_view(qtbot, explained, images):
    window = explained
    assert window.session.explained.explanation.correspondence is None  # not computed unless asked for
    assert not window.links_overlay.isVisible() and window.links_overlay.shown_links() == []
    window.actions["links"].trigger()  # L
    qtbot.waitUntil(lambda: bool(window.links_overlay.links), timeout=TIMEOUT_MS)
    shown = window.links_overlay.shown_links()
    assert window.links_overlay.isVisible() and 0 < len(shown) <= window.links.count
    # each line starts over viewer 1 and ends over viewer 2, in the overlay's coordinates
    first, second = (v.viewport().mapTo(window.centralWidget(), v.viewport().rect().center()).x()
                     for v in window.viewers)
    assert all(a.x() < b.x() for a, b, _ in shown) and first < second
    before = [(a.x(), a.y()) for a, _, _ in shown]
    window.viewers[0].zoom_by(1.5)
    after = [(a.x(), a.y()) for a, _, _ in window.links_overlay.shown_links()]
    assert after != before  # the ends moved with the zoom
    # the pointer over image 1 paints where that point matches on image 2, leaving clears it, and image 2's
    # points match on image 1 (the cell arithmetic: tests/gui/test_links_presenter.py)
    assert window.viewers[1].layer_pixmap("match").isNull()
    move_to(window.viewers[0], shown[0][2]["p1"])
    assert not window.viewers[1].layer_pixmap("match").isNull()
    QApplication.sendEvent(window.viewers[0].viewport(), QEvent(QEvent.Type.Leave))
    assert window.viewers[1].layer_pixmap("match").isNull()
    move_to(window.viewers[1], shown[0][2]["p2"])
    assert not window.viewers[0].layer_pixmap("match").isNull()
    count = window.links.count
    window.actions["fewer_links"].trigger()
    assert window.links.count == count - 5 and len(window.links_overlay.shown_links()) <= count - 5
    old = list(window.links_overlay.links)
    with qtbot.waitSignal(window.session.explanation_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda explained: explained is None):
        window.load_dropped([str(images[1]), str(images[2])])
    assert window.links_overlay.links == []  # the old pair's links go with its maps
    # the new pair's arrive on their own
    qtbot.waitUntil(lambda: bool(window.links_overlay.links), timeout=TIMEOUT_MS)
    assert window.links_overlay.links != old
    window.actions["links"].trigger()
    assert not window.links_overlay.isVisible() and window.viewers[0].layer_pixmap("match").isNull()


def move_to(viewer, xy) -> None:
    """The pointer moved over the viewer to image pixel xy."""
    viewport = viewer.viewport()
    inside = viewer.mapFromScene(*xy)
    QApplication.sendEvent(viewport, QMouseEvent(QEvent.Type.MouseMove, QPointF(inside),
                                                 QPointF(viewport.mapToGlobal(inside)), Qt.MouseButton.NoButton,
                                                 Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
