"""Text that never widens the window: a one-line label elided to the width it is given, and a cap on what a
word-wrapped label asks for.

A QLabel asks its layout for the width of its whole text (or, word-wrapped, of its longest unbreakable word: a file
name or a path), and a QMainWindow adds up those minimum widths: one long file name made the window wider than
the screen. These labels ask for a few characters and show the rest elided, with the full text in the tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARS = 8  # what an elided label still asks for: enough for "Image 1…"
PREFERRED_CHARS = 32


class ElidedLabel(QLabel):
    """One line, elided (in the middle by default, so a file name keeps its start and its extension) to the
    width it gets and re-elided on every resize; the full text is its tooltip and what text() returns."""

    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._tail = ""  # the end that is kept whole while it fits (an image header's size and crop)
        self._tip = ""
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str, tail: str = "") -> None:
        """Show `text` + `tail`; space permitting, only `text` is elided and `tail` stays whole."""
        self._full, self._tail = (text or "") + (tail or ""), tail or ""
        self._elide()

    def text(self) -> str:  # the full text: callers (and tests) read what the label says, not what fits
        return self._full

    def shown_text(self) -> str:
        """What is drawn now (elided with "…" when the full text does not fit)."""
        return QLabel.text(self)

    def setToolTip(self, tip: str) -> None:
        """An extra line for the tooltip (a full path, say), shown under the full text."""
        self._tip = tip or ""
        self._elide()

    def minimumSizeHint(self) -> QSize:
        metrics = QFontMetrics(self.font())
        margins = self.contentsMargins()
        return QSize(metrics.horizontalAdvance("M" * MIN_CHARS) + margins.left() + margins.right(),
                     super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        metrics = QFontMetrics(self.font())
        margins = self.contentsMargins()
        # The whole text, up to a column's width: a long name must not claim a splitter's space from the other image.
        width = min(metrics.horizontalAdvance(self._full), metrics.horizontalAdvance("M" * PREFERRED_CHARS))
        return QSize(width + margins.left() + margins.right() + 2, super().sizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 1)
        metrics = QFontMetrics(self.font())
        head, tail = self._full[:len(self._full) - len(self._tail)], self._tail
        shown = self._full
        if tail and metrics.horizontalAdvance(self._full) > width:
            # The head (a file name) gives way first, down to a few characters; then the end of the tail does.
            room = max(width - metrics.horizontalAdvance(tail), metrics.horizontalAdvance("M" * MIN_CHARS * 2))
            shown = metrics.elidedText(head, self._mode, room) + tail
        shown = metrics.elidedText(shown, self._mode if not tail else Qt.TextElideMode.ElideRight, width)
        QLabel.setText(self, shown)
        tip = "\n".join(part for part in (self._full if shown != self._full else "", self._tip) if part)
        QLabel.setToolTip(self, tip)


def never_widens(label: QLabel, chars: int = 10) -> QLabel:
    """A word-wrapped label whose longest word (a path, a case id) must not set the window's minimum width: it asks
    for `chars` characters (an explicit minimum overrides the text's) and wraps, or clips an unbreakable word,
    within whatever width it gets."""
    label.setWordWrap(True)
    label.setMinimumWidth(QFontMetrics(label.font()).horizontalAdvance("M" * chars))
    return label
