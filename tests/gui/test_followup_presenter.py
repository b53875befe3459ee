"""The follow-up presenter (gui.presenters.followup) on an autospec'd FollowupView over the real follow-up model
(gui.models.followup.FollowUpReview, its results delivered as the runner would): what the dock says, which pictures
it compares with which outlines, when the report may be exported or stored, a history's strip, and the reviewer's
choices sent to the model. No widgets."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock, create_autospec

import numpy as np
import pytest

from gui.jobs.tasks import UNCHECKED_MARK, UNFAITHFUL_MARK, FollowupMaps
from gui.models.followup import EXPORT_KEY, KEY, MAPS_KEY, FollowUpReview
from gui.models.problems import Problems
from gui.presenters.followup import GREY, SHIFT_LABEL, Comparison, FollowupPresenter, FollowupView
from tests.test_honest_display import BEATS_EVERY, BELOW_THE_MEAN, FLAT_CURVES


@pytest.fixture
def view():
    return create_autospec(FollowupView, instance=True)


@pytest.fixture
def model():
    session, record = Mock(), SimpleNamespace(record=SimpleNamespace(acquired=("2026-01-05", "2026-04-07")))
    session.images, session.model = [Mock(), Mock()], object()
    return FollowUpReview(session, Problems(), case_record=record)


def picture(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def result(ok: bool = True, explanation=None, comparable: bool = True):
    registration = SimpleNamespace(ok=ok, mode="rigid", chosen_by="auto", quality=0.9, error_px=1.24,
                                   message="too few <matches>")
    changes = {"change_headline": "Area grew ×1.30 & more", "comparable": comparable, "area_change": 1.3,
               "area_change_uncertainty": 0.05, "diameter_change": None, "asymmetry_change": 0.02,
               "centroid_shift_px": 2.0, "centroid_shift_uncertainty_px": 0.5}
    measurements = [{"area_px": 1200, "area_mm2": None, "asymmetry": 0.1},
                    {"area_px": 1560, "area_mm2": None, "asymmetry": 0.12}]
    mask = np.ones((8, 8), bool)
    return SimpleNamespace(registration=registration, changes=changes, measurements=measurements,
                           explanation=explanation, images=(SimpleNamespace(dicom=None),) * 2,
                           visits=(picture(10), picture(20)), aligned=picture(30) if ok else None,
                           valid=mask if ok else None, masks=(mask, mask))


def explanation(method: str = "gradcam", **changes) -> SimpleNamespace:
    """The fields of core.explain.pair.Explanation the dock's words read: an assessed pair with maps."""
    fields = {"verdict": "similar", "verdict_reason": "above the band", "same_content": False, "in_domain": None,
              "method": method, "timings_ms": {}, "refined_from": ""}
    return SimpleNamespace(**{**fields, **changes})


def shown(view) -> tuple:
    return view.show_comparison.call_args.args


def test_a_follow_up_is_said_with_what_changed_first_the_verdict_in_grey_and_its_table(view, model):
    presenter = FollowupPresenter(view, model)  # noqa: F841  (kept: Qt holds its bound slots weakly)
    view.show_settings.assert_called_once_with("auto", "", "")
    done = result(explanation=explanation(verdict_reason="close <below> threshold"))
    model._set(done)
    given, comparison = shown(view)
    assert given is done and isinstance(comparison, Comparison)
    assert comparison.headline == "<b>Area grew ×1.30 &amp; more</b>  ·  interval 92 days"
    assert comparison.verdict == (f"<span style='color:{GREY}'>The model on the follow-up registered onto the "
                                  "baseline: similar (close &lt;below&gt; threshold)</span>")
    assert comparison.registration == "Registration (rigid, auto): quality 0.90, about 1.2 px"
    rows = {row[0]: row[1:] for row in comparison.table}
    assert rows["Area (px)"] == ("1200", "1560", "×1.30 ± 0.05") and rows["Area (mm²)"] == ("–", "–", "")
    assert rows["Asymmetry"] == ("0.1", "0.12", "+0.02") and rows["Longest diameter (px)"] == ("–", "–", "")
    assert rows[SHIFT_LABEL] == ("", "", "2.0 ± 0.5") and len(comparison.table) == 8
    pictures = comparison.pictures
    assert pictures.aligned and np.array_equal(pictures.second, picture(30))  # the aligned follow-up
    view.show_outputs.assert_called_with(True, False)  # not DICOM: no PACS store


