"""The review worklist: cases (pairs of images) and their results, in one SQLite file shared by the workstation
and `main.py batch`. WAL mode and a commit per change: a reviewer's decision is on disk the moment it is saved, and a
crash or kill loses at most the edit in progress. The schema carries a version; opening an older file migrates it in
place. No patient names: a case has an optional case record (core.review.case_record: case id, a pseudonymised
patient id as the user gives it, body site, acquisition dates, reviewer), label and date, nothing else about a
person.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from core.errors import InputError, SiameseLensError
from core.io.files import atomic_write
from core.io.files import file_sha256 as sha256_of
from core.paths import user_data_dir
from core.review.case_record import REVIEWER_VERDICTS, CaseRecord
from core.review.pairs_csv import CSV_REQUIRED, PairsCsvError, read_pairs_csv

SCHEMA_VERSION = 7
STATUSES = ("new", "in review", "done", "flagged")

_SCHEMA_V1 = """
CREATE TABLE cases (
    id INTEGER PRIMARY KEY, case_id TEXT, image1 TEXT NOT NULL, image2 TEXT NOT NULL, sha1 TEXT, sha2 TEXT,
    crop1 TEXT, crop2 TEXT, note TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'new',
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE TABLE results (
    id INTEGER PRIMARY KEY, case_ref INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    model_sha256 TEXT NOT NULL, method TEXT NOT NULL, similarity REAL, decision TEXT, reviewer_decision TEXT,
    reviewer_note TEXT NOT NULL DEFAULT '', report_path TEXT, created TEXT NOT NULL, updated TEXT NOT NULL);
"""
# Version 2: calibrated probability beside the similarity, and label / date fields for teaching sets.
_MIGRATIONS = {
    2: """
ALTER TABLE results ADD COLUMN probability REAL;
ALTER TABLE cases ADD COLUMN label TEXT;
ALTER TABLE cases ADD COLUMN date TEXT;
CREATE INDEX IF NOT EXISTS results_case ON results(case_ref);
""",
    # Version 3: the case record (core.review.case_record); results.decision holds the model's verdict
    # (core.trust.verdict).
    3: """
ALTER TABLE cases ADD COLUMN patient_id TEXT;
ALTER TABLE cases ADD COLUMN body_site TEXT;
ALTER TABLE cases ADD COLUMN acquired1 TEXT;
ALTER TABLE cases ADD COLUMN acquired2 TEXT;
ALTER TABLE cases ADD COLUMN reviewer TEXT;
ALTER TABLE cases ADD COLUMN kind TEXT;
""",
    # Version 4: the lesion a follow-up case photographs (patient, body site, lesion id): a lesion's history is every
    # follow-up case that shares them.
    4: """
ALTER TABLE cases ADD COLUMN lesion_id TEXT;
CREATE INDEX IF NOT EXISTS cases_lesion ON cases(patient_id, body_site, lesion_id);
""",
    # Version 5: the reviewer's assessment of a follow-up case (printed on its follow-up report), kept as the note is.
    5: """
ALTER TABLE cases ADD COLUMN followup_assessment TEXT;
""",
    # Version 6: what the follow-up of a follow-up case found (JSON: its headline and brief), for the case list.
    6: """
ALTER TABLE cases ADD COLUMN followup_change TEXT;
""",
    # Version 7: the pixel size (mm, as typed) the reviewer gave the case's baseline for its follow-up: typed again on
    # each opening, it was forgotten or mistyped.
    7: """
ALTER TABLE cases ADD COLUMN pixel_size_mm TEXT;
""",
}


class WorklistError(SiameseLensError):
    """A worklist file or CSV cannot be used."""


@dataclass(frozen=True)
class Case:
    id: int
    case_id: str | None
    image1: str
    image2: str
    sha1: str | None
    sha2: str | None
    crop1: tuple | None
    crop2: tuple | None
    note: str
    status: str
    label: str | None
    date: str | None
    patient_id: str | None = None
    body_site: str | None = None
    acquired1: str | None = None
    acquired2: str | None = None
    reviewer: str | None = None
    kind: str | None = None  # "followup": image 2 is a later visit of image 1's lesion (core.review.pairs_csv.KINDS)
    lesion_id: str | None = None  # which lesion of the patient at that body site; None: the site's only one
    followup_assessment: str | None = None  # the reviewer's, of the follow-up (its report prints it)
    followup_change: str | None = None  # JSON {"headline", "brief"} of what its follow-up found (set_followup_change)
    pixel_size_mm: str | None = None  # the baseline's pixel size the reviewer typed (None: the file's own, or pixels)

    @property
    def change(self) -> dict | None:
        """What the case's follow-up found, as set_followup_change kept it; None when not measured (or unreadable)."""
        try:
            change = json.loads(self.followup_change) if self.followup_change else None
        except ValueError:
            return None
        return change if isinstance(change, dict) else None

    @property
    def record(self) -> CaseRecord:
        """The case record its report carries."""
        return CaseRecord(case_id=self.case_id or "", patient_id=self.patient_id or "", body_site=self.body_site or "",
                          acquired=(self.acquired1 or "", self.acquired2 or ""), reviewer=self.reviewer or "")


def default_path() -> Path:
    return user_data_dir() / "worklist.sqlite"


class Worklist:
    def __init__(self, path=None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise WorklistError(f"{self.path}: not a usable worklist ({exc})") from None

    def close(self) -> None:
        self.db.close()

    # --- schema ------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise WorklistError(f"{self.path}: made by a newer Siamese Lens (schema {version}); update the app")
        if version == SCHEMA_VERSION:
            return
        # One transaction for every step: a failed migration leaves the file as it was. (executescript would
        # commit on its own, so statements run one by one.)
        scripts = ([_SCHEMA_V1] if version == 0 else []) + [
            _MIGRATIONS[t] for t in range(max(version, 1) + 1, SCHEMA_VERSION + 1)]
        with self._transaction():
            for script in scripts:
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def require_writable(self) -> None:
        """WorklistError naming the file if it cannot be written (read-only file or folder): checked before a
        command starts writing, so it stops in one line, not at its first case with sqlite's traceback."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        try:
            with self._transaction():  # rewriting the version it holds: a write that changes nothing
                self.db.execute(f"PRAGMA user_version={int(version)}")
        except sqlite3.Error as exc:
            raise WorklistError(f"{self.path}: the worklist cannot be written ({exc})") from None

    # --- cases -------------------------------------------------------------------------------------
    def add_case(self, image1, image2, *, case_id=None, crop1=None, crop2=None, note="", label=None, date=None,
                 record: CaseRecord | None = None, kind: str | None = None, lesion_id: str | None = None) -> int:
        """A new case; `record` gives its patient id, body site, acquisition dates and reviewer (its case id is
        the `case_id` argument's)."""
        now = _now()
        record = record or CaseRecord()
        cursor = self.db.execute(
            "INSERT INTO cases (case_id, image1, image2, sha1, sha2, crop1, crop2, note, label, date, patient_id,"
            " body_site, acquired1, acquired2, reviewer, kind, lesion_id, created, updated)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (case_id, str(image1), str(image2), file_sha256(image1), file_sha256(image2), crop_text(crop1),
             crop_text(crop2), note or "", label, date, *_or_none(record.patient_id, record.body_site,
                                                                 *record.acquired, record.reviewer, kind, lesion_id),
             now, now))
        return int(cursor.lastrowid)

    def set_record(self, case_ref: int, record: CaseRecord) -> None:
        """The case record as edited in the window, committed at once."""
        self.db.execute("UPDATE cases SET case_id=?, patient_id=?, body_site=?, acquired1=?, acquired2=?, reviewer=?,"
                        " updated=? WHERE id=?", (*_or_none(record.case_id, record.patient_id, record.body_site,
                                                            *record.acquired, record.reviewer), _now(), case_ref))

    def set_followup_assessment(self, case_ref: int, text: str) -> None:
        """The reviewer's assessment of the case's follow-up as typed, committed at once."""
        self.db.execute("UPDATE cases SET followup_assessment=?, updated=? WHERE id=?",
                        (text or None, _now(), case_ref))

    def set_pixel_size(self, case_ref: int, text: str) -> None:
        """The baseline pixel size (mm, as typed) the reviewer gave the case's follow-up, committed at once."""
        self.db.execute("UPDATE cases SET pixel_size_mm=?, updated=? WHERE id=?", (text or None, _now(), case_ref))

    def set_followup_change(self, case_ref: int, headline: str, brief: list[str]) -> None:
        """What the case's follow-up found (core.followup.visits: change_headline, change_brief), committed at once."""
        self.db.execute("UPDATE cases SET followup_change=?, updated=? WHERE id=?",
                        (json.dumps({"headline": headline, "brief": list(brief)}), _now(), case_ref))

    def cases(self) -> list[Case]:
        rows = self.db.execute("SELECT id, case_id, image1, image2, sha1, sha2, crop1, crop2, note, status, label,"
                               " date, patient_id, body_site, acquired1, acquired2, reviewer, kind, lesion_id,"
                               " followup_assessment, followup_change, pixel_size_mm"
                               " FROM cases"
                               " ORDER BY id"
                               ).fetchall()
        return [Case(*row[:6], *map(_parse_crop, row[6:8]), *row[8:]) for row in rows]

    def case(self, case_ref: int) -> Case:
        for case in self.cases():
            if case.id == case_ref:
                return case
        raise WorklistError(f"{self.path}: no case {case_ref}")

    def lesion_cases(self, case_ref: int) -> list[Case]:
        """The follow-up cases of `case_ref`'s lesion (same patient id, body site and lesion id; the case itself
        among them), oldest first; just the case when it is not a follow-up or names no patient and body site."""
        case = self.case(case_ref)
        if case.kind != "followup" or not (case.patient_id and case.body_site):
            return [case]
        return [other for other in self.cases() if other.kind == "followup" and other.patient_id == case.patient_id
                and other.body_site == case.body_site and (other.lesion_id or "") == (case.lesion_id or "")]

    def lesion_visits(self, case_ref: int) -> list[tuple[str, str]]:
        """(image path, acquisition date or "") of every visit of `case_ref`'s lesion, each image once (a visit
        in two cases keeps the date either gives), in the order the cases give them."""
        visits: dict[str, str] = {}
        for case in self.lesion_cases(case_ref):
            for image, acquired in ((case.image1, case.acquired1), (case.image2, case.acquired2)):
                key = str(Path(image).resolve())
                visits[key] = visits.get(key) or acquired or ""
        return list(visits.items())

    def set_status(self, case_ref: int, status: str) -> None:
        if status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        self.db.execute("UPDATE cases SET status=?, updated=? WHERE id=?", (status, _now(), case_ref))

    def set_crops(self, case_ref: int, crops) -> None:
        """The crops the reviewer settled on: opening the case again (or exporting it) gives them back."""
        self.db.execute("UPDATE cases SET crop1=?, crop2=?, updated=? WHERE id=?",
                        (crop_text(crops[0]), crop_text(crops[1]), _now(), case_ref))

    def changed_images(self, case: Case) -> list[int]:
        """Slots (0, 1) whose file is missing or differs from the one imported: never re-scored as the same case."""
        return [slot for slot, (path, digest) in enumerate(((case.image1, case.sha1), (case.image2, case.sha2)))
                if file_sha256(path) != digest]

    # --- results -----------------------------------------------------------------------------------
    def record_result(self, case_ref: int, *, model_sha256: str, method: str, similarity: float | None,
                      decision: str | None, probability: float | None = None, report_path: str | None = None) -> int:
        now = _now()
        # The reviewer's note is the case's, not one score's: a new result (another model or map method, a batch
        # run) starts with it, or reopening the case would show the new result's empty note (the agree / disagree
        # stays with the verdict it was given on).
        note = (self.latest_result(case_ref) or {}).get("reviewer_note") or ""
        cursor = self.db.execute(
            "INSERT INTO results (case_ref, model_sha256, method, similarity, probability, decision, report_path,"
            " reviewer_note, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (case_ref, model_sha256, method, similarity, probability, decision, report_path, note, now, now))
        return int(cursor.lastrowid)

    def ensure_result(self, case_ref: int, model_sha256: str, method: str) -> int:
        """The case's latest result for this model and method, created empty if there is none yet (so a note
        typed before the score arrives has a home)."""
        row = self.db.execute("SELECT id FROM results WHERE case_ref=? AND model_sha256=? AND method=?"
                              " ORDER BY id DESC LIMIT 1", (case_ref, model_sha256, method)).fetchone()
        if row:
            return int(row[0])
        return self.record_result(case_ref, model_sha256=model_sha256, method=method, similarity=None, decision=None)

    def update_score(self, result_id: int, similarity: float, decision: str, probability: float | None = None) -> None:
        """The result re-scored (another crop, say); a verdict that changed drops the reviewer's agree / disagree,
        which was given on the verdict before."""
        self.db.execute("UPDATE results SET reviewer_decision = CASE WHEN decision IS NOT NULL AND decision != ?"
                        " THEN NULL ELSE reviewer_decision END, similarity=?, decision=?, probability=?, updated=?"
                        " WHERE id=?", (decision, similarity, decision, probability, _now(), result_id))

    def latest_result(self, case_ref: int) -> dict | None:
        row = self.db.execute(
            "SELECT id, model_sha256, method, similarity, probability, decision, reviewer_decision, reviewer_note,"
            " report_path, updated FROM results WHERE case_ref=? ORDER BY id DESC LIMIT 1", (case_ref,)).fetchone()
        keys = ("id", "model_sha256", "method", "similarity", "probability", "decision", "reviewer_decision",
                "reviewer_note", "report_path", "updated")
        return dict(zip(keys, row, strict=True)) if row else None

    def save_review(self, result_id: int, *, decision: str | None = None, note: str | None = None) -> None:
        """The reviewer's own verdict and note, committed at once."""
        if decision is not None and decision not in REVIEWER_VERDICTS:
            raise InputError(f"reviewer decision must be one of {', '.join(REVIEWER_VERDICTS)}, got {decision!r}")
        with self._transaction():
            if decision is not None:
                self.db.execute("UPDATE results SET reviewer_decision=?, updated=? WHERE id=?",
                                (decision, _now(), result_id))
            if note is not None:
                self.db.execute("UPDATE results SET reviewer_note=?, updated=? WHERE id=?", (note, _now(), result_id))

    def save_note(self, case_ref: int, note: str) -> None:
        """The reviewer's note on the case, on its latest result: where reopening and the CSV export read it (a
        note saved on an older result, say the first map's while the refined one is on its way, would be hidden
        behind the newer one)."""
        latest = self.latest_result(case_ref)
        if latest is not None:
            self.save_review(latest["id"], note=note)

    def set_report(self, result_id: int, report_path: str) -> None:
        self.db.execute("UPDATE results SET report_path=?, updated=? WHERE id=?", (report_path, _now(), result_id))

    # --- CSV ---------------------------------------------------------------------------------------
    def import_csv(self, csv_path) -> Imported:
        """Add a case per good row of `image1,image2[,case_id,crop1,crop2,note,...]` that the worklist does not hold
        yet (case_identity: importing a CSV again adds nothing, and a case's review is never split over two). A
        case it holds is left as it is, what the reviewer typed included; a row whose note differs from it is named
        (Imported.notes_kept). A file without the header is refused whole. One transaction: an import stopped part
        way (Ctrl-C, a kill) adds nothing."""
        try:
            rows = read_pairs_csv(csv_path)
        except PairsCsvError as exc:
            raise WorklistError(str(exc)) from None
        self.require_writable()
        held = self.held_cases()
        imported = Imported()
        with self._transaction():
            for line, row, problem in rows:
                if problem:
                    imported.problems.append(f"{csv_path}:{line}: {problem}")
                    continue
                missing = [row[key] for key in CSV_REQUIRED if not Path(row[key]).is_file()]
                if missing:
                    imported.problems.append(f"{csv_path}:{line}: no such image file {missing[0]}")
                    continue
                identity = case_identity(row["image1"], row["image2"], row["kind"], row.get("lesion_id"))
                note = row.get("note") or ""
                if identity in held:
                    case_ref, kept = held[identity]
                    imported.already.append(case_ref)
                    if note and note != kept:
                        imported.notes_kept.append(f"{csv_path}:{line}: case {case_ref} is already in the worklist "
                                                   "with another note; its note was kept, the CSV's not imported")
                    continue
                case_ref = self.add_case(row["image1"], row["image2"], case_id=row.get("case_id") or None,
                                         crop1=row.get("crop1"), crop2=row.get("crop2"), note=note,
                                         record=row["record"], kind=row["kind"], lesion_id=row.get("lesion_id") or None)
                imported.added.append(case_ref)
                held[identity] = (case_ref, note)
        return imported

    def held_cases(self) -> dict[tuple, tuple[int, str]]:
        """Each case's case_identity -> (its id, its note): what an import (or a batch) must not add again."""
        return {case_identity(case.image1, case.image2, case.kind, case.lesion_id): (case.id, case.note)
                for case in self.cases()}

    def export_csv(self, csv_path) -> int:
        """Every case with its latest result, written atomically (core.io.files.atomic_write)."""
        # "verdict": the model's (core.trust.verdict); "reviewer_decision": the reviewer's agree / disagree with it
        columns = ["case", "case_id", "image1", "image2", "sha1", "sha2", "crop1", "crop2", "status", "label",
                   "date", "note", "changed", "patient_id", "body_site", "acquired1", "acquired2", "reviewer", "kind",
                   "lesion_id", "followup_assessment", "followup_change", "pixel_size_mm", "model_sha256", "method",
                   "similarity", "probability", "verdict", "reviewer_decision", "reviewer_note", "report_path",
                   "updated"]
        cases = self.cases()

        def write(handle) -> None:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(columns)
            for case in cases:
                result = self.latest_result(case.id) or {}
                result["verdict"] = result.get("decision")
                changed = " ".join(f"image{slot + 1}" for slot in self.changed_images(case))
                writer.writerow([case.id, case.case_id, case.image1, case.image2, case.sha1, case.sha2,
                                 crop_text(case.crop1), crop_text(case.crop2), case.status, case.label, case.date,
                                 case.note, changed, case.patient_id, case.body_site, case.acquired1, case.acquired2,
                                 case.reviewer, case.kind or "pair", case.lesion_id, case.followup_assessment,
                                 (case.change or {}).get("headline"), case.pixel_size_mm]
                                + [result.get(key) for key in columns[columns.index("model_sha256"):]])
            text.flush()
            text.detach()  # the handle stays open for atomic_write to sync and close

        atomic_write(csv_path, write)
        return len(cases)


@dataclass
class Imported:
    """What Worklist.import_csv did: the new cases' ids; the ids of the cases rows named that the worklist held
    already (a row listed twice counts there once more); one "CSV:LINE: problem" per row skipped; one line per row
    whose note differs from the note of the case it already holds (kept)."""
    added: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes_kept: list[str] = field(default_factory=list)


def case_identity(image1, image2, kind: str | None, lesion_id: str | None) -> tuple:
    """What makes two cases one: the same two files in the same order (however the paths were written), the same
    kind, and for a follow-up the same lesion (two lesions may share the two photographs). Crops, notes and the
    case record are what a reviewer edits on a case, so they are not part of it."""
    kind = kind or "pair"  # a case from before kinds is a pair
    return (str(Path(image1).resolve()), str(Path(image2).resolve()), kind,
            (lesion_id or "") if kind == "followup" else "")


def _or_none(*values) -> tuple:
    return tuple(value or None for value in values)


def file_sha256(path) -> str | None:
    """The file's sha256, or None when it cannot be read (a missing image is then a changed image)."""
    try:
        return sha256_of(path)
    except OSError:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def crop_text(crop) -> str | None:
    return ",".join(str(int(v)) for v in crop) if crop else None


def _parse_crop(text: str | None) -> tuple | None:
    return tuple(int(v) for v in text.split(",")) if text else None
