"""Where a map's check caption ("map not better than chance") goes on a viewer, and how large: never over the
lesion. The maps cover a box (the lesion crop, or the whole image); the caption goes beside that box on the screen
(above, below, right, left: the letterbox or the skin around a crop), and only where no such place is in view (the
box fills the view: a whole-image map, or zoomed in) into the view's corner farthest from the map's hot region.
Plain geometry on screen (viewport) rectangles, so it is tested without a picture."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize

GAP = 3  # screen pixels between the caption and the maps' box or the view's edge
MIN_POINT_SIZE = 7.0  # below this the words are wrapped onto more lines rather than shrunk further
HEIGHT_SHARE = 8  # the caption's line at most 1/8 of the view's height: in a small viewer it keeps to a corner


def caption_point_size(default: float, text_width: float, line_height: float, view: QSize) -> float:
    """The caption's font size: the default, shrunk (to MIN_POINT_SIZE at least) where one line of it would be
    wider than the view or taller than 1/HEIGHT_SHARE of it."""
    scale = min(1.0, (view.width() - 2 * GAP) / max(text_width, 1.0),
                view.height() / HEIGHT_SHARE / max(line_height, 1.0))
    return max(MIN_POINT_SIZE, default * scale)


def caption_spot(view: QRect, box: QRect, hot: QRect | None, size: QSize) -> QPoint:
    """The top-left corner (viewport pixels) of a caption of `size` in `view`, the maps covering `box` on screen
    and the map's hot region (its top-share outline; None: unknown, the box's centre stands for it) at `hot`."""
    if not box.intersects(view):  # the maps are panned out of sight: the caption keeps to them, out of sight too
        return box.topLeft() + QPoint(GAP, GAP)
    seen = box.intersected(view)
    w, h = size.width(), size.height()

    def inside(x: int, y: int) -> QRect:  # slid along the view's edges, never cut by them
        x = max(view.left() + GAP, min(x, view.right() - GAP - w + 1))
        y = max(view.top() + GAP, min(y, view.bottom() - GAP - h + 1))
        return QRect(x, y, w, h)

    beside = (inside(seen.left(), seen.top() - GAP - h), inside(seen.left(), seen.bottom() + GAP + 1),
              inside(seen.right() + GAP + 1, seen.top()), inside(seen.left() - GAP - w, seen.top()))
    for spot in beside:
        if not spot.intersects(box) and view.contains(spot):
            return spot.topLeft()
    hot = (hot if hot is not None and not hot.isEmpty() else QRect(box.center(), QSize(1, 1))).intersected(view)
    if hot.isEmpty():  # the hot region is out of view: what is seen of the maps stands for it
        hot = QRect(seen.center(), QSize(1, 1))
    corners = [inside(x, y) for x in (view.left(), view.right()) for y in (view.top(), view.bottom())]

    def cost(spot: QRect) -> tuple[int, int]:  # least of the hot region covered, then farthest from its centre
        covered = spot.intersected(hot)
        far = (spot.center() - hot.center()).manhattanLength()
        return covered.width() * covered.height(), -far

    return min(corners, key=cost).topLeft()


def wrapped(text: str, width: float, advance) -> str:
    """`text` broken at spaces into lines no wider than `width` where `advance(line)` (its width) allows: every word
    kept, a word wider than `width` alone on its line."""
    lines: list[str] = []
    for word in text.split():
        if lines and advance(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)
