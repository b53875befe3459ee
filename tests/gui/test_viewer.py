"""ImageViewer and ViewSync without a model: pixel-exact layers, zoom at the cursor, 1:1, fit, synchronisation."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from gui.jobs.qimage import array_to_qimage
from gui.views.sync import ViewSync
from gui.views.viewer import ImageViewer

from .conftest import grab_pixels


@pytest.fixture
def viewer(qtbot):
    view = ImageViewer("empty")
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    view.set_image(array_to_qimage(np.zeros((80, 100, 3), np.uint8)))
    return view


@pytest.mark.parametrize("map_shape", [(20, 30), (10, 15)], ids=["map at crop size", "capped map, upsampled"])
def test_layer_covers_exactly_the_crop_pixels(viewer, map_shape):
    red = np.zeros((*map_shape, 4), np.uint8)
    red[..., 0] = red[..., 3] = 255
    viewer.set_layer("factual", array_to_qimage(red), (10, 15, 30, 20))
    viewer.actual_size()
    viewer.centerOn(50, 40)
    pixels = grab_pixels(viewer.viewport())
    rows, cols = np.nonzero((pixels[..., 0] > 200) & (pixels[..., 1] < 50))
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (20, 30)
    origin = viewer.mapFromScene(QPointF(10, 15))
    assert (cols.min(), rows.min()) == (origin.x(), origin.y())


def test_layer_toggle_and_opacity_change_pixels(viewer):
    white = np.full((80, 100, 4), 255, np.uint8)
    viewer.set_layer("counterfactual", array_to_qimage(white))
    viewer.actual_size()
    at = viewer.mapFromScene(QPointF(50, 40))
    values = []
    for visible, opacity in ((False, 1.0), (True, 1.0), (True, 0.5)):
        viewer.set_layer_visible("counterfactual", visible)
        viewer.set_layer_opacity("counterfactual", opacity)
        values.append(grab_pixels(viewer.viewport())[at.y(), at.x(), 0])
    assert values[0] == 0 and values[1] == 255 and 100 < values[2] < 155


def test_wheel_zooms_at_the_cursor(viewer):
    viewer.set_view(5.0, QPointF(50, 40))  # image larger than the view: free to move (a smaller one stays centred)
    cursor = viewer.mapFromScene(QPointF(30, 20))
    before = viewer.mapToScene(cursor)
    event = QWheelEvent(QPointF(cursor), QPointF(viewer.viewport().mapToGlobal(cursor)), QPoint(0, 0),
                        QPoint(0, 240), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(viewer.viewport(), event)
    assert viewer.zoom() == pytest.approx(5.0 * 1.25 ** 2)
    after = viewer.mapToScene(cursor)
    assert abs(after.x() - before.x()) <= 1 and abs(after.y() - before.y()) <= 1


def test_fit_and_actual_size(viewer):
    viewer.fit()
    fitted = min(viewer.viewport().width() / 100, viewer.viewport().height() / 80)
    assert viewer.zoom() == pytest.approx(fitted, rel=0.05)
    viewer.actual_size()
    assert viewer.zoom() == pytest.approx(1.0 / viewer.devicePixelRatioF())


def test_sync_keeps_zoom_ratio_and_offset(qtbot, viewer):
    other = ImageViewer("empty")
    qtbot.addWidget(other)
    other.resize(400, 300)
    other.show()
    other.set_image(array_to_qimage(np.zeros((200, 300, 3), np.uint8)))
    viewer.set_view(2.0, QPointF(40, 30))
    other.set_view(1.0, QPointF(150, 100))
    sync = ViewSync(viewer, other)
    sync.set_enabled(True)
    viewer.zoom_by(2.0)
    assert other.zoom() == pytest.approx(2.0)
    sync.set_enabled(False)
    viewer.zoom_by(2.0)
    assert other.zoom() == pytest.approx(2.0)


def test_crop_mode_drag_reports_a_box_in_image_pixels(qtbot, viewer):
    viewer.actual_size()
    viewer.set_crop_mode(True)
    start, end = viewer.mapFromScene(QPointF(10, 12)), viewer.mapFromScene(QPointF(50, 60))
    with qtbot.waitSignal(viewer.crop_drawn, timeout=2000) as drawn:
        qtbot.mousePress(viewer.viewport(), Qt.LeftButton, pos=start)
        qtbot.mouseMove(viewer.viewport(), end)
        qtbot.mouseRelease(viewer.viewport(), Qt.LeftButton, pos=end)
    x, y, w, h = drawn.args[0]
    assert abs(x - 10) <= 1 and abs(y - 12) <= 1 and abs(w - 40) <= 1 and abs(h - 48) <= 1


def test_files_dragged_over_a_viewer_highlight_it_until_they_leave_or_drop(viewer):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent

    before = grab_pixels(viewer.viewport())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile("/tmp/x.png")])
    QApplication.sendEvent(viewer.viewport(), QDragEnterEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton,
                                                              Qt.NoModifier))
    assert viewer.is_drop_target()
    assert np.abs(grab_pixels(viewer.viewport()) - before).sum() > 1000  # drawn, not just flagged
    QApplication.sendEvent(viewer.viewport(), QDragLeaveEvent())
    assert not viewer.is_drop_target()
    assert np.array_equal(grab_pixels(viewer.viewport()), before)


def test_every_zoom_change_is_announced(viewer, qtbot):
    with qtbot.waitSignal(viewer.zoom_changed, timeout=1000) as zoomed:
        viewer.zoom_by(2.0)
    assert zoomed.args[0] == pytest.approx(viewer.zoom())
    with qtbot.waitSignal(viewer.zoom_changed, timeout=1000):
        viewer.fit()


def test_a_maps_caption_wider_than_a_small_crop_stays_readable_over_the_shade(viewer):
    """The caption ("map not better than chance") keeps its pixel size at any zoom; on a small crop it reaches past
    the box, over the shade that darkens the rest of the image, and must not be darkened with it."""
    grey = np.full((80, 100, 3), 128, np.uint8)
    viewer.set_image(array_to_qimage(grey))  # fitted: 3x, a 10 px box is about 30 px on screen
    box = (5, 5, 10, 10)
    viewer.set_crop(box)
    viewer.set_mark("map not better than chance", box)
    pixels = grab_pixels(viewer.viewport()).astype(int)
    right_of_box = viewer.mapFromScene(QPointF(box[0] + box[2] + 2, 0)).x()
    caption = np.abs(pixels[..., :3] - (255, 220, 90)).sum(axis=2) < 60  # the caption's own ink, undimmed
    assert caption[:, right_of_box:].sum() > 20


def _caption_ink(viewer) -> np.ndarray:
    pixels = grab_pixels(viewer.viewport()).astype(int)
    return np.abs(pixels[..., :3] - (255, 220, 90)).sum(axis=2) < 60  # the caption's yellow


def test_a_maps_caption_is_read_whole_on_a_crop_at_the_image_s_edge_and_zoomed_in(viewer):
    """The caption starts at the maps' top-left corner; where that would cut it (a crop at the image's right edge, a
    view zoomed in past the corner) it moves inside the view, so "map not better than chance" is never read as
    "map not better"."""
    viewer.set_image(array_to_qimage(np.full((80, 100, 3), 128, np.uint8)))
    text = "map not better than chance"
    viewer.set_mark(text, (5, 5, 10, 10))
    whole = _caption_ink(viewer).sum()  # the caption where it fits
    assert whole > 100
    for box in [(88, 30, 12, 12), (88, 68, 12, 12)]:  # at the right edge; at the bottom-right corner
        viewer.set_mark(text, box)
        ink = _caption_ink(viewer)
        assert ink.sum() == pytest.approx(whole, rel=0.05)
        assert not ink[:, -2:].any() and not ink[-2:].any()  # not cut by the view's edge
    viewer.set_mark(text, (0, 0, 100, 80))
    viewer.zoom_by(6.0)  # the maps' top-left corner is far outside the view, the maps fill it
    assert _caption_ink(viewer).sum() == pytest.approx(whole, rel=0.05)
    viewer.set_mark(None)
    assert not _caption_ink(viewer).any()


def _box_on_screen(viewer, box):
    return viewer.mapFromScene(QRectF(*box)).boundingRect()


@pytest.mark.parametrize("size", [(300, 110), (505, 130), (160, 90)], ids=["small", "follow-up's", "tiny"])
def test_a_maps_caption_never_covers_a_small_lesion_in_a_small_viewer(qtbot, size):
    """The follow-up dock leaves the viewers a strip of the window's height: a 224 px dermoscopy image fits in
    about 100 px and its lesion crop in 25. The caption was drawn at the crop's corner and hid the whole lesion;
    it goes beside the maps' box (here the letterbox), whole and inside the view."""
    viewer = ImageViewer("empty")
    qtbot.addWidget(viewer)
    viewer.resize(*size)
    viewer.show()
    viewer.set_image(array_to_qimage(np.full((224, 224, 3), 128, np.uint8)))
    text = "map not better than chance"
    for box in [(88, 82, 56, 56), (10, 10, 40, 40), (170, 170, 50, 50)]:  # centred; at two corners
        viewer.set_crop(box)
        viewer.set_mark(text, box)
        caption, lesion = viewer.mark_rect(), _box_on_screen(viewer, box)
        assert not caption.intersects(lesion), (box, caption, lesion)
        assert viewer.viewport().rect().contains(caption)
        ink = _caption_ink(viewer)
        assert ink.sum() > 15  # drawn, and in yellow (small type is mostly antialiased edges)
        ys, xs = np.nonzero(ink)
        assert not lesion.adjusted(1, 1, -1, -1).contains(QPoint(int(np.median(xs)), int(np.median(ys))))
        assert viewer.mark_text() == text  # the words whole, however wrapped


