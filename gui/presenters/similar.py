"""The similar-cases feature's presenter: the gallery, the index's progress and the nearest cases to image 1
(gui.models.similar_cases) put into words for a `SimilarView` (the dock), and the reviewer's clicks there sent back
to the model. Choosing a gallery asks for a folder, so it is gui.presenters.commands'."""

from __future__ import annotations

from typing import Protocol

from ..jobs.tasks import SimilarFound
from ..models.similar_cases import SimilarCases

NO_GALLERY = "No gallery chosen"
NOTHING_FOUND = "Load image 1 and choose a gallery to see its nearest known cases."
SEARCHING = "Finding the nearest known cases to image 1…"
# while the index is brought up to date: what is happening, not what to do (both are done)
INDEXING = "Indexing the gallery: {done} of {total} images, then finding the nearest known cases to image 1…"


class SimilarView(Protocol):
    def show_gallery(self, text: str, clearable: bool) -> None: ...

    def show_progress(self, progress: tuple[int, int] | None) -> None:
        """(done, total) while the gallery's index is updated, with Cancel; None hides both."""

    def show_found(self, summary: str, hits: list[dict]) -> None:
        """The hits (rank, similarity, label, path, qimage) as thumbnails under a one-line summary."""

    def show_current(self, rank: int) -> None:
        """Highlight the hit with this rank (the one shown as image 2); 0 highlights none."""


class SimilarPresenter:
    def __init__(self, view: SimilarView, similar: SimilarCases):
        self.view, self.similar = view, similar
        similar.gallery_changed.connect(self.show_gallery)
        similar.progress.connect(self.show_progress)
        similar.found_changed.connect(self.show_found)
        similar.current_changed.connect(view.show_current)
        similar.searching.connect(self.show_searching)
        self.show_gallery(similar.gallery)

    # --- what the model says ---------------------------------------------------------------------------
    def show_gallery(self, path: str | None) -> None:
        self.view.show_gallery(f"Gallery: {path}" if path else NO_GALLERY, bool(path))
        self.view.show_progress(None)
        if not path:
            self.show_found(None)

    def show_searching(self) -> None:
        self.view.show_found(SEARCHING, [])  # the hits shown were another image 1's, gallery's or model's

    def show_progress(self, done: int, total: int) -> None:
        self.view.show_progress((done, total) if done < total else None)
        if done < total:
            self.view.show_found(INDEXING.format(done=done, total=total), [])

    def show_found(self, found: SimilarFound | None) -> None:
        self.view.show_progress(None)
        if found is None:
            self.view.show_found(NOTHING_FOUND, [])
            return
        parts = [f"{len(found.hits)} nearest of {found.indexed} indexed cases"]
        if found.vote:
            parts.append(found.vote)
        if found.interrupted:
            parts.append("indexing was cancelled: only the cases indexed so far were searched")
        parts += found.notes  # the query's own content in the gallery, folded duplicates, where the index is
        self.view.show_found(" · ".join(parts), list(found.hits))

    # --- the reviewer's gestures -------------------------------------------------------------------------
    def clear_gallery(self) -> None:
        self.similar.set_gallery(None)

    def cancel(self) -> None:
        self.similar.cancel()

    def open_hit(self, hit: dict) -> None:
        self.similar.open_hit(hit)
