"""The worklist feature's presenter: the worklist model's cases drawn in a `WorklistView` (the dock), the case the
reviewer picks opened, and each report of the open case recorded with it. Importing and exporting CSVs ask for a
file, so they are gui.presenters.commands'."""

from __future__ import annotations

from typing import Protocol

from ..models.session import ReviewSession
from ..models.worklist import WorklistController


class WorklistView(Protocol):
    def show_cases(self, path, rows: list[tuple], current: int) -> None:
        """path: the worklist's file (None when none is open); rows: (case, status, score, reviewer, images)."""

    def show_current(self, row: int) -> None:
        """Highlight the open case's row; -1 highlights none."""


class WorklistPresenter:
    def __init__(self, view: WorklistView, worklist: WorklistController, session: ReviewSession):
        self.view, self.worklist = view, worklist
        worklist.cases_changed.connect(self.show_cases)
        worklist.current_changed.connect(view.show_current)
        # A report is the open case's only while the pair shown is that case (a swapped case is another pair).
        session.exported.connect(self.exported)
        self.show_cases()

    def show_cases(self) -> None:
        w = self.worklist
        self.view.show_cases(w.store.path if w.store else None, w.rows(), w.current)

    def choose(self, row: int) -> None:
        """The reviewer clicked a case's row."""
        self.worklist.open_case(row)

    def exported(self, exported) -> None:
        if self.worklist.shows_open_case():
            self.worklist.record_report(exported.png)
