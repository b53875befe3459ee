"""The follow-up feature's presenter: gui.models.followup.FollowUpReview put into what a `FollowupView` (the dock)
shows, and the reviewer's choices there sent back to the model. It decides what the dock says (what changed leads,
the model's verdict in grey, the registration, the table of measurements and their changes, which visit of a
history is shown), which two pictures the aligned view compares with which outlines, and whether the report may be
exported or stored on a PACS; the dock only draws (blink, swipe, difference, the nudge for the eye)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Protocol

import numpy as np

from ..jobs.tasks import (
    UNCHECKED_MARK,
    UNFAITHFUL,
    UNFAITHFUL_MARK,
    check_verdict,
    dicom_pair,
    faithfulness_text,
    method_words,
    scale_words,
    shown_figure,
    withholds,
)
from ..models.followup import FollowUpReview

ROWS = (("area_px", "Area (px)"), ("area_mm2", "Area (mm²)"), ("diameter_px", "Longest diameter (px)"),
        ("diameter_mm", "Longest diameter (mm)"), ("asymmetry", "Asymmetry"),
        ("border_irregularity", "Border irregularity"), ("colours", "Colours"))
SHIFT_LABEL = "Centroid shift (px)"
RATIO_CHANGES = {"area_px": ("area_change", "area_change_uncertainty"),
                 "diameter_px": ("diameter_change", "diameter_change_uncertainty")}
DIFFERENCE_CHANGES = ("asymmetry", "border_irregularity", "colours")
GREY = "#5f5f5f"  # the model's verdict: neutral, under what changed


@dataclass(frozen=True)
class Pictures:
    """What the aligned view compares: two visits' pictures, the baseline area both cover (None: all of it), their
    outlines (a bool mask or None each), and whether both are on the baseline's grid (else each outline is drawn
    only on its own picture)."""

    first: np.ndarray
    second: np.ndarray
    valid: np.ndarray | None
    outlines: tuple
    aligned: bool


@dataclass(frozen=True)
class Comparison:
    """One comparison in words (rich text) and pictures: a pair's follow-up, or a history's visit stepped to."""

    headline: str
    verdict: str
    registration: str
    table: tuple[tuple[str, str, str, str], ...]  # per row: its label, then baseline, follow-up, change
    pictures: Pictures
    scale: str  # where both visits' mm came from (plain text, core.followup.visits.scale_words): never fades


class FollowupView(Protocol):
    def show_running(self) -> None:
        """An alignment was asked for: show the dock and say it is under way."""

    def show_settings(self, mode: str, pixel_size: str, assessment: str) -> None:
        """The model's registration mode, typed pixel size and assessment, shown without choosing them again."""

    def show_comparison(self, result: Any, comparison: Comparison | None) -> None:
        """The follow-up shown (core.followup.visits.FollowUp) and its comparison; (None, None) clears the dock."""

    def show_outputs(self, export: bool, store: bool) -> None:
        """Whether the report may be exported, and stored on a PACS."""

    def show_history(self, shown: Any) -> None:
        """A lesion's history (gui.jobs.tasks.HistoryShown: its timeline strip and trend chart), or None."""

    def show_maps(self, text: str) -> None:
        """What the maps on the report are and what the faithfulness check said of them (rich text; '' none)."""

    def show_visit(self, checked: tuple[bool, ...], blink_pair: tuple[int, int], previous: bool,
                   following: bool) -> None:
        """The history's strip: which visits' buttons are checked, the two blinked between, and whether there is a
        previous / next visit to step to."""


