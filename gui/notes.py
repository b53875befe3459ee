"""The reviewer's note on a one-off pair (one opened outside a worklist), kept with the pair so nothing typed is lost.

A worklist case keeps its note in the worklist. A pair dropped or opened by hand has no case, so its note is kept
here, keyed by the two images' contents (sha256, in either order: a swapped pair is the same pair), in a small
SQLite file beside the settings. Every change is committed at once (WAL), as in the worklist: quitting, a crash or
`kill -9` loses at most the key being typed, and opening the same two images again brings the note back.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from .layers import SLOTS

SCHEMA = """CREATE TABLE IF NOT EXISTS notes (pair TEXT PRIMARY KEY, note TEXT NOT NULL, image1 TEXT, image2 TEXT,
                                                updated TEXT NOT NULL)"""


def content_key(ready) -> str:
    """sha256 of an image file's bytes, or of a pasted image's pixels (it has no file)."""
    image = ready.image
    digest = hashlib.sha256()
    if image.path:
        with open(image.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    else:
        digest.update(f"{image.image.mode}{image.image.size}".encode())
        digest.update(image.image.tobytes())
    return digest.hexdigest()


class NoteStore:
    """pair key -> note, in SQLite; an empty note removes the pair's row."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process kill loses no committed change
        self._db.execute(SCHEMA)
        self._db.commit()

    def get(self, pair: str) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT note FROM notes WHERE pair = ?", (pair,)).fetchone()
        return row[0] if row else None

    def put(self, pair: str, note: str, paths=(None, None)) -> None:
        if self._db is None:  # closed with the window
            return
        if note:
            self._db.execute("INSERT INTO notes VALUES (?, ?, ?, ?, ?) ON CONFLICT(pair) DO UPDATE SET note = "
                             "excluded.note, image1 = excluded.image1, image2 = excluded.image2, updated = "
                             "excluded.updated", (pair, note, *paths, datetime.now(UTC).isoformat()))
        else:
            self._db.execute("DELETE FROM notes WHERE pair = ?", (pair,))
        self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class PairNotes(QObject):
    """Which one-off pair is open and its note: loads it when the pair changes, saves every edit.

    A note typed before the pair was complete (one image loaded) is adopted by the pair when it arrives, if that
    pair has no note of its own."""

    note_loaded = Signal(str)  # the open pair's note, to show in the note editor

    def __init__(self, session, worklist, path: str | Path):
        super().__init__()
        self.session, self.worklist = session, worklist
        self.store = NoteStore(path)
        self.pair: str | None = None  # the open one-off pair's key; None without two images or in a worklist case
        self.text = ""  # the note as last typed or shown
        self._hashes: dict[tuple, str] = {}  # (path, size, mtime) -> sha256: hashed once per file version
        session.image_changed.connect(self._image_changed)

    def save(self, text: str) -> None:
        """The reviewer edited the note (outside a worklist case): store it with the open pair, at once."""
        self.text = text
        if self.pair is not None:
            self.store.put(self.pair, text, self._paths())

    def close(self) -> None:
        self.store.close()

    def _image_changed(self, _slot: int, _ready) -> None:
        if self.worklist.current >= 0:  # a case's note is the worklist's
            self.pair = None
            return
        pair = self._pair_key()
        if pair == self.pair:
            return
        previous, self.pair = self.pair, pair
        if pair is None:
            return  # one image only: keep what is shown; it goes with the pair once that is complete
        stored = self.store.get(pair)
        if stored is None and previous is None and self.text:
            self.store.put(pair, self.text, self._paths())  # typed before the second image arrived
            return
        self.text = stored or ""
        self.note_loaded.emit(self.text)

    def _pair_key(self) -> str | None:
        images = self.session.images
        if any(images[slot] is None for slot in SLOTS):
            return None
        try:
            return ":".join(sorted(self._hash(images[slot]) for slot in SLOTS))
        except OSError:  # the file went away since it was loaded: no key, nothing stored
            return None

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
