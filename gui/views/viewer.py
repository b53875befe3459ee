"""One image viewer: the image, its factual and counterfactual layers, the outline of the factual map's top and its
crop box in one scene whose unit is the image pixel, so a layer placed at the crop's corner covers exactly the
pixels the model saw.

Wheel zooms at the cursor, dragging pans (or draws a crop box in crop mode), drops of files are reported.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from ..jobs.tasks import LAYERS
from .map_caption import GAP, caption_point_size, caption_spot, wrapped

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 64.0
OUTLINE_WIDTHS = (4.0, 2.0)  # screen pixels at 1:1 and above: the dark line, the light one over it
MIN_DRAG = 4  # pixels: a smaller drag is a click, not a box (whether a box is a valid crop is core's to say)


MATCH = "match"


class ImageViewer(QGraphicsView):
    files_dropped = Signal(list)  # the dropped URLs as local paths ("" for a non-local URL)
    crop_drawn = Signal(tuple)  # (x, y, w, h) in image pixels
    view_changed = Signal()  # zoom or pan by the user, for synchronised viewing
    zoom_changed = Signal(float)  # scene-to-screen scale after any change (fit, zoom, resize)

    def __init__(self, placeholder: str, parent=None):
        super().__init__(parent)
        self.placeholder = placeholder
        self.setScene(QGraphicsScene(self))
        self.setAcceptDrops(True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom_by anchors at the cursor itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self._image = QGraphicsPixmapItem()
        # The explanation's layers, then "match": where a point of the other image matches (gui.models.links)
        self._layers = {name: QGraphicsPixmapItem() for name in (*LAYERS, MATCH)}
        self._layers[MATCH].setOpacity(0.7)
        # The factual map's top 20 %: a light line over a dark one, readable on skin and on any colormap.
        self._top = [QGraphicsPathItem() for _ in range(2)]
        for line, colour in zip(self._top, (QColor(0, 0, 0), QColor(255, 255, 255)), strict=True):
            pen = QPen(QBrush(colour), 1)
            pen.setCosmetic(True)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            line.setPen(pen)
        self._outline_widths(1.0)
        self._shade = QGraphicsPathItem()  # darkens what lies outside the crop box
        self._shade.setBrush(QColor(0, 0, 0, 140))
        self._shade.setPen(QPen(Qt.PenStyle.NoPen))
        self._band = QGraphicsRectItem()  # the box being drawn
        self._band.setPen(self._cosmetic_pen(QColor(255, 220, 0), Qt.PenStyle.DashLine))
        self._outline = QGraphicsRectItem()
        self._outline.setPen(self._cosmetic_pen(QColor(255, 220, 0), Qt.PenStyle.SolidLine))
        # Over maps that failed their faithfulness check: hatched and dimmed, with the words (as in the reports)
        self._mark = QGraphicsRectItem()
        self._mark.setBrush(QBrush(QColor(20, 20, 20, 170), Qt.BrushStyle.BDiagPattern))
        self._mark.setPen(QPen(Qt.PenStyle.NoPen))
        self._mark_text = QGraphicsSimpleTextItem()
        self._mark_text.setBrush(QColor(255, 220, 90))
        self._caption = ""  # the caption's words, whatever lines they are wrapped onto
        self._caption_size = self._mark_text.font().pointSizeF()  # shrunk from this in a small viewer
        # on a dark plate of its own, behind it: readable over a bright map too
        self._mark_plate = QGraphicsRectItem(self._mark_text)
        self._mark_plate.setBrush(QColor(0, 0, 0, 200))
        self._mark_plate.setPen(QPen(Qt.PenStyle.NoPen))
        self._mark_plate.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemStacksBehindParent)
        # readable at any zoom
        self._mark_text.setFlag(QGraphicsSimpleTextItem.GraphicsItemFlag.ItemIgnoresTransformations)
        # the caption above the shade: on a small crop it reaches past the box and must not be darkened with the rest
        for z, item in enumerate([self._image, *self._layers.values(), *self._top, self._mark, self._shade,
                                  self._mark_text, self._outline, self._band]):
            item.setZValue(z)
            self.scene().addItem(item)
        self._band.hide()
        self.set_mark(None)
        self._crop_mode = False
        self._drag_start: QPointF | None = None
        self._fitting = True  # follow the window size until the user zooms
        self._quiet = False  # programmatic view changes are not reported
        self._drop_target = False  # files are being dragged over this viewer: highlight it
        self.horizontalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    # --- content -----------------------------------------------------------------------------------
    def has_image(self) -> bool:
        return not self._image.pixmap().isNull()

    def set_image(self, qimage) -> None:
        """Show a new image (a QImage, or None to clear); overlays and crop box are cleared, the view fits."""
        self._image.setPixmap(QPixmap.fromImage(qimage) if qimage is not None else QPixmap())
        for name in self._layers:
            self.set_layer(name, None)
        self.set_outline([], (1, 1))
        self.set_mark(None)
        self.set_crop(None)
        self.scene().setSceneRect(self._image.boundingRect())
        self.fit()

    def set_layer(self, name: str, qimage, box: tuple | None = None) -> None:
        """Stretch a layer's RGBA picture over `box` (x, y, w, h in image pixels: the crop the map covers; None:
        the whole image). Maps longer than core's cap arrive smaller than the box and are upsampled here."""
        item = self._layers[name]
        item.setPixmap(QPixmap.fromImage(qimage) if qimage is not None else QPixmap())
        if qimage is None or qimage.isNull():
            return
        x, y, w, h = self._area(box)
        item.setTransform(QTransform.fromScale(w / qimage.width(), h / qimage.height()))
        item.setPos(x, y)

    def set_outline(self, contours, map_size: tuple[int, int], box: tuple | None = None) -> None:
        """Trace `contours` ((N, 2) x, y arrays in the pixels of a map of `map_size` = (width, height)) over `box`
        (x, y, w, h in image pixels, as set_layer stretches the map; None: the whole image); [] clears."""
        path = QPainterPath()
        for contour in contours:
            # a map pixel's centre, so the line sits on the region's edge as set_layer stretches the map
            points = [QPointF(x + 0.5, y + 0.5) for x, y in contour]
            if points:
                path.addPolygon(QPolygonF(points))
                path.closeSubpath()
        x, y, w, h = self._area(box)
        for item in self._top:
            item.setPath(path)
            item.setTransform(QTransform.fromScale(w / max(map_size[0], 1), h / max(map_size[1], 1)))
            item.setPos(x, y)
        self._place_mark()  # the caption keeps off the map's hot region

    def _outline_widths(self, zoom: float) -> None:
        """The outline's lines (screen pixels) thinned with the zoom below 1:1, to half at most: at the follow-up's
        small viewers a 4 px line around each fragment of the map's top hid a small lesion."""
        share = min(max(zoom, 0.5), 1.0)
        for line, width in zip(self._top, OUTLINE_WIDTHS, strict=True):
            pen = line.pen()
            pen.setWidthF(width * share)
            line.setPen(pen)

    def outline_widths(self) -> tuple[float, ...]:
        return tuple(line.pen().widthF() for line in self._top)

    def outline_path(self) -> QPainterPath:
        """The outline as traced, in image pixels (empty when none)."""
        return self._top[1].sceneTransform().map(self._top[1].path())

    def set_outline_visible(self, visible: bool) -> None:
        for item in self._top:
            item.setVisible(visible)

    def set_mark(self, text: str | None, box: tuple | None = None, hatch: bool = True) -> None:
        """Write `text` on `box` (the region the maps cover; None: the whole image), hatching it unless `hatch` is
        False; None clears."""
        shown = bool(text) and self.has_image()
        self._mark.setVisible(shown and hatch)
        self._mark_text.setVisible(shown)
        if not shown or text is None:
            return
        x, y, w, h = self._area(box)
        self._mark.setRect(QRectF(x, y, w, h))
        self._caption = text
        self._place_mark()

    def _place_mark(self) -> None:
        """The caption sized to the view and placed off the lesion (gui.views.map_caption): beside the maps' box,
        else in the view's corner farthest from the map's hot region; read whole, never cut by the view's edge."""
        if not self._mark_text.isVisible():
            return
        view = self.viewport().rect()
        font = self._mark_text.font()
        font.setPointSizeF(self._caption_size)
        metrics = QFontMetricsF(font)
        font.setPointSizeF(caption_point_size(self._caption_size, metrics.horizontalAdvance(self._caption),
                                              metrics.height(), view.size()))
        self._mark_text.setFont(font)
        self._mark_text.setText(wrapped(self._caption, view.width() - 2 * GAP - 8,
                                        QFontMetricsF(font).horizontalAdvance))
        plate = self._mark_text.boundingRect().adjusted(-4, -2, 4, 2)
        self._mark_plate.setRect(plate)
        box = self.mapFromScene(self._mark.rect()).boundingRect()
        # the factual map's top, shown or not: where the evidence is, which the caption must leave readable
        hot = self.mapFromScene(self.outline_path()).boundingRect().toAlignedRect() \
            if not self._top[1].path().isEmpty() else None
        spot = caption_spot(view, box, hot, plate.size().toSize())
        # screen pixels: the caption keeps its size at any zoom (it ignores the view's transformations)
        self._mark_text.setPos(self.mapToScene(spot - plate.topLeft().toPoint()))

    def mark_text(self) -> str | None:
        """The caption's words (on one line, however they are wrapped on screen); None when there is none."""
        return self._caption if self._mark_text.isVisible() else None

    def mark_rect(self) -> QRect:
        """Where the caption's plate lies on screen (viewport pixels)."""
        origin = QPointF(self.mapFromScene(self._mark_text.pos()))
        return self._mark_plate.rect().translated(origin).toAlignedRect()

    def mark_hatched(self) -> bool:
        return self._mark.isVisible()

    def _area(self, box: tuple | None) -> tuple:
        """(x, y, w, h) in image pixels of what the maps cover: `box` (a crop), or the whole image when None."""
        return box if box else (0, 0, self._image.pixmap().width(), self._image.pixmap().height())

    def layer_pixmap(self, name: str) -> QPixmap:
        return self._layers[name].pixmap()

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self._layers[name].setVisible(visible)

    def set_layer_opacity(self, name: str, opacity: float) -> None:
        self._layers[name].setOpacity(opacity)

    def set_crop(self, box: tuple | None) -> None:
        if box is None or not self.has_image():
            self._shade.setPath(QPainterPath())
            self._outline.hide()
            return
        rect = QRectF(*box)
        path = QPainterPath()
        path.addRect(self._image.boundingRect())
        path.addRect(rect)  # odd-even fill: everything but the box
        self._shade.setPath(path)
        self._outline.setRect(rect)
        self._outline.show()

    def set_crop_mode(self, on: bool) -> None:
        self._crop_mode = on
        self.setDragMode(QGraphicsView.DragMode.NoDrag if on else QGraphicsView.DragMode.ScrollHandDrag)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.OpenHandCursor)

    # --- zoom and pan ------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def center(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def fit(self) -> None:
        self._fitting = True
        if self.has_image():
            self._apply(lambda: self.fitInView(self._image, Qt.AspectRatioMode.KeepAspectRatio))

    def actual_size(self) -> None:
        """One image pixel per physical screen pixel (high-DPI screens included)."""
        self.set_view(1.0 / self.devicePixelRatioF(), self.center())
        self.view_changed.emit()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom keeping the scene point under `anchor` (viewport pixels; default: the centre) in place."""
        anchor = anchor if anchor is not None else self.viewport().rect().center()
        target = min(max(self.zoom() * factor, MIN_ZOOM), MAX_ZOOM)
        fixed = self.mapToScene(anchor)

        def change():
            self.scale(target / self.zoom(), target / self.zoom())
            drift = self.mapToScene(anchor) - fixed
            self.translate(drift.x(), drift.y())

        self._fitting = False
        self._apply(change)
        self.view_changed.emit()

    def set_view(self, zoom: float, center: QPointF) -> None:
        """Follow another viewer (no view_changed is emitted)."""
        self._fitting = False
        def change() -> None:
            self.setTransform(QTransform.fromScale(zoom, zoom))
            self.centerOn(center)

        self._apply(change)

    def _apply(self, change) -> None:
        self._quiet = True
        try:
            change()
        finally:
            self._quiet = False
        smooth = self.zoom() < 1.0  # crisp pixels zoomed in
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        self._image.setTransformationMode(mode)
        for item in self._layers.values():  # maps are upsampled smoothly, like the report draws them
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._outline_widths(self.zoom())
        self._place_mark()
        self.zoom_changed.emit(self.zoom())

    def _scrolled(self) -> None:
        self._place_mark()
        if not self._quiet:
            self.view_changed.emit()

    # --- events ------------------------------------------------------------------------------------
    def wheelEvent(self, event) -> None:
        if self.has_image():
            self.zoom_by(ZOOM_STEP ** (event.angleDelta().y() / 120.0), event.position().toPoint())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitting:
            self.fit()
        self._place_mark()

    def mousePressEvent(self, event) -> None:
        if self._crop_mode and self.has_image() and event.button() == Qt.MouseButton.LeftButton:
            self._drag_start = self._clamped(self.mapToScene(event.position().toPoint()))
            self._band.setRect(QRectF(self._drag_start, self._drag_start))
            self._band.show()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._drag_start is not None:
            end = self._clamped(self.mapToScene(event.position().toPoint()))
            self._band.setRect(QRectF(self._drag_start, end).normalized())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_start is None:
            super().mouseReleaseEvent(event)
            return
        end = self._clamped(self.mapToScene(event.position().toPoint()))
        rect = QRectF(self._drag_start, end).normalized()
        self._drag_start = None
        self._band.hide()
        box = (round(rect.x()), round(rect.y()), round(rect.width()), round(rect.height()))
        if box[2] >= MIN_DRAG and box[3] >= MIN_DRAG:
            self.crop_drawn.emit(box)

    def dragEnterEvent(self, event) -> None:
        event.setAccepted(event.mimeData().hasUrls())
        self._highlight(event.isAccepted())

    def dragMoveEvent(self, event) -> None:
        event.setAccepted(event.mimeData().hasUrls())

    def dragLeaveEvent(self, event) -> None:
        self._highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event) -> None:
        self._highlight(False)
        paths = [url.toLocalFile() for url in event.mimeData().urls()]
        event.acceptProposedAction()
        self.files_dropped.emit(paths)

    def is_drop_target(self) -> bool:
        return self._drop_target

    def _highlight(self, on: bool) -> None:
        self._drop_target = on
        self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        painter.save()
        painter.resetTransform()
        if self._drop_target:  # where a dropped file will go
            painter.setPen(QPen(QColor(80, 160, 255), 6))
            painter.setBrush(QColor(80, 160, 255, 50))
            painter.drawRect(self.viewport().rect().adjusted(3, 3, -3, -3))
        if not self.has_image():
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.placeholder)
        painter.restore()

    def _clamped(self, point: QPointF) -> QPointF:
        bounds = self._image.boundingRect()
        return QPointF(min(max(point.x(), 0.0), bounds.width()), min(max(point.y(), 0.0), bounds.height()))

    @staticmethod
    def _cosmetic_pen(colour: QColor, style) -> QPen:
        pen = QPen(QBrush(colour), 2, style)
        pen.setCosmetic(True)  # constant width on screen, whatever the zoom
        return pen