class FollowupPresenter:
    def __init__(self, view: FollowupView, followup: FollowUpReview):
        self.view, self.followup = view, followup
        followup.running.connect(view.show_running)
        followup.result_changed.connect(self.show_result)
        followup.settings_changed.connect(self.show_settings)
        followup.history_changed.connect(self.show_history)
        followup.visit_changed.connect(self.show_visit)
        followup.maps_changed.connect(self.show_maps)
        self.show_settings()

    # --- what the model says ---------------------------------------------------------------------------
    def show_settings(self) -> None:
        f = self.followup
        self.view.show_settings(f.mode, f.pixel_size_text, f.assessment)

    def show_result(self, result) -> None:
        if result is None:
            self.view.show_comparison(None, None)
            self.view.show_outputs(False, False)
            return
        self.view.show_comparison(result, self.comparison())
        self.view.show_outputs(True, dicom_pair(result.images))  # only DICOM visits file into their study

    def show_maps(self) -> None:
        self.view.show_maps(maps_words(self.followup))

    def show_history(self, shown) -> None:
        self.view.show_history(shown)
        self._show_strip()

    def show_visit(self) -> None:
        """Another visit of the history stepped to, or another two blinked between."""
        if self.followup.shown() is not None:
            self.view.show_comparison(self.followup.result, self.comparison())
        self._show_strip()

    def comparison(self) -> Comparison:
        """The comparison shown now (a history's: the visit stepped to against the baseline) in words and pictures."""
        f = self.followup
        result = f.shown()
        when = self._interval()
        if f.history is not None:
            visit = f.history.facts["visits"][f.visit]
            days = visit["days_since_baseline"]
            when = f"  ·  V{visit['visit']} of {len(f.history.pictures)}" + ("" if days is None else f", {days} days")
        e, reg = result.explanation, result.registration
        verdict = ("The model explains the baseline against the last visit" if e is None
                   else f"The model on {pair_words(f, result, f.visit)}: {e.verdict} ({escape(e.verdict_reason)})")
        registration = (f"Registration ({reg.mode}{', auto' if reg.chosen_by == 'auto' else ''}): quality "
                        f"{reg.quality:.2f}, about {reg.error_px:.1f} px" if reg.ok
                        else f"<b>Not registered</b>: {escape(reg.message)}")
        return Comparison(f"<b>{escape(result.changes['change_headline'])}</b>{when}",
                          f"<span style='color:{GREY}'>{verdict}</span>", registration, table(result),
                          self._pictures(result), scale_words(result.measurements))

    # --- the reviewer's choices --------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.followup.set_mode(mode)

    def set_pixel_size(self, text: str) -> None:
        self.followup.set_pixel_size(text)

    def set_assessment(self, text: str) -> None:
        self.followup.set_assessment(text)

    def visit_clicked(self, index: int) -> None:
        """A visit's button in the strip: step to it; the baseline's blinks it with the visit shown."""
        f = self.followup
        if f.history is None:
            return
        if index == 0:
            f.set_blink_pair(0, f.visit)
        else:
            f.step(index)
        self._show_strip()  # a click on the visit already shown changes nothing in the model: re-check its button

    def step_by(self, step: int) -> None:
        self.followup.step(self.followup.visit + step)

    def blink_pair_chosen(self, first: int, second: int) -> None:
        if first >= 0 and second >= 0:
            self.followup.set_blink_pair(first, second)

    # --- rules -------------------------------------------------------------------------------------------
    def _show_strip(self) -> None:
        f = self.followup
        if f.history is None:
            return
        count = len(f.history.pictures)
        checked = tuple(index == f.visit or (index == 0 and f.blink_pair[0] == 0) for index in range(count))
        self.view.show_visit(checked, f.blink_pair, f.visit > 1, f.visit < count - 1)

    def _interval(self) -> str:
        """'  ·  interval N days' from the case record's two dates, '' when either is unknown."""
        days = self.followup.interval_days()
        return "" if days is None else f"  ·  interval {days} days"

    def _pictures(self, result) -> Pictures:
        history = self.followup.history
        if history is None:
            follow = result.aligned if result.aligned is not None else result.visits[1]
            return Pictures(result.visits[0], follow, result.valid, tuple(result.masks), result.aligned is not None)
        first, second = self.followup.blink_pair
        covered = [history.valid[i] for i in (first, second) if history.valid[i] is not None]
        return Pictures(history.pictures[first], history.pictures[second],
                        np.logical_and.reduce(covered) if covered else None,
                        (history.outlines[first], history.outlines[second]),
                        all(i == 0 or history.valid[i] is not None for i in (first, second)))


