"""A lesion's history: any number of visits of one lesion, each registered onto the baseline (the earliest), measured,
and its change against the baseline given with its uncertainty (core.followup.visits).

Visits with a date each (typed, or a DICOM file's) are put in date order, the earliest the baseline, and the order
is said when it differs from the order given; without every date the given order stands, and is said to. Visits
whose files name different patients are refused: a history of two patients is never a change. The model explains
the baseline against the last visit only (the two-visit facts, as `followup` of two visits gives them); the visits
in between are registered and measured without it.

One baseline for the whole history: each pair outlines the baseline with its own threshold alone
(core.followup.paired_outline), so the baseline's outline and measurements are the same in every pair, and every
visit's ratio (and the trend's figure) is its area over the one baseline area `visits[0]` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.errors import InputError
from core.followup.visits import FollowUp, compare, followup
from core.io.images import LoadedImage


@dataclass
class History:
    images: list  # LoadedImage per visit, in date order (the baseline first)
    dates: list  # ISO date per visit ("" unknown), same order
    given: list  # each visit's position in the order given (0-based)
    order_note: str  # how the visits were ordered, in words
    comparisons: list  # FollowUp per later visit against the baseline; the last one explained by the model

    @property
    def last(self) -> FollowUp:
        return self.comparisons[-1]


def follow_lesion(model, images: list, dates: list | None = None, pixel_size_mm: float | None = None,
                  mode: str = "auto", masks: list | None = None, method: str | None = None,
                  should_stop=None) -> History:
    """The history of visits `images` (LoadedImage, two or more) with their `dates` (ISO or "", one per image;
    None: the files' own). masks: per image a drawn outline or None. InputError (one line) for visits of
    different patients or a wrong number of dates; core.errors.Stopped when should_stop() turns true
between two stages of any visit (core.followup.visits)."""
    if len(images) < 2:
        raise InputError(f"a follow-up needs at least two visits, got {len(images)}")
    dates = list(dates) if dates is not None else [""] * len(images)
    if len(dates) != len(images):
        raise InputError(f"acquired: give one date per visit ({len(images)}), got {len(dates)}")
    dates = [d or _file_date(image) for d, image in zip(dates, images, strict=True)]
    check_same_patient(images)
    given, note = date_order(dates)
    images, dates = [images[i] for i in given], [dates[i] for i in given]
    masks = [masks[i] for i in given] if masks is not None else [None] * len(images)
    comparisons = [compare(images[0], image, pixel_size_mm, mode, (masks[0], mask), should_stop)
                   for image, mask in zip(images[1:-1], masks[1:-1], strict=True)]
    comparisons.append(followup(model, images[0], images[-1], pixel_size_mm, mode, (masks[0], masks[-1]), method,
                                should_stop))
    return History(images=images, dates=dates, given=given, order_note=note, comparisons=comparisons)


def check_same_patient(images: list) -> None:
    """ValueError naming both files when two visits' files name different patients (DICOM PatientID)."""
    named = [(image, (getattr(image, "case_fields", None) or {}).get("patient_id") or "") for image in images]
    named = [(image, pid) for image, pid in named if pid]
    for image, pid in named[1:]:
        if pid != named[0][1]:
            raise InputError(f"visits of different patients: {_name(named[0][0])} is patient {named[0][1]!r}, "
                             f"{_name(image)} is patient {pid!r}")


def date_order(dates: list) -> tuple[list[int], str]:
    """(the given positions in date order, the order in words). Without every date the given order stands."""
    count = len(dates)
    if not all(dates):
        return list(range(count)), "visits in the order given (not every visit has a date)"
    order = sorted(range(count), key=lambda i: dates[i])  # stable: visits of one day keep the order given
    if order == list(range(count)):
        return order, "visits in date order, as given"
    return order, "visits sorted by date: given order " + ", ".join(str(i + 1) for i in order)


def history_facts(history: History) -> dict:
    """JSON-ready: `visits` (one entry per image, the baseline first, each aligned to the baseline: its date, days
    since the baseline, file, position given, registration, measurements and changes) and `visit_order`."""
    entries = []
    first = history.comparisons[0]
    for index, (image, when) in enumerate(zip(history.images, history.dates, strict=True)):
        entry = {"visit": index + 1, "file": image.path, "date": when or None,
                 "days_since_baseline": _days(history.dates[0], when), "given_position": history.given[index] + 1,
                 "baseline": index == 0}
        if index == 0:
            entry.update(registration=None, measurements=first.measurements[0], changes=None)
        else:
            result = history.comparisons[index - 1]
            entry.update(registration=result.registration.facts(), measurements=result.measurements[1],
                         changes=result.changes)
        entries.append(entry)
    return {"visits": entries, "visit_order": history.order_note,
            "interval_days": _days(history.dates[0], history.dates[-1])}


def trend(history_visits: list) -> dict:
    """Area and diameter of each visit relative to the baseline, with their uncertainty, over days since the
    baseline (the visit number when a date is missing): {"x": [...], "x_label", "area": [(ratio, unc)|None], ...}."""
    days = [v["days_since_baseline"] for v in history_visits]
    use_days = all(d is not None for d in days)
    series: dict = {"x": days if use_days else [v["visit"] for v in history_visits],
                    "x_label": "days since baseline" if use_days else "visit"}
    for name in ("area", "diameter"):
        values: list[tuple[float, float] | None] = []
        for visit in history_visits:
            changes = visit["changes"]
            if visit["baseline"]:
                values.append((1.0, 0.0))
            elif changes and changes.get(f"{name}_change") is not None:
                values.append((changes[f"{name}_change"], changes[f"{name}_change_uncertainty"]))
            else:
                values.append(None)  # not registered, or no outline: no figure
        series[name] = values
    return series


def _file_date(image: LoadedImage) -> str:
    """The visit's date from its file (DICOM YYYYMMDD or ISO), "" when it has none or not a valid one."""
    text = str((getattr(image, "case_fields", None) or {}).get("acquired", "") or "").strip()
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text).isoformat() if len(text) == 10 else ""
    except ValueError:
        return ""


def _days(start: str, end: str) -> int | None:
    if not (start and end):
        return None
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def _name(image: LoadedImage) -> str:
    from pathlib import Path

    from core.io.files import printable

    return printable(Path(image.path).name) if image.path else "an image"
