"""Correspondence links drawn between the two viewers (their presenter: gui.presenters.links): which part of image 1
was matched with which part of image 2, and, under the pointer, where a point of one image matches on the other. A
transparent overlay over the central area draws each link from its point in viewer 1 to its point in viewer 2,
following zoom, pan and crops (a link's ends are in image pixels, the viewers' scene coordinates)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from .colours import heatmap_qimage
from .viewer import MATCH


class LinksOverlay(QWidget):
    """Covers its parent (the window's central widget), lets every mouse event through, draws the links and the
    match under the pointer; forwards where the pointer is over either image (a `LinksView`)."""

    pointer = Signal(object)  # (image index, x, y) in that image's pixels, or None when the pointer left
    status = Signal(str)

    def __init__(self, parent: QWidget, viewers):
        super().__init__(parent)
        self.viewers = viewers
        self.links: list[dict] = []
        self.count = 0
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        parent.installEventFilter(self)
        for viewer in viewers:
            viewer.zoom_changed.connect(self.update)
            viewer.view_changed.connect(self.update)
            viewer.horizontalScrollBar().valueChanged.connect(self.update)
            viewer.verticalScrollBar().valueChanged.connect(self.update)
            viewer.viewport().setMouseTracking(True)
            viewer.viewport().installEventFilter(self)
        # compared by identity in eventFilter, which may still run while the viewers are being deleted
        self._viewports = [viewer.viewport() for viewer in viewers]
        self.setGeometry(parent.rect())

    # --- LinksView ---------------------------------------------------------------------------------
    def show_visible(self, visible: bool) -> None:
        self.setVisible(visible)
        self.raise_()
        self.update()

    def show_links(self, links: list[dict], count: int) -> None:
        self.links, self.count = list(links), count
        self.update()

    def show_match(self, slot: int, heat, box) -> None:
        self.viewers[slot].set_layer(MATCH, heatmap_qimage(heat, "inferno") if heat is not None else None, box)

    def show_status(self, text: str) -> None:
        self.status.emit(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        index = next((i for i, viewport in enumerate(self._viewports) if viewport is watched), None)
        if index is None:  # the parent: the overlay keeps covering it
            parent = self.parentWidget()
            if event.type() == QEvent.Type.Resize and parent is not None:
                self.setGeometry(parent.rect())
                self.raise_()
            return False
        # hovering shows where a point matches; a click does too (and keeps working where no hover events come)
        if event.type() == QEvent.Type.Leave:
            self.pointer.emit(None)
        elif isinstance(event, QMouseEvent) and event.type() in (QEvent.Type.MouseMove,
                                                                  QEvent.Type.MouseButtonPress):
            scene = self.viewers[index].mapToScene(event.position().toPoint())
            self.pointer.emit((index, scene.x(), scene.y()))
        return False

    def shown_links(self) -> list[tuple[QPointF, QPointF, dict]]:
        """The links drawn now, as (point in this widget for image 1, for image 2, link): those with both ends in
        view, the strongest `count` of them."""
        out = []
        for link in self.links[: self.count]:
            first, second = self._point(0, link["p1"]), self._point(1, link["p2"])
            if first is not None and second is not None:
                out.append((first, second, link))
        return out

    def paintEvent(self, _event) -> None:
        shown = self.shown_links()
        if not shown:
            return
        strongest = max(abs(link["weight"]) for _a, _b, link in shown) or 1.0
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for rank, (a, b, link) in enumerate(shown):
            # strongest in warm yellow, weaker towards cyan; width by weight
            colour = QColor.fromHsvF(0.15 + 0.35 * rank / max(len(shown) - 1, 1), 0.9, 1.0, 0.9)
            width = 1.0 + 2.5 * abs(link["weight"]) / strongest
            painter.setPen(QPen(QColor(0, 0, 0, 160), width + 2))  # a dark halo: visible on any image
            painter.drawLine(a, b)
            painter.setPen(QPen(colour, width))
            painter.drawLine(a, b)
            painter.setBrush(colour)
            for end in (a, b):
                painter.drawEllipse(end, 3.5, 3.5)
        painter.end()

    def _point(self, index: int, xy) -> QPointF | None:
        viewer = self.viewers[index]
        if not viewer.has_image():
            return None
        local = viewer.mapFromScene(QPointF(float(xy[0]), float(xy[1])))
        if not viewer.viewport().rect().contains(local):
            return None  # zoomed or panned out of view: no line to a point nobody sees
        return QPointF(self.mapFromGlobal(viewer.viewport().mapToGlobal(local)))
