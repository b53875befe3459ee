"""What the reviewer typed and decided about a one-off pair (one opened outside a worklist), kept with the pair so
nothing is lost: the note, the case record, the assessment (agree / disagree with the model's verdict), the
assessment of its follow-up and the baseline pixel size typed for it (with which image was the baseline: the size is
that image's, never the other's when the pair is opened the other way round).

A worklist case keeps all three in the worklist. A pair dropped or opened by hand has no case, so they are kept
here, keyed by the two images' contents (sha256, in either order: a swapped pair is the same pair), in a small
SQLite file beside the settings. Every change is committed at once (WAL), as in the worklist: quitting, a crash or
`kill -9` loses at most the key being typed, and opening the same two images again brings everything back.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from ..jobs.tasks import CaseRecord, file_sha256

SCHEMA = """CREATE TABLE IF NOT EXISTS notes (pair TEXT PRIMARY KEY, note TEXT NOT NULL, image1 TEXT, image2 TEXT,
                                                updated TEXT NOT NULL)"""
# Added after the first release (notes only): the case record as JSON, the reviewer's agree / disagree, what that
# was given on (the model's sha256 and its verdict, as JSON; none in rows written before it was kept), and the
# reviewer's assessment of the pair's follow-up, and the baseline pixel size typed for it (JSON: [mm as typed, the
# baseline image's sha256]).
LATER_COLUMNS = (("record", "TEXT"), ("assessment", "TEXT"), ("assessed_on", "TEXT"), ("followup_assessment", "TEXT"),
                 ("pixel_size", "TEXT"))
FIELDS = ("note", "record", "assessment", "followup_assessment", "pixel_size")  # all empty: no row
UPSERT = ("INSERT INTO notes (pair, note, image1, image2, updated, record, assessment, assessed_on,"
          " followup_assessment, pixel_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(pair) DO UPDATE SET"
          " note = excluded.note, image1 = excluded.image1, image2 = excluded.image2, updated = excluded.updated,"
          " record = excluded.record, assessment = excluded.assessment, assessed_on = excluded.assessed_on,"
          " followup_assessment = excluded.followup_assessment, pixel_size = excluded.pixel_size")


def content_key(ready) -> str:
    """sha256 of an image file's bytes, or of a pasted image's pixels (it has no file)."""
    image = ready.image
    if image.path:
        return file_sha256(image.path)
    digest = hashlib.sha256()
    digest.update(f"{image.image.mode}{image.image.size}".encode())
    digest.update(image.image.tobytes())
    return digest.hexdigest()


def record_json(record: CaseRecord) -> str:
    return json.dumps(asdict(record), sort_keys=True)


def record_from_json(text: str | None) -> CaseRecord | None:
    """The stored record, or None when none is stored or it cannot be read (a row from another version)."""
    if not text:
        return None
    try:
        values = json.loads(text)
        return CaseRecord(**{**values, "acquired": tuple(values.get("acquired") or ("", ""))})
    except (TypeError, ValueError):
        return None


class PairStore:
    """pair key -> note, case record, assessments and pixel size, in SQLite; a pair with all empty has no row."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = sqlite3.connect(str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process kill loses no committed change
        self._db.execute(SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(notes)")}
        for name, kind in LATER_COLUMNS:
            if name not in present:
                self._db.execute(f"ALTER TABLE notes ADD COLUMN {name} {kind}")
        self._db.commit()

    def get(self, pair: str) -> str | None:
        """The pair's note, None when none is stored."""
        return self._row(pair).get("note")

    def record(self, pair: str) -> CaseRecord | None:
        return record_from_json(self._row(pair).get("record"))

    def assessment(self, pair: str, on: tuple[str, str]) -> str | None:
        """The reviewer's agree / disagree if it was given on `on` (model sha256, verdict): agreeing with one
        model's "similar" says nothing of another model's, or of the verdict after a crop changed it. A row kept
        before this was recorded answers as it always did."""
        row = self._row(pair)
        given_on = row.get("assessed_on")
        if given_on is not None and tuple(json.loads(given_on)) != tuple(on):
            return None
        return row.get("assessment")

    def followup_assessment(self, pair: str) -> str:
        return self._row(pair).get("followup_assessment") or ""

    def put_followup_assessment(self, pair: str, text: str, paths=(None, None)) -> None:
        self._put(pair, paths, followup_assessment=text or None)

    def pixel_size(self, pair: str, baseline: str) -> str:
        """The pixel size (mm, as typed) kept for the pair when `baseline` (sha256) is its baseline; "" otherwise."""
        try:
            text, kept_for = json.loads(self._row(pair).get("pixel_size") or "[]") or ("", "")
        except (TypeError, ValueError):  # a row from another version: as if none was typed
            return ""
        return text if kept_for == baseline and isinstance(text, str) else ""

    def put_pixel_size(self, pair: str, text: str, baseline: str, paths=(None, None)) -> None:
        self._put(pair, paths, pixel_size=json.dumps([text, baseline]) if text else None)

    def put(self, pair: str, note: str, paths=(None, None)) -> None:
        self._put(pair, paths, note=note)

    def put_record(self, pair: str, record: CaseRecord, paths=(None, None)) -> None:
        self._put(pair, paths, record=None if record.is_empty() else record_json(record))

    def put_assessment(self, pair: str, assessment: str | None, on: tuple[str, str], paths=(None, None)) -> None:
        self._put(pair, paths, assessment=assessment, assessed_on=json.dumps(list(on)))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _row(self, pair: str) -> dict:
        if self._db is None:  # closed with the window
            return {}
        row = self._db.execute(f"SELECT {', '.join(FIELDS)}, assessed_on FROM notes WHERE pair = ?",
                               (pair,)).fetchone()
        return {name: value for name, value in zip((*FIELDS, "assessed_on"), row, strict=True) if value} if row else {}

    def _put(self, pair: str, paths, **changed) -> None:
        if self._db is None:
            return
        values = {**self._row(pair), **changed}
        if not any(values.get(name) for name in FIELDS):
            self._db.execute("DELETE FROM notes WHERE pair = ?", (pair,))
        else:
            self._db.execute(UPSERT, (pair, values.get("note") or "", *paths, datetime.now(UTC).isoformat(),
                                      values.get("record"), values.get("assessment"), values.get("assessed_on"),
                                      values.get("followup_assessment"), values.get("pixel_size")))
        self._db.commit()