def table(result) -> tuple[tuple[str, str, str, str], ...]:
    """The measurements of both visits and their changes as the dock's table says them: '–' for a measurement not
    made, no change stated for visits that are not aligned or not comparable."""
    changes = result.changes
    if not changes.get("comparable", True) or not result.registration.ok:
        changes = {key: None for key in changes}
    rows = []
    for key, label in ROWS:
        cells = ["–" if visit.get(key) is None else shown_figure(visit[key]) for visit in result.measurements[:2]]
        ratio = RATIO_CHANGES.get(key)
        if ratio and changes.get(ratio[0]) is not None:
            change = f"×{changes[ratio[0]]:.2f} ± {changes[ratio[1]]:.2f}"  # as the timeline says it: ×1.27
        else:
            delta = changes.get(f"{key}_change") if key in DIFFERENCE_CHANGES else None
            change = "" if delta is None else ("+" if delta > 0 else "") + shown_figure(delta)
        rows.append((label, cells[0], cells[1], change))
    shift = changes.get("centroid_shift_px")
    rows.append((SHIFT_LABEL, "", "",
                 "–" if shift is None else f"{shift:.1f} ± {changes['centroid_shift_uncertainty_px']:.1f}"))
    return tuple(rows)


def pair_words(followup: FollowUpReview, result, visit: int = -1) -> str:
    """Which pair the model judged and the report's maps explain: the later visit registered onto the baseline
    (core.followup.visits.followup), unaligned when registration failed. Named, because it is not the pair the
    viewers show: their maps are of the images as loaded, a history's report is of its last visit whichever case
    was opened, and the two checks can answer differently. visit: a history's visit `result` compares with the
    baseline (its index, -1 the last)."""
    later, baseline = "the follow-up", "the baseline"
    if followup.history is not None:
        visits = followup.history.facts["visits"]
        later, baseline = f"V{visits[visit]['visit']}", f"V{visits[0]['visit']}"
    if result.registration.ok:
        return f"{later} registered onto {baseline}"
    return f"{baseline} and {later}, not registered"


VIEWERS_NOTE = (f"<br><span style='color:{GREY}'>The maps in the viewers are of the pair as loaded there and "
                "checked on their own: the two answers can differ.</span>")


def maps_words(followup: FollowUpReview) -> str:
    """The report's maps in words, as the main view words a pair's: never more sure than the check (docs/
    explanations.md, "The follow-up's and the similar cases' maps"), and which pair they are of, since the viewers'
    maps beside the dock are of another. '' when there is no follow-up."""
    result = followup.result
    e = getattr(result, "explanation", None)
    if e is None:
        return ""
    maps = f"Maps on the report of {pair_words(followup, result)}"
    if e.same_content:
        return f"{maps}: none (same image content)"
    if withholds(e.verdict, e.in_domain):
        return f"{maps}: withheld (the pair is not assessed)"
    checked = followup.maps
    if checked is None:
        why = f"could not be checked: {escape(followup.maps_error)}" if followup.maps_error else \
            "being refined and checked…"
        return f"{maps}: <b>{UNCHECKED_MARK}</b> ({why}){VIEWERS_NOTE}"
    shown = checked.result.explanation
    method = method_words(shown.method, shown.refined_from)
    curves = checked.faithfulness
    if check_verdict(curves) == UNFAITHFUL:
        return f"{maps} ({method}): <b>{UNFAITHFUL_MARK}</b>, hatched there{VIEWERS_NOTE}"
    return f"{maps} ({method}): {escape(faithfulness_text(curves))}{VIEWERS_NOTE}"
