"""The links feature's presenter: whether correspondence links are drawn and which (gui.models.links), and, under
the pointer, where a point of one image matches on the other (a row or column of the cell-pair matrix, shown as a
"match" heat map over the other image). A `LinksView` draws them; it forwards where the pointer is."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from ..models.links import LinksState
from ..models.session import ReviewSession


class LinksView(Protocol):
    def show_visible(self, visible: bool) -> None: ...

    def show_links(self, links: list[dict], count: int) -> None:
        """The pair's links ({"p1", "p2", "weight"}, strongest first, ends in image pixels); the first `count`
        of them are drawn."""

    def show_match(self, slot: int, heat: np.ndarray | None, box: tuple | None) -> None:
        """Paint `heat` (values in [0, 1] on the correspondence grid) over image `slot` in `box`; None clears."""

    def show_status(self, text: str) -> None: ...


class LinksPresenter:
    def __init__(self, view: LinksView, links: LinksState, session: ReviewSession):
        self.view, self.links, self.session = view, links, session
        self.hovered: tuple[int, int] | None = None  # (image index, cell) under the pointer
        links.changed.connect(self.links_changed)
        links.found_changed.connect(self.found_changed)
        view.show_visible(links.visible)

    def links_changed(self) -> None:
        state = self.links
        self.view.show_visible(state.visible)
        self.view.show_links(self._links(), state.count)
        self.view.show_status(f"Links: the {state.count} strongest ([ and ] for fewer or more)"
                              if state.visible else "")
        if not state.visible:
            self.hover(None)

    def found_changed(self, _found) -> None:
        self.view.show_links(self._links(), self.links.count)
        self.hover(None)  # a new correspondence: the old match no longer applies

    def _links(self) -> list[dict]:
        found = self.links.found
        return list(found.links) if found is not None else []

    def pointer(self, where) -> None:
        """The pointer moved over (or clicked) image `where[0]` at pixel (x, y) = where[1:]; None: it left."""
        if self.links.visible and self.links.found is not None:
            self.hover(where)

    def hover(self, where) -> None:
        """where: (image index, x, y) in that image's pixels, or None to clear the match layer."""
        found = self.links.found
        explained = self.session.explained if where is not None and found is not None else None
        cell = None if explained is None else self._cell(found, explained, *where)
        if cell == self.hovered:
            return
        self.hovered = cell
        for slot in (0, 1):
            self.view.show_match(slot, None, None)
        if cell is None or found is None or explained is None:
            return
        index, n = cell
        values = (found.matrix[n, :] if index == 0 else found.matrix[:, n]).reshape(found.grid)
        top = float(values.max())
        heat = np.clip(values / top, 0.0, 1.0).astype(np.float32) if top > 0 else np.zeros_like(values, np.float32)
        self.view.show_match(1 - index, heat, _box(explained, 1 - index))

    @staticmethod
    def _cell(found, explained, index: int, x: float, y: float) -> tuple[int, int] | None:
        bx, by, bw, bh = _box(explained, index)
        rows, cols = found.grid
        # floor, not int(): a point just left of or above a crop is outside it, not in its first cell
        col, row = math.floor((x - bx) / bw * cols), math.floor((y - by) / bh * rows)
        if not (0 <= col < cols and 0 <= row < rows):
            return None
        return index, row * cols + col


def _box(explained, index: int) -> tuple:
    """Where the maps of image `index` lie, in its pixels: its crop, else the whole image."""
    image = explained.images[index]
    return tuple(image.crop) if image.crop else (0, 0, *image.original_size)
