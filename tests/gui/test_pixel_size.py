"""One rule for a typed pixel size (a leftover of issue #34): core.followup.measurements.read_pixel_size, used by the
CLI's --pixel-size-mm and by the follow-up model's field alike: the same texts accepted as the same size, the same
refused with the same words (the two had drifted: the window took "0,02", the CLI refused it)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock

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


def test_a_typed_size_used_over_a_dicom_files_own_spacing_is_said(capsys):
    """A size kept with the pair comes back by itself when the pair opens again: used over the DICOM file's own
    PixelSpacing it is said each time, never silently; the file's own size, or the same size typed, says nothing."""
    review, session, problems = _review()
    session.images[0].image = SimpleNamespace(case_fields={"pixel_size_mm": "0.05"}, scale=1.0)
    review.run()
    review.set_pixel_size("0.05")
    review.run()
    assert not session.info.emit.called
    review.set_pixel_size("0.02")
    review.run()
    said = session.info.emit.call_args.args[0]
    assert "0.02 mm as typed" in said and "file's own 0.05 mm" in said
    assert session.runner.submit.call_args.args[5] == pytest.approx(0.02)  # the reviewer's choice, said


def _review():
    session, problems = Mock(), Problems()
    session.images, session.model = [Mock(), Mock()], object()
    return FollowUpReview(session, problems), session, problems
