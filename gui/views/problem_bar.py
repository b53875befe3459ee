"""The problem bar above the images: the current problems (gui.models.problems) until they are dismissed or
withdrawn."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from ..models.problems import Problems


class ProblemBar(QFrame):
    def __init__(self, problems: Problems, parent=None):
        super().__init__(parent)
        self.setObjectName("problem-bar")
        self.setStyleSheet("#problem-bar { background: #fbe3e1; border: 1px solid #b0281e; }"
                           "QLabel { color: #7a1a12; }")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.label, 1)
        self.dismiss_button = QPushButton("Dismiss (Esc)")
        self.dismiss_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # never steals the review shortcuts
        self.dismiss_button.clicked.connect(problems.dismiss)
        row.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignTop)
        self._problems = problems
        problems.on_change(self._show)
        self._show(problems.texts())

    def problems(self) -> list[str]:
        return self._problems.texts()

    def _show(self, texts: list[str]) -> None:
        self.label.setText("\n".join(texts))
        self.setVisible(bool(texts))
