"""A case record: who and what a compared pair belongs to, as a clinic files it. Torch-free, Qt-free.

The same record comes from the window (typed), a worklist CSV's extra columns, `explain --case-id ...`, or a DICOM
file's own tags, and is written into every report and sidecar under the same keys (RECORD_KEYS). Values are
checked here, once, so a report never carries a date that is not a date or a field that breaks a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date

from core.errors import InputError

RECORD_KEYS = ("case_id", "patient_id", "body_site", "acquired", "reviewer")
MAX_FIELD = 120  # characters: an identifier or a short phrase, not a note
REVIEWER_VERDICTS = ("agree", "disagree")  # the reviewer's word on the model's verdict (the worklist's)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CaseRecord:
    """Empty strings mean "not given". `acquired`: the acquisition date of each image, ISO (YYYY-MM-DD) or ""."""

    case_id: str = ""
    patient_id: str = ""  # pseudonymised, as the user types it: never derived from anything else
    body_site: str = ""
    acquired: tuple[str, str] = ("", "")
    reviewer: str = ""

    def facts(self) -> dict:
        """The report and sidecar keys: every key present, None where not given."""
        return {"case_id": self.case_id or None, "patient_id": self.patient_id or None,
                "body_site": self.body_site or None,
                "acquired": [d or None for d in self.acquired] if any(self.acquired) else None,
                "reviewer": self.reviewer or None}

    def is_empty(self) -> bool:
        return not any([self.case_id, self.patient_id, self.body_site, any(self.acquired), self.reviewer])

    def merged(self, other: "CaseRecord") -> "CaseRecord":
        """This record with the fields `other` gives filling the ones this one leaves empty (typed values win over
        a DICOM file's, for example)."""
        acquired = (self.acquired[0] or other.acquired[0], self.acquired[1] or other.acquired[1])
        values = {f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self) if f.name != "acquired"}
        return replace(self, acquired=acquired, **values)


def from_images(images) -> CaseRecord:
    """What the pair's files say of the case (core.io.images.LoadedImage.case_fields, from DICOM tags): each image's
    acquisition date, and the first image's ids and body site where it has them, else the second's. Values a file
    holds that are not valid here (an odd date) are left out rather than failing the comparison."""
    fields_of = [getattr(image, "case_fields", None) or {} for image in images]

    def first(key):
        return next((f[key] for f in fields_of if f.get(key)), "")

    def safe(check, value):
        try:
            return check(value)
        except ValueError:
            return ""

    return CaseRecord(case_id=safe(lambda v: check_text("case id", v), first("case_id")),
                      patient_id=safe(lambda v: check_text("patient id", v), first("patient_id")),
                      body_site=safe(lambda v: check_text("body site", v), first("body_site")),
                      acquired=tuple(safe(check_date, f.get("acquired", "")) for f in fields_of))


def make_record(case_id="", patient_id="", body_site="", acquired=("", ""), reviewer="") -> CaseRecord:
    """A checked CaseRecord; InputError naming the field for a bad value."""
    acquired = tuple(acquired) if acquired else ("", "")
    if len(acquired) != 2:
        raise InputError(f"acquired: give one date per image (DATE1,DATE2), got {len(acquired)}")
    return CaseRecord(case_id=check_text("case id", case_id), patient_id=check_text("patient id", patient_id),
                      body_site=check_text("body site", body_site),
                      acquired=(check_date(acquired[0]), check_date(acquired[1])),
                      reviewer=check_text("reviewer", reviewer))


def parse_acquired(text: str | None) -> tuple[str, str]:
    """'DATE1,DATE2' (either may be empty; one date alone is image 1's) -> two checked ISO dates."""
    if not text:
        return ("", "")
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) > 2:
        raise InputError(f"acquired: give at most two dates (DATE1,DATE2), got {text!r}")
    parts += [""] * (2 - len(parts))
    return check_date(parts[0]), check_date(parts[1])


def check_text(name: str, value) -> str:
    text = "" if value is None else str(value).strip()
    if _CONTROL.search(text):
        raise InputError(f"{name}: must be one line of text (no control characters)")
    if len(text) > MAX_FIELD:
        raise InputError(f"{name}: at most {MAX_FIELD} characters, got {len(text)}")
    return text


def check_date(value) -> str:
    """An ISO date YYYY-MM-DD (also accepted: DICOM's YYYYMMDD), or "" for none."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text).isoformat() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else _bad(text)
    except ValueError:
        return _bad(text)


def _bad(text: str) -> str:
    raise InputError(f"acquisition date {text!r} is not a date (use YYYY-MM-DD)")