def test_unaligned_visits_state_no_change_and_each_outline_stays_on_its_own_picture(view, model):
    presenter = FollowupPresenter(view, model)  # noqa: F841  (kept: Qt holds its bound slots weakly)
    model._set(result(ok=False))
    _given, comparison = shown(view)
    assert comparison.registration == "<b>Not registered</b>: too few &lt;matches&gt;"
    assert "explains the baseline against the last visit" in comparison.verdict
    assert [row[3] for row in comparison.table] == [""] * 7 + ["–"]
    assert not comparison.pictures.aligned and np.array_equal(comparison.pictures.second, picture(20))


def test_no_follow_up_clears_the_dock_and_nothing_can_be_exported(view, model):
    presenter = FollowupPresenter(view, model)  # noqa: F841  (kept: Qt holds its bound slots weakly)
    model._set(result())
    model._set(None)  # another pair: the alignment no longer applies
    view.show_comparison.assert_called_with(None, None)
    view.show_outputs.assert_called_with(False, False)


def test_the_reviewers_choices_go_to_the_model_which_redraws_them(view, model):
    presenter = FollowupPresenter(view, model)
    presenter.set_mode("similarity")
    presenter.set_pixel_size("abc")
    presenter.set_assessment("stable")
    assert (model.mode, model.pixel_size_text, model.assessment) == ("similarity", "abc", "stable")
    view.show_settings.assert_called_with("similarity", "abc", "stable")
    assert "Pixel size" in model.problems.current()[KEY]


def history(count: int = 3):
    comparisons = [result() for _ in range(count - 1)]
    visits = [{"visit": i + 1, "file": f"/visits/v{i + 1}.png", "days_since_baseline": [0, 56, 147][i]}
              for i in range(count)]
    return SimpleNamespace(history=SimpleNamespace(comparisons=comparisons, last=comparisons[-1]),
                           last=comparisons[-1], facts={"visits": visits},
                           pictures=tuple(picture(40 + i) for i in range(count)),
                           outlines=(None, np.ones((8, 8), bool), None),
                           valid=(None, np.ones((8, 8), bool), None))  # the third visit not registered


def test_a_history_steps_through_its_visits_and_blinks_any_two(view, model):
    presenter = FollowupPresenter(view, model)
    lesion = history()
    model._set_history(lesion)
    view.show_history.assert_called_once_with(lesion)
    view.show_visit.assert_called_with((True, False, True), (0, 2), True, False)
    given, comparison = shown(view)
    assert given is lesion.last and comparison.headline.endswith("  ·  V3 of 3, 147 days")
    presenter.step_by(-1)
    given, comparison = shown(view)
    assert given is lesion.last and comparison.headline.endswith("V2 of 3, 56 days")  # the dock's result stays
    assert np.array_equal(comparison.pictures.second, picture(41)) and comparison.pictures.aligned
    view.show_visit.assert_called_with((True, True, False), (0, 1), False, True)
    presenter.blink_pair_chosen(1, 2)
    pictures = shown(view)[1].pictures
    assert np.array_equal(pictures.first, picture(41)) and np.array_equal(pictures.second, picture(42))
    assert not pictures.aligned and pictures.outlines[1] is None  # the third visit is on its own grid
    view.show_visit.assert_called_with((False, True, False), (1, 2), False, True)
    presenter.visit_clicked(0)  # the baseline's button: blink it with the visit shown
    assert model.blink_pair == (0, 1)
    view.show_visit.assert_called_with((True, True, False), (0, 1), False, True)
    presenter.blink_pair_chosen(-1, 2)  # a box being refilled: no choice
    assert model.blink_pair == (0, 1)


