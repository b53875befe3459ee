"""One rule for a typed pixel size (a leftover of issue #34): core.followup.measurements.read_pixel_size, used by the
CLI's --pixel-size-mm and by the follow-up model's field alike: the same texts accepted as the same size, the same
refused with the same words (the two had drifted: the window took "0,02", the CLI refused it). Where the size used came
from is the result's fact (core.followup.visits.pixel_scale), which the dock shows while the result is."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock, create_autospec

import pytest

from core.followup.measurements import read_pixel_size
from gui.models.followup import KEY, FollowUpReview
from gui.models.problems import Problems

SIZES = [("0.02", 0.02), ("0,02", 0.02), (" 1e-3 ", 0.001), ("99.9", 99.9), ("", None)]
NOT_SIZES = ["100", "0", "-2", "abc", "nan", "inf", "0.02 mm"]


@pytest.mark.parametrize(("text", "size"), SIZES)
def test_a_size_is_read_alike_by_core_the_cli_and_the_window(text, size, capsys):
    from main import main

    assert read_pixel_size(text) == pytest.approx(size) if size else read_pixel_size(text) is None
    main(["followup", "missing-1.png", "missing-2.png", "--pixel-size-mm", text, "--model", "missing.pt"])
    assert "--pixel-size-mm" not in capsys.readouterr().err  # accepted: the next check (the images) refuses
    review, session, problems = _review()
    review.set_pixel_size(text)
    review.run()
    assert KEY not in problems.current()
    assert session.runner.submit.call_args.args[5] == (pytest.approx(size) if size else None)


@pytest.mark.parametrize("text", NOT_SIZES)
def test_a_wrong_size_is_refused_alike_in_one_line(text, capsys):
    from main import main

    with pytest.raises(ValueError) as refused:
        read_pixel_size(text)
    reason = str(refused.value)
    assert "\n" not in reason and repr(text) in reason and "less than 100" in reason
    code = main(["followup", "missing-1.png", "missing-2.png", "--pixel-size-mm", text, "--model", "missing.pt"])
    assert code == 2 and capsys.readouterr().err == f"error: --pixel-size-mm: {reason}\n"
    review, session, problems = _review()
    review.set_pixel_size(text)
    review.run()  # refused while the size is not a size: nothing submitted
    assert reason in problems.current()[KEY] and not session.runner.submit.called


def test_a_history_with_a_size_typed_over_the_files_spacing_shows_both_for_as_long_as_it_is_shown(tmp_path,
                                                                                                  tiny_model):
    """A size kept with the pair comes back by itself when the pair opens again: used over the DICOM files' own
    PixelSpacing, the dock says both beside the Pixel field for every visit stepped to (it was a status-bar message
    that faded after 6 s, and never said for a history)."""
    import threading

    from gui.presenters.followup import FollowupPresenter, FollowupView
    from tests.test_pixel_scale import FILE_MM, TYPED_MM, dicom_visits

    review, session, _problems = _review()
    session.method = "gradcam"
    view = create_autospec(FollowupView, instance=True)
    presenter = FollowupPresenter(view, review)  # noqa: F841  (kept: Qt holds its bound slots weakly)
    review.set_pixel_size(str(TYPED_MM))
    review.run_history([str(path) for path in dicom_visits(tmp_path)])
    args = session.runner.submit.call_args.args
    assert args[6] == pytest.approx(TYPED_MM)  # the typed size reaches the job
    workspace = SimpleNamespace(require_model=lambda: tiny_model, stop=threading.Event())
    review._set_history(args[1](workspace, *args[2:]))  # the job's result, delivered as the runner would
    said = (f"Scale: {TYPED_MM:g} mm per pixel, typed by the reviewer, the file says {FILE_MM:g} mm (the follow-up "
            "measured on the baseline's grid)")
    for visit in (1, 2):
        review.step(visit)
        assert view.show_comparison.call_args.args[1].scale == said
    review._set(None)  # no follow-up shown: nothing said of its scale
    assert view.show_comparison.call_args.args == (None, None)


def _review():
    session, problems = Mock(), Problems()
    session.images, session.model = [Mock(), Mock()], object()
    return FollowUpReview(session, problems), session, problems
