"""Correspondence links drawn between the two viewers (the model: gui.models.links.LinksState): which part of image 1
was matched with which part of image 2, and, under the pointer, where a point of one image matches on the other. A
transparent overlay over the central area draws each link from its point in viewer 1 to its point in viewer 2,
following zoom, pan and crops (a link's ends are in image pixels, the viewers' scene coordinates)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ..models.links import LinksState
from .colours import heatmap_qimage
from .viewer import MATCH


class LinksOverlay(QWidget):
    """Covers its parent (the window's central widget), lets every mouse event through, draws the links."""

    def __init__(self, parent: QWidget, viewers, state: LinksState):
        super().__init__(parent)
        self.viewers, self.state = viewers, state
        self.links: list[dict] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        parent.installEventFilter(self)
        for viewer in viewers:
            viewer.zoom_changed.connect(self.update)
            viewer.view_changed.connect(self.update)
            viewer.horizontalScrollBar().valueChanged.connect(self.update)
            viewer.verticalScrollBar().valueChanged.connect(self.update)
        state.changed.connect(self._state_changed)
        state.found_changed.connect(lambda found: self.set_links(found.links if found is not None else None))
        self.setGeometry(parent.rect())
        self.setVisible(state.visible)

    def set_links(self, links) -> None:
        """The explanation's links ([{"p1", "p2", "weight"}], strongest first), or None/[] for none."""
        self.links = list(links or [])
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        parent = self.parentWidget()
        if event.type() == QEvent.Type.Resize and parent is not None:
            self.setGeometry(parent.rect())
            self.raise_()
        return False

    def _state_changed(self) -> None:
        self.setVisible(self.state.visible)
        self.raise_()
        self.update()

    def shown_links(self) -> list[tuple[QPointF, QPointF, dict]]:
        """The links drawn now, as (point in this widget for image 1, for image 2, link): those with both ends in
        view, the strongest `state.count` of them."""
        out = []
        for link in self.links[: self.state.count]:
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


class LinksController(QObject):
    """While links are shown, the pointer over a point of either image paints where that point matches on the other
    image (its row or column of the cell-pair matrix, as a "match" layer); a new correspondence, or links hidden,
    clears it."""

    def __init__(self, session, state: LinksState, overlay: LinksOverlay, parent=None):
        super().__init__(parent)
        self.session, self.state, self.overlay = session, state, overlay
        self.hovered: tuple[int, int] | None = None  # (image index, cell) under the pointer
        state.found_changed.connect(lambda _found: self.hover(None))
        state.changed.connect(lambda: None if state.visible else self.hover(None))
        for viewer in overlay.viewers:
            viewer.viewport().setMouseTracking(True)
            viewer.viewport().installEventFilter(self)

    @property
    def found(self):
        return self.state.found

    # --- where a point matches ----------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # hovering shows where a point matches; a click does too (and keeps working where no hover events come)
        kinds = (QEvent.Type.MouseMove, QEvent.Type.MouseButtonPress, QEvent.Type.Leave)
        if event.type() in kinds and self.state.visible and self.found is not None:
            index = next(i for i, v in enumerate(self.overlay.viewers) if v.viewport() is watched)
            if event.type() == QEvent.Type.Leave:
                self.hover(None)
            elif isinstance(event, QMouseEvent):
                scene = self.overlay.viewers[index].mapToScene(event.position().toPoint())
                self.hover((index, scene.x(), scene.y()))
        return False

    def hover(self, where) -> None:
        """where: (image index, x, y) in that image's pixels, or None to clear the match layer."""
        cell = None if where is None or self.found is None else self._cell(*where)
        if cell == self.hovered:
            return
        self.hovered = cell
        for viewer in self.overlay.viewers:
            viewer.set_layer(MATCH, None)
        if cell is None:
            return
        index, n = cell
        other = 1 - index
        values = (self.found.matrix[n, :] if index == 0 else self.found.matrix[:, n]).reshape(self.found.grid)
        top = float(values.max())
        heat = np.clip(values / top, 0.0, 1.0).astype(np.float32) if top > 0 else np.zeros_like(values, np.float32)
        self.overlay.viewers[other].set_layer(MATCH, heatmap_qimage(heat, "inferno"), self._box(other))

    def _box(self, index: int) -> tuple:
        image = self.session.explained.images[index]
        return tuple(image.crop) if image.crop else (0, 0, *image.original_size)

    def _cell(self, index: int, x: float, y: float) -> tuple[int, int] | None:
        bx, by, bw, bh = self._box(index)
        rows, cols = self.found.grid
        col, row = int((x - bx) / bw * cols), int((y - by) / bh * rows)
        if not (0 <= col < cols and 0 <= row < rows):
            return None
        return index, row * cols + col
