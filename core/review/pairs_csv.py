"""The pairs CSV that a worklist imports and `main.py batch` scores: a header with image1,image2 and optional
columns, one pair per row, each row checked on its own so one bad line never costs the others."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from core.errors import SiameseLensError
from core.io.files import file_problem, printable
from core.io.image_files import not_an_image
from core.review.case_record import CaseRecord, make_record, parse_acquired

CSV_REQUIRED = ("image1", "image2")
# The case record's columns (core.review.case_record) come after the original ones; "acquired" is "DATE1,DATE2", or
# acquired1 / acquired2 separately.
CSV_RECORD = ("patient_id", "body_site", "acquired", "acquired1", "acquired2", "reviewer")
# lesion_id: which lesion of the patient at that body site (several visits' cases of one lesion share it)
CSV_OPTIONAL = ("case_id", "crop1", "crop2", "note", "kind", "lesion_id") + CSV_RECORD
# What a row is: two images compared (the default), or one lesion at two visits (core.followup.visits).
KINDS = ("pair", "followup")


class PairsCsvError(SiameseLensError):
    """A pairs CSV cannot be used at all (no such file, no header, not text)."""


def read_pairs_csv(csv_path) -> list[tuple[int, dict, str | None]]:
    """(line number, row, problem or None) per data row of a pairs CSV; PairsCsvError if it has no usable header."""
    from core.io.images import parse_crop

    path = Path(csv_path)
    unreadable = file_problem(path, "CSV file")  # a folder, or a FIFO whose read would wait forever
    if unreadable:
        raise PairsCsvError(f"{printable(path)}: {unreadable}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=_delimiter(handle))
            header = [name.strip().lower() for name in (reader.fieldnames or [])]
            if any(key not in header for key in CSV_REQUIRED):
                raise PairsCsvError(f"{path}: the first line must be a header with at least image1,image2 "
                                    f"(optional: {','.join(CSV_OPTIONAL)})")
            reader.fieldnames = header
            out = []
            for row in reader:
                line = reader.line_num
                row = {k: (v or "").strip() for k, v in row.items() if k is not None}
                problem = None
                if not row.get("image1") or not row.get("image2"):
                    problem = "image1 and image2 are both required"
                else:
                    for key in CSV_REQUIRED:
                        row[key] = _located(row[key], path.parent)
                    problem = _not_images(row)
                    for key in ("crop1", "crop2"):
                        if row.get(key):
                            try:
                                row[key] = parse_crop(row[key])
                            except ValueError as exc:
                                problem = problem or f"{key}: {exc}"
                    try:
                        row["record"] = _row_record(row)
                    except ValueError as exc:
                        problem = problem or str(exc)
                    row["kind"] = row.get("kind") or "pair"
                    if row["kind"] not in KINDS:
                        problem = problem or f"kind must be one of {', '.join(KINDS)}, got {row['kind']!r}"
                out.append((line, row, problem))
            return out
    except FileNotFoundError:
        raise PairsCsvError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:  # Excel's plain "CSV" on Windows is cp1252
        raise PairsCsvError(f"{printable(path)}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                            f"{exc.start}): save it as CSV UTF-8") from None
    except csv.Error as exc:
        raise PairsCsvError(f"{path}: not a readable CSV file ({exc})") from None


def _delimiter(handle) -> str:
    """',' unless the header line is separated otherwise: Excel writes ';' where the comma is the decimal mark
    (German, French), and a tab-separated export is as plain. The handle is left at its start."""
    first = handle.readline(100_000)  # a header; not a whole file without a line break
    handle.seek(0)
    return max((",", ";", "\t"), key=first.count) if first.count(",") == 0 else ","


def _located(text: str, folder: Path) -> str:
    """An image path of the CSV as an absolute path: a relative one names a file beside the CSV, else (as before
    this rule) in the current folder. Absolute, so a worklist opened later from anywhere finds its images."""
    image = Path(text).expanduser()
    if image.is_absolute():
        return text
    beside = Path(os.path.abspath(folder / image))
    return str(beside if beside.exists() or not image.exists() else Path(os.path.abspath(image)))


def _not_images(row: dict) -> str | None:
    """The first of a row's images that is a file but not an image (core.io.image_files), named."""
    for key in CSV_REQUIRED:
        reason = not_an_image(row[key])
        if reason:
            return f"{key} {printable(row[key])}: {reason}"
    return None


def _row_record(row: dict) -> CaseRecord:
    acquired = parse_acquired(row.get("acquired")) if row.get("acquired") else (row.get("acquired1") or "",
                                                                               row.get("acquired2") or "")
    return make_record(case_id=row.get("case_id") or "", patient_id=row.get("patient_id") or "",
                       body_site=row.get("body_site") or "", acquired=acquired, reviewer=row.get("reviewer") or "")