def _maps_delivered(model, outcome) -> None:
    """The runner's answer to the newest maps job: FollowupMaps, or an error line (str)."""
    kwargs = model.session.runner.submit.call_args.kwargs
    assert model.session.runner.submit.call_args.args[0] == MAPS_KEY
    (kwargs["on_error"] if isinstance(outcome, str) else kwargs["on_result"])(outcome)


def test_the_reports_maps_are_said_no_surer_than_the_check_as_the_main_view_says_a_pairs(view, model):
    """The follow-up dock shows no map, but its report draws the aligned pair's: they are refined and checked in
    the background like the main view's, and the dock says what the report's maps are until and after the check:
    "map not yet checked", the check's words, or "map not better than chance" (hatched on the report)."""
    presenter = FollowupPresenter(view, model)  # noqa: F841  (kept: Qt holds its bound slots weakly)
    first = result(explanation=explanation())
    model._set(first)
    said = view.show_maps.call_args.args[0]
    assert UNCHECKED_MARK in said and "being refined and checked" in said
    refined = result(explanation=explanation("coalition", timings_ms={"refine": 900.0}, refined_from="gradcam"))
    _maps_delivered(model, FollowupMaps(refined, BELOW_THE_MEAN))
    said = view.show_maps.call_args.args[0]
    assert UNFAITHFUL_MARK in said and "coalition (refined from gradcam)" in said and UNCHECKED_MARK not in said
    model._set(result(explanation=explanation()))  # a new alignment: its maps are unchecked again
    assert UNCHECKED_MARK in view.show_maps.call_args.args[0]
    _maps_delivered(model, FollowupMaps(refined, FLAT_CURVES))
    said = view.show_maps.call_args.args[0]
    assert "): check inconclusive (the score hardly moves when regions are hidden)<br>" in said
    model._set(result(explanation=explanation()))
    _maps_delivered(model, "stopped")
    assert "could not be checked: stopped" in view.show_maps.call_args.args[0]
    model._set(result(explanation=explanation()))
    _maps_delivered(model, FollowupMaps(refined, BEATS_EVERY))
    said = view.show_maps.call_args.args[0]
    assert said.startswith("Maps on the report of the follow-up registered onto the baseline (coalition")
    assert "better than" in said and "chance" not in said


def test_maps_of_an_earlier_follow_up_never_speak_for_the_one_shown(view, model):
    presenter = FollowupPresenter(view, model)  # noqa: F841
    model._set(result(explanation=explanation()))
    late = model.session.runner.submit.call_args.kwargs["on_result"]
    model._set(result(explanation=explanation()))
    model.session.runner.cancel.assert_called_with(MAPS_KEY)
    late(FollowupMaps(result(explanation=explanation()), BELOW_THE_MEAN))
    assert model.maps is None and UNCHECKED_MARK in view.show_maps.call_args.args[0]
    model._set(None)
    assert view.show_maps.call_args.args[0] == ""


