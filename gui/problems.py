"""The problem bar: what went wrong (a bad image, a refused model, a failed export), visible until the reviewer
dismisses it or that source next succeeds; never a status-bar flash that a later success leaves behind."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton


class ProblemBar(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("problem-bar")
        self.setStyleSheet("#problem-bar { background: #fbe3e1; border: 1px solid #b0281e; }"
                           "QLabel { color: #7a1a12; }")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        row.addWidget(self.label, 1)
        self.dismiss_button = QPushButton("Dismiss (Esc)")
        self.dismiss_button.setFocusPolicy(Qt.NoFocus)  # never steals the review shortcuts
        self.dismiss_button.clicked.connect(self.dismiss)
        row.addWidget(self.dismiss_button, 0, Qt.AlignTop)
        self._problems: dict[str, str] = {}  # source -> its latest problem, oldest first
        self.hide()

    def report(self, source: str, text: str) -> None:
        self._problems.pop(source, None)
        self._problems[source] = text
        self._show()

    def clear(self, source: str) -> None:
        if self._problems.pop(source, None) is not None:
            self._show()

    def dismiss(self) -> None:
        self._problems.clear()
        self._show()

    def problems(self) -> list[str]:
        return list(self._problems.values())

    def _show(self) -> None:
        self.label.setText("\n".join(self._problems.values()))
        self.setVisible(bool(self._problems))
