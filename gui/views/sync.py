"""Synchronised viewing: zooming or panning one viewer moves the other, keeping the zoom ratio and the offset
between their centres that they had when synchronisation was switched on (or the views were last reset)."""

from __future__ import annotations

from PySide6.QtCore import QObject

from .viewer import ImageViewer


class ViewSync(QObject):
    def __init__(self, first: ImageViewer, second: ImageViewer, parent=None):
        super().__init__(parent)
        self.viewers = (first, second)
        self.enabled = False
        self._ratio = 1.0  # second zoom / first zoom
        self._offset = (0.0, 0.0)  # second centre - first centre, in scene pixels
        first.view_changed.connect(lambda: self._follow(0))
        second.view_changed.connect(lambda: self._follow(1))

    def set_enabled(self, on: bool) -> None:
        self.enabled = on
        if on:
            self.rebase()

    def rebase(self) -> None:
        """Take the viewers' current relation as the one to keep."""
        first, second = self.viewers
        self._ratio = second.zoom() / first.zoom() if first.zoom() else 1.0
        a, b = first.center(), second.center()
        self._offset = (b.x() - a.x(), b.y() - a.y())

    def _follow(self, source: int) -> None:
        if not self.enabled:
            return
        src, dst = self.viewers[source], self.viewers[1 - source]
        sign = 1.0 if source == 0 else -1.0
        ratio = self._ratio if source == 0 else 1.0 / self._ratio
        centre = src.center()
        centre.setX(centre.x() + sign * self._offset[0])
        centre.setY(centre.y() + sign * self._offset[1])
        dst.set_view(src.zoom() * ratio, centre)
