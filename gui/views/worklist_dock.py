"""The "Worklist" dock: the cases with status, score and the reviewer's verdict; a passive view.

Long texts (the worklist's path, a case id) are elided with the full text in a tooltip: the dock must fit beside
two images on a 1366 px screen whatever the cases are called."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
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

from .elided import ElidedLabel, never_widens

COLUMNS = ("Case", "Status", "Score", "Reviewer", "Images")


class WorklistDock(QDockWidget):
    case_chosen = Signal(int)  # row
    import_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent=None):
        super().__init__("Worklist", parent)
        self.setObjectName("worklist-dock")
        body = QWidget()
        column = QVBoxLayout(body)
        row = QHBoxLayout()
        self.path_label = ElidedLabel("", Qt.ElideLeft)  # the file name, at the end, is what tells worklists apart
        row.addWidget(self.path_label, 1)
        for text, signal, tip in (("Import CSV…", self.import_requested, "image1,image2[,case_id,crop1,crop2,note]"),
                                  ("Export CSV…", self.export_requested, "every case with its latest result")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.NoFocus)  # never steals the review shortcuts
            button.clicked.connect(signal)
            row.addWidget(button)
        column.addLayout(row)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.setFocusPolicy(Qt.NoFocus)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        # the verdict and score ("not assessed (83.1 %)") are read whole; the names share what is left, elided
        for index, name in enumerate(COLUMNS):
            header.setSectionResizeMode(index, QHeaderView.Stretch if name in ("Case", "Images")
                                        else QHeaderView.ResizeToContents)
        self.table.setTextElideMode(Qt.ElideMiddle)  # a long case id keeps its start and end
        self.table.setMinimumWidth(120)
        self.table.cellClicked.connect(lambda r, _c: self.case_chosen.emit(r))
        column.addWidget(self.table)
        self.hint = never_widens(QLabel("J / K: next / previous case · A / Shift+A: agree / disagree · D: done · "
                                        "Shift+F: flag"))
        column.addWidget(self.hint)
        self.setWidget(body)

    def show_cases(self, path, rows: list[tuple], current: int) -> None:
        """rows: (case, status, score, reviewer, images) texts per case."""
        self.path_label.setText(f"Worklist: {path}" if path else "")
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(r, c, item)
        self.show_current(current)

    def show_current(self, row: int) -> None:
        if 0 <= row < self.table.rowCount():
            self.table.selectRow(row)
        else:
            self.table.clearSelection()
