"""Similar cases, without widgets: the gallery, its nearest cases to image 1, and stepping through them as image 2.

Image 1 (its crop included), the model or the gallery changing means a new lookup; the gallery's index is
brought up to date first, with progress, and the reviewer may cancel that (the cases indexed so far are
searched). A case opened from here carries its provenance into the pair's report.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from ..jobs import tasks
from ..jobs.tasks import SimilarFound
from .problems import Problems
from .session import ReviewSession

KEY = "similar"


class SimilarCases(QObject):
    found_changed = Signal(object)  # SimilarFound, or None when there is nothing to show
    progress = Signal(int, int)  # done, total while the gallery's index is brought up to date
    gallery_changed = Signal(object)  # folder, or None
    current_changed = Signal(int)  # rank (1 = nearest) of the shown case that is image 2 now; 0 when none is
    searching = Signal()  # a lookup is under way (the gallery's index brought up to date first); found_changed ends it

    def __init__(self, session: ReviewSession, problems: Problems, k: int = 10):
        super().__init__()
        self.session, self.problems = session, problems
        self.runner = session.runner
        self.k = k
        self.gallery: str | None = None
        self.found: SimilarFound | None = None
        # Every new image 1 (opened, swapped in) also announces its crop: one signal to follow, one lookup.
        session.crop_changed.connect(self._crop_changed)
        session.model_changed.connect(self._model_changed)
        session.image_changed.connect(lambda slot, _ready: self._announce_current() if slot == 1 else None)
        self.runner.progress.connect(self._progress)  # a bound slot: queued to this (GUI) thread

    def set_gallery(self, path: str | None) -> None:
        self.gallery = path or None
        self.gallery_changed.emit(self.gallery)
        self.lookup()

    def lookup(self) -> None:
        """Find the cases nearest to image 1 in the gallery (its index is updated first, cancellably)."""
        s = self.session
        if not self.gallery or s.images[0] is None or s.model is None:
            self.runner.cancel(KEY)
            self._show(None)
            return
        self.runner.submit(KEY, tasks.similar, self.gallery, s.images[0].image, s.crops[0], self.k,
                           label="Finding similar cases…", on_result=self._show, on_error=self._failed)
        self.searching.emit()

    def cancel(self) -> None:
        """Stop updating the gallery's index; the hits then come from the images indexed so far."""
        self.runner.interrupt(KEY)

    def open_hit(self, hit: dict) -> None:
        """Load a similar case as image 2; the pair is explained as usual and its report says where it came from."""
        query = self.session.images[0].image.path if self.session.images[0] is not None else None
        provenance = {"query": query, "rank": hit["rank"], "label": hit["label"],
                      "similarity": round(float(hit["similarity"]), 6), "gallery": self.gallery}
        self.session.open_image(1, hit["path"], provenance=provenance)

    def step(self, delta: int) -> bool:
        """Open the next (or previous) case after the one shown as image 2, starting from the nearest.
        False when there are no cases to step through."""
        found = self.found
        if found is None or not found.hits:
            return False
        current = self.session.provenance[1]
        rank = current["rank"] if current and current.get("query") == found.query else 0
        position = min(max(rank - 1 + delta, 0), len(found.hits) - 1) if rank else 0
        self.open_hit(found.hits[position])
        return True

    def _show(self, found: SimilarFound | None) -> None:
        self.found = found
        if found is not None:
            self.problems.clear(KEY)
        self.found_changed.emit(found)
        self._announce_current()

    def _failed(self, text: str) -> None:
        self.problems.report(KEY, f"Similar cases not found: {text}")
        self._show(None)  # the dock no longer says a search is under way

    def current_rank(self) -> int:
        """Rank of the case shown as image 2 among the hits of this image 1; 0 when image 2 is not one of them."""
        current, found = self.session.provenance[1], self.found
        if found is None or not current or current.get("query") != found.query:
            return 0
        return current["rank"] if any(hit["rank"] == current["rank"] for hit in found.hits) else 0

    def _announce_current(self) -> None:
        """The strip highlights the case that is image 2, however it got there (a click, N / Shift+N)."""
        self.current_changed.emit(self.current_rank())

    @Slot(object, int, int)
    def _progress(self, key, done: int, total: int) -> None:
        if key == KEY:
            self.progress.emit(done, total)

    def _crop_changed(self, slot: int, _box, automatic: bool) -> None:
        if slot == 0 and not automatic:  # adopting the model's own box changes nothing the model sees
            self.lookup()

    def _model_changed(self, _ready) -> None:
        self.lookup()
