"""The "Worklist" dock: the cases with status, the model's verdict and the reviewer's verdict. The `WorklistView` of
gui.presenters.worklist: it draws the rows it is given and forwards clicks.

Long texts (the worklist's path, a case id) are elided with the full text in a tooltip: the dock must fit beside
two images on a 1366 px screen whatever the cases are called."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..models.worklist import VERDICT_PARTS  # "inconclusive · P 41 %": two lines, the column as wide as the longer
from .elided import ElidedLabel, never_widens

FIELDS = ("Case", "Status", "Model verdict", "Reviewer", "Images")  # the texts per case, as show_cases gets them
# What the table draws, in this order. On a 1366 px screen the dock is about 265 px wide: the status stood in a
# column of its own right of the dock's edge (read only by scrolling sideways), so it shares one column with the
# reviewer's agree / disagree, on two lines as the verdict and its P are; the images' names stand last.
COLUMNS = ("Case", "Model verdict", "Review", "Images")
# a follow-up case lists what its follow-up measured there, not the model's verdict (gui.models.worklist)
HEADERS = {"Model verdict": "Verdict or\nchange"}
REVIEW_LINES = ("Status", "Reviewer")  # the "Review" column: the case's status over the reviewer's decision
# A case id keeps at least this many characters (its start and end around the ellipsis) however narrow the dock:
# a stretched column shrank to a bare "…" when the other columns filled a 1366 px screen's dock; 12 pushed the
# review column past the edge of that dock once forty cases brought the vertical scroll bar.
CASE_MIN_CHARS = 10


class WorklistDock(QDockWidget):
    case_chosen = Signal(int)  # row
    import_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent=None):
        super().__init__("Worklist", parent)
        self.setObjectName("worklist-dock")
        body = QWidget()
        column = QVBoxLayout(body)
        # on a line of its own: beside the buttons, in the 265 px a 1366 px screen gives the dock, it showed
        # "….sqlite"; the file name, at the end, is what tells worklists apart
        self.path_label = ElidedLabel("", Qt.ElideLeft)
        column.addWidget(self.path_label)
        row = QHBoxLayout()
        row.addStretch(1)
        for text, signal, tip in (("Import CSV…", self.import_requested, "image1,image2[,case_id,crop1,crop2,note]"),
                                  ("Export CSV…", self.export_requested, "every case with its latest result")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.NoFocus)  # never steals the review shortcuts
            button.clicked.connect(signal)
            row.addWidget(button)
        column.addLayout(row)
        self.table = QTableWidget(0, len(COLUMNS))
        # headers no wider than their columns' texts ("Model verdict" was 7 px wider than "inconclusive")
        self.table.setHorizontalHeaderLabels([HEADERS.get(name, name) for name in COLUMNS])
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.setFocusPolicy(Qt.NoFocus)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        # the verdict and its P ("different · P 16.8 %") are read whole; the case id takes what is left, between
        # a readable floor and its own width (_fit_case_column), the image names the rest, all elided
        for index, name in enumerate(COLUMNS):
            header.setSectionResizeMode(index, QHeaderView.Interactive if name == "Case"
                                        else QHeaderView.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Images"), QHeaderView.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)  # two-line verdicts
        self.table.viewport().installEventFilter(self)  # a resized dock re-shares the case column
        self.table.setTextElideMode(Qt.ElideMiddle)  # a long case id keeps its start and end
        self.table.setWordWrap(False)  # elided on one line: wrapped, a long id made its row six lines tall
        self.table.setMinimumWidth(120)
        self.table.cellClicked.connect(lambda r, _c: self.case_chosen.emit(r))
        column.addWidget(self.table)
        self.hint = never_widens(QLabel("J / K: next / previous case · A / Shift+A: agree / disagree · D: done · "
                                        "Shift+F: flag"))
        column.addWidget(self.hint)
        self.setWidget(body)

    def show_cases(self, path, rows: list[tuple], current: int) -> None:
        """rows: (case, status, score, reviewer, images) texts per case (FIELDS)."""
        self.path_label.setText(f"Worklist: {path}" if path else "")
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, (shown, tip) in enumerate(_cells(dict(zip(FIELDS, values, strict=True)))):
                item = QTableWidgetItem(shown)
                item.setToolTip(tip)
                self.table.setItem(r, c, item)
        self._fit_case_column()
        self.show_current(current)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_case_column()
        return super().eventFilter(watched, event)

    def _fit_case_column(self) -> None:
        header, case = self.table.horizontalHeader(), COLUMNS.index("Case")
        others = sum(header.sectionSize(i) for i, name in enumerate(COLUMNS) if name not in ("Case", "Images"))
        metrics = self.table.fontMetrics()
        floor = metrics.horizontalAdvance("0" * CASE_MIN_CHARS)
        texts = [self.table.item(r, case).text() for r in range(self.table.rowCount()) if self.table.item(r, case)]
        whole = max([metrics.horizontalAdvance(t) for t in texts] + [header.sectionSizeHint(case)]) + 12
        header.resizeSection(case, max(floor, min(whole, self.table.viewport().width() - others)))

    def show_current(self, row: int) -> None:
        if 0 <= row < self.table.rowCount():
            self.table.selectRow(row)
        else:
            self.table.clearSelection()


def _cells(fields: dict[str, str]) -> list[tuple[str, str]]:
    """(text drawn, tooltip) per column of COLUMNS: the verdict over its P, the status over the reviewer's decision
    (none yet: the status alone), each line short enough for a 265 px dock; the tooltip says it on one line."""
    verdict = fields["Model verdict"]
    review = [fields[name] for name in REVIEW_LINES if fields[name]]
    return [(fields["Case"], fields["Case"]), (verdict.replace(VERDICT_PARTS, "\n"), verdict),
            ("\n".join(review), VERDICT_PARTS.join(f"{name}: {fields[name] or '–'}" for name in REVIEW_LINES)),
            (fields["Images"], fields["Images"])]