def test_the_dock_names_the_pair_its_verdict_and_maps_are_of_which_is_not_the_pair_in_the_viewers(view, model):
    """The viewers show the pair as loaded, with their own check's caption ("map: check inconclusive"); the dock's
    verdict and report maps are of the follow-up registered onto the baseline, for a history of its last visit
    whichever visit is shown. The dock said "Maps on the report (coalition …): better than each of 3 random maps"
    under the viewers' "check inconclusive": two answers about "the maps", of two different pairs, unnamed."""
    presenter = FollowupPresenter(view, model)
    lesion = history()
    lesion.last.explanation = explanation()
    model._set_history(lesion)
    _maps_delivered(model, FollowupMaps(result(explanation=explanation("coalition")), BEATS_EVERY))
    said = view.show_maps.call_args.args[0]
    assert said.startswith("Maps on the report of V3 registered onto V1 (coalition)")
    assert "viewers are of the pair as loaded there" in said and "the two answers can differ" in said
    assert "The model on V3 registered onto V1: similar" in shown(view)[1].verdict
    presenter.step_by(-1)  # V2 shown: the report's maps are still V3's
    assert view.show_maps.call_args.args[0] == said and "The model explains" in shown(view)[1].verdict
    model._set(result(ok=False, explanation=explanation()))  # a pair's follow-up: the history no longer applies
    _maps_delivered(model, FollowupMaps(result(ok=False, explanation=explanation("coalition")), BEATS_EVERY))
    assert view.show_maps.call_args.args[0].startswith(
        "Maps on the report of the baseline and the follow-up, not registered (coalition)")
    assert "The model on the baseline and the follow-up, not registered: similar" in shown(view)[1].verdict


def test_a_pair_not_assessed_or_of_the_same_content_has_no_maps_to_check(view, model):
    presenter = FollowupPresenter(view, model)  # noqa: F841
    model._set(result(explanation=explanation(verdict="not assessed", in_domain=(True, False))))
    assert view.show_maps.call_args.args[0] == ("Maps on the report of the follow-up registered onto the baseline: "
                                                "withheld (the pair is not assessed)")
    model._set(result(explanation=explanation(same_content=True)))
    assert view.show_maps.call_args.args[0] == ("Maps on the report of the follow-up registered onto the baseline: "
                                                "none (same image content)")


def test_a_report_asked_for_while_its_maps_are_checked_waits_for_them_never_refining_twice(view, model):
    runner = model.session.runner
    done = result(explanation=explanation())
    model._set(done)
    runner.is_pending.return_value = True  # the maps job is still running
    assert model.export_to("/tmp/f.png")
    assert runner.submit.call_args.args[0] == MAPS_KEY  # nothing written yet
    checked = FollowupMaps(result(explanation=explanation("coalition")), BEATS_EVERY)
    _maps_delivered(model, checked)
    export = runner.submit.call_args.args
    assert export[0] == EXPORT_KEY and export[3] is done and export[-1] is checked  # the checked maps, as they are
    assert model.export_to("/tmp/g.png") and runner.submit.call_args.args[-1] is checked  # ready: at once
    model._set(later := result(explanation=explanation()))
    assert model.export_to("/tmp/h.png")  # waits for the new follow-up's maps
    model._set(result(explanation=explanation()))  # another follow-up first: the report asked for is not lost
    written = [call.args for call in runner.submit.call_args_list if call.args[0] == EXPORT_KEY]
    assert written[-1][2] == "/tmp/h.png" and written[-1][3] is later and written[-1][-1] is None  # checks itself


def test_the_dock_shows_measurements_to_the_precision_their_uncertainty_supports(view, model):
    """An area uncertain by about 12 % reads "2.36 mm²", not "2.3575"; the figures given stay as measured."""
    presenter = FollowupPresenter(view, model)  # noqa: F841  (kept: Qt holds its bound slots weakly)
    done = result()
    done.measurements[0].update(area_px=12345, area_mm2=2.3575, diameter_mm=1.73219, asymmetry=0.12345)
    done.measurements[1].update(area_px=15998, area_mm2=3.0551, diameter_mm=1.9876, asymmetry=0.13579)
    done.changes["asymmetry_change"] = 0.01234
    model._set(done)
    _given, comparison = shown(view)
    rows = {row[0]: row[1:] for row in comparison.table}
    assert rows["Area (mm²)"][:2] == ("2.36", "3.06") and rows["Area (px)"][:2] == ("12300", "16000")
    assert rows["Longest diameter (mm)"][:2] == ("1.73", "1.99")
    assert rows["Asymmetry"] == ("0.123", "0.136", "+0.0123")
    assert done.measurements[0]["area_mm2"] == 2.3575  # the facts keep their value
