"""The worklist feature's presenter (gui.presenters.worklist) on an autospec'd view and a mock worklist model: what
the dock is told to draw, which case a click opens, and which reports are recorded with the open case. No widgets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest.mock import Mock, create_autospec

import pytest

from gui.models.session import ReviewSession
from gui.models.worklist import WorklistController
from gui.presenters.worklist import WorklistPresenter, WorklistView

ROWS = [("case-1", "in review", "same (91.0 %)", "agree", "a.png / b.png")]


@pytest.fixture
def view():
    return create_autospec(WorklistView, instance=True)


@pytest.fixture
def worklist():
    worklist = Mock(spec=WorklistController)
    worklist.store, worklist.current = SimpleNamespace(path=Path("/cases/review.sqlite")), 0
    worklist.rows.return_value = ROWS
    return worklist


def test_the_dock_shows_the_cases_when_built_and_whenever_they_change(view, worklist):
    presenter = WorklistPresenter(view, worklist, Mock(spec=ReviewSession))
    view.show_cases.assert_called_once_with(Path("/cases/review.sqlite"), ROWS, 0)
    worklist.cases_changed.connect.assert_called_once_with(presenter.show_cases)
    worklist.current_changed.connect.assert_called_once_with(view.show_current)
    worklist.store, worklist.current = None, -1
    presenter.show_cases()
    view.show_cases.assert_called_with(None, ROWS, -1)


def test_a_clicked_row_opens_that_case(view, worklist):
    WorklistPresenter(view, worklist, Mock(spec=ReviewSession)).choose(2)
    worklist.open_case.assert_called_once_with(2)


@pytest.mark.parametrize("shows_open_case", [True, False])
def test_a_report_is_recorded_with_the_case_only_while_the_case_is_shown(view, worklist, shows_open_case):
    session = Mock(spec=ReviewSession)
    presenter = WorklistPresenter(view, worklist, session)
    session.exported.connect.assert_called_once_with(presenter.exported)
    worklist.shows_open_case.return_value = shows_open_case  # False: swapped, or other images opened over it
    presenter.exported(SimpleNamespace(png="/cases/review-reports/r.png"))
    assert worklist.record_report.call_args_list == (
        [(("/cases/review-reports/r.png",),)] if shows_open_case else [])
