"""The one answer to "which pair is under review?", and where what the reviewer says about it is kept.

The pair shown is the open worklist case when both its images are shown in the case's order
(`WorklistController.shows_open_case`); any other complete pair is a one-off pair, known by its images' contents.
The note, the case record, the assessment (agree / disagree with the model's verdict, held for the model and verdict
it was given on), the assessment of the pair's follow-up and the pixel size typed for its baseline go with that
identity: a case's to the worklist, a one-off pair's to the pair store (gui.models.pair_store). Notes, the case
record and the commands all ask this model, so they can never disagree about where an edit belongs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import CaseRecord
from .layers import SLOTS
from .pair_store import PairStore, content_key


@dataclass(frozen=True)
class PairIdentity:
    case: int | None = None  # the worklist case's id when the pair shown is the open case
    key: str | None = None  # a one-off pair's content key (sorted sha256 of both images)


class OpenPair(QObject):
    """`changed(identity)` when the pair under review becomes another one (None: fewer than two images shown);
    `note_loaded(text)` with that pair's note. While an image is still loading the previous identity stands, but for
    a worklist case just opened."""

    changed = Signal(object)
    swapped = Signal()  # the same one-off pair, its images now shown the other way round
    note_loaded = Signal(str)
    assessed = Signal()  # the reviewer agreed or disagreed with the verdict shown

    def __init__(self, session, worklist, store: PairStore):
        super().__init__()
        self.session, self.worklist, self.store = session, worklist, store
        self.identity: PairIdentity | None = None
        self.note = ""  # as last typed or shown
        self._order: tuple[str, ...] = ()  # a one-off pair's image hashes as shown (slot 1, slot 2)
        self._hashes: dict[tuple, str] = {}  # (path, size, mtime) -> sha256: hashed once per file version
        session.image_changed.connect(lambda _slot, _ready: self.update())
        worklist.current_changed.connect(lambda _row: self.update())

    # --- what the reviewer says ----------------------------------------------------------------------------
    def save_note(self, text: str) -> None:
        """Stored at once with the pair under review; typed before its second image arrived, it goes with the
        pair once complete."""
        self.note = text
        identity = self.identity
        if identity is not None and identity.case is not None:
            self.worklist.save_note(text)
        elif identity is not None and identity.key is not None:
            self.store.put(identity.key, text, self._paths())

    def save_record(self, record: CaseRecord) -> None:
        identity = self.identity
        if identity is not None and identity.case is not None:
            self.worklist.save_record(record)
        elif identity is not None and identity.key is not None:
            self.store.put_record(identity.key, self._in_key_order(record), self._paths())

    def stored_record(self) -> CaseRecord | None:
        """The pair's record as last saved: a case's own, a one-off pair's from the store (None if never typed)."""
        identity = self.identity
        if identity is not None and identity.case is not None:
            return self.worklist.cases[self.worklist.current].record
        if identity is not None and identity.key is not None:
            stored = self.store.record(identity.key)
            return None if stored is None else self._in_key_order(stored)  # the same swap both ways
        return None

    def save_followup_assessment(self, text: str) -> None:
        """The reviewer's assessment of the pair's follow-up, kept as the note is."""
        identity = self.identity
        if identity is not None and identity.case is not None:
            self.worklist.save_followup_assessment(text)
        elif identity is not None and identity.key is not None:
            self.store.put_followup_assessment(identity.key, text, self._paths())

    def followup_assessment(self) -> str:
        identity = self.identity
        if identity is not None and identity.case is not None:
            return self.worklist.cases[self.worklist.current].followup_assessment or ""
        if identity is not None and identity.key is not None:
            return self.store.followup_assessment(identity.key)
        return ""

    def save_pixel_size(self, text: str) -> None:
        """The baseline pixel size (mm) typed for the pair's follow-up: a case's with the case (image 1 is always its
        baseline), a one-off pair's with the image shown as baseline now."""
        identity = self.identity
        if identity is not None and identity.case is not None:
            self.worklist.save_pixel_size(text)
        elif identity is not None and identity.key is not None and self._order:
            self.store.put_pixel_size(identity.key, text, self._order[0], self._paths())

    def pixel_size(self) -> str:
        """The pixel size kept for the pair as shown ("" when none, or when it was typed for the other image as
        the baseline: a swapped pair's baseline is another photograph, perhaps at another magnification)."""
        identity = self.identity
        if identity is not None and identity.case is not None:
            return self.worklist.cases[self.worklist.current].pixel_size_mm or ""
        if identity is not None and identity.key is not None and self._order:
            return self.store.pixel_size(identity.key, self._order[0])
        return ""

    def assess(self, decision: str) -> bool:
        """The reviewer agrees or disagrees with the model's verdict on the pair; False when no pair is shown, or
        a one-off pair's verdict is not shown yet."""
        identity = self.identity
        if identity is not None and identity.case is not None:
            self.worklist.review(decision)
            self.assessed.emit()
            return True
        on = self._verdict_shown()
        if identity is not None and identity.key is not None and on is not None:
            self.store.put_assessment(identity.key, decision, on, self._paths())
            self.assessed.emit()
            return True
        return False

    def assessment(self) -> str | None:
        identity = self.identity
        if identity is not None and identity.case is not None:
            return self.worklist.reviewer_verdict()
        on = self._verdict_shown()
        if identity is not None and identity.key is not None and on is not None:
            return self.store.assessment(identity.key, on)
        return None

    def _verdict_shown(self) -> tuple[str, str] | None:
        """(model sha256, verdict) of the explanation shown: what an agree / disagree is given on."""
        explained = self.session.explained
        if explained is None:
            return None
        return (explained.model.sha256, explained.explanation.verdict)

    def close(self) -> None:
        self.store.close()

    # --- which pair ------------------------------------------------------------------------------------------
    def update(self) -> None:
        order = self._order
        identity = self._identify()
        if identity == self.identity:
            if identity is not None and identity.key is not None and self._order == order[::-1] != order:
                self.swapped.emit()
            return
        previous, self.identity = self.identity, identity
        if identity is None:
            self.changed.emit(identity)
            return  # one image only: keep what is shown; it goes with the pair once that is complete
        stored = self.worklist.case_note() if identity.case is not None else self.store.get(identity.key or "")
        if not stored and previous is None and self.note:
            self.save_note(self.note)  # typed before the second image arrived
        else:
            self._show_note(stored or "")
        self.changed.emit(identity)

    def _identify(self) -> PairIdentity | None:
        # A case opened is the case at once, while its images load (what is typed then is the case's); images
        # loading over it leave it only once they are shown, as the worklist decides.
        w = self.worklist
        if w.current >= 0 and (w.shows_open_case() or self.session.loading()):
            return PairIdentity(case=w.cases[w.current].id)
        if self.session.loading():
            return self.identity  # the pair asked for is not the pair shown yet
        images = self.session.images
        if any(images[slot] is None for slot in SLOTS):
            return None
        try:
            self._order = tuple(self._hash(images[slot]) for slot in SLOTS)
            return PairIdentity(key=":".join(sorted(self._order)))
        except OSError:  # the file went away since it was loaded: no key, nothing stored
            return None

    def _in_key_order(self, record: CaseRecord) -> CaseRecord:
        """A one-off pair's record is stored with its dates in the order of the key (sorted hashes), so each date
        stays with its image whichever way round the pair is opened."""
        if list(self._order) == sorted(self._order):
            return record
        return replace(record, acquired=(record.acquired[1], record.acquired[0]))

    def _show_note(self, text: str) -> None:
        self.note = text
        self.note_loaded.emit(text)

    def _hash(self, ready) -> str:
        path = ready.image.path
        if not path:
            return content_key(ready)
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = content_key(ready)
        return self._hashes[key]

    def _paths(self) -> tuple:
        return tuple(ready.image.path if ready is not None else None for ready in self.session.images)