def test_a_caption_over_a_whole_image_map_keeps_off_its_hot_region(viewer):
    """A map of the whole image zoomed to fill the view leaves no place beside it: the caption goes into the view's
    corner farthest from where the map is hot (its top-share outline), not over the evidence."""
    viewer.set_image(array_to_qimage(np.full((80, 100, 3), 128, np.uint8)))
    hot = np.array([[5, 5], [30, 5], [30, 25], [5, 25]])  # the top-left of a 100 x 80 map
    viewer.set_outline([hot], (100, 80))
    viewer.set_mark("map not better than chance", (0, 0, 100, 80))
    viewer.set_view(4.5, QPointF(50, 40))  # the image fills the view, past its edges
    caption = viewer.mark_rect()
    hot_on_screen = viewer.mapFromScene(QRectF(5, 5, 25, 20)).boundingRect()
    assert viewer.viewport().rect().contains(caption)
    assert not caption.intersects(hot_on_screen)
    assert caption.center().x() > viewer.viewport().width() / 2  # the far (right, bottom) corner
    assert caption.center().y() > viewer.viewport().height() / 2


def test_a_caption_in_a_very_narrow_viewer_is_smaller_and_wrapped_whole(qtbot):
    viewer = ImageViewer("empty")
    qtbot.addWidget(viewer)
    viewer.resize(90, 200)
    viewer.show()
    viewer.set_image(array_to_qimage(np.full((224, 224, 3), 128, np.uint8)))
    text = "map not better than chance"
    viewer.set_mark(text, (88, 82, 56, 56))
    caption = viewer.mark_rect()
    assert viewer.viewport().rect().contains(caption)
    assert not caption.intersects(_box_on_screen(viewer, (88, 82, 56, 56)))
    assert viewer.mark_text() == text


def test_the_outline_thins_in_a_small_viewer_so_a_small_lesion_shows_between_its_lines(qtbot):
    """In the follow-up's small viewers (a 224 px image in about 130 px) the 4 px outline around each fragment of
    the map's top covered a 25 px lesion; below 1:1 the lines thin with the zoom (to half), at 1:1 they are whole."""
    from gui.views.viewer import OUTLINE_WIDTHS

    viewer = ImageViewer("empty")
    qtbot.addWidget(viewer)
    viewer.resize(505, 130)
    viewer.show()
    viewer.set_image(array_to_qimage(np.full((224, 224, 3), 128, np.uint8)))
    assert viewer.zoom() < 0.6
    small = viewer.outline_widths()
    assert all(width < whole for width, whole in zip(small, OUTLINE_WIDTHS, strict=True))
    assert all(width >= whole / 2 for width, whole in zip(small, OUTLINE_WIDTHS, strict=True))
    viewer.actual_size()
    assert viewer.outline_widths() == OUTLINE_WIDTHS
