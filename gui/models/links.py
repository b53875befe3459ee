"""Correspondence links (core.explain.correspondence) without widgets: whether they are shown, how many, and the
shown pair's correspondence, asked of the runner only while links are shown (they cost a little more model work)
and dropped the moment the pair's maps no longer apply, so no line ever joins the wrong images. gui.views.links
draws them between the viewers and paints, under the pointer, where a point matches on the other image."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import links as links_task

MAX_LINKS = 40  # computed when links are shown; `[` / `]` choose how many of them are drawn
DEFAULT_LINKS = 10


class LinksState(QObject):
    """Whether links are shown and how many (strongest first), and the shown pair's correspondence.
    `changed()` after visibility or count change; `found_changed(correspondence or None)`."""

    changed = Signal()
    found_changed = Signal(object)

    def __init__(self, session=None, problems=None, parent=None):
        super().__init__(parent)
        self.session, self.problems = session, problems
        self.visible, self.count = False, DEFAULT_LINKS
        self._for = None  # the Explained whose correspondence is asked for or shown
        self.found = None  # its core.explain.correspondence.Correspondence
        if session is not None:
            session.explanation_changed.connect(self._explanation_changed)
            self.changed.connect(self._request)

    def set_visible(self, on: bool) -> None:
        if on != self.visible:
            self.visible = on
            self.changed.emit()

    def set_count(self, count: int) -> None:
        count = min(max(int(count), 1), MAX_LINKS)
        if count != self.count:
            self.count = count
            self.changed.emit()

    def _explanation_changed(self, _explained) -> None:
        self._for = self.found = None
        self.found_changed.emit(None)
        self._request()

    def _request(self) -> None:
        explained = self.session.explained
        if not self.visible or explained is None or self._for is explained:
            return
        self._for = explained
        if explained.explanation.in_domain is not None and not all(explained.explanation.in_domain):
            self.session.info.emit("No links: an image is outside this model's domain, "
                                   "so nothing it matched means much")
            return
        self.session.runner.submit("links", links_task, explained, MAX_LINKS, label="Finding what matches…",
                                   on_result=lambda found, e=explained: self._arrived(e, found),
                                   on_error=lambda text: self.problems.report("links", f"Links not computed: {text}"))

    def _arrived(self, explained, found) -> None:
        if explained is self.session.explained:
            self.found = found
            self.found_changed.emit(found)
