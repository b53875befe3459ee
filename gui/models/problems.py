"""What went wrong (a bad image, a refused model, a failed export), kept until the reviewer dismisses it or that
source next succeeds: never a status-bar flash that a later success leaves behind.

Qt-free: the problem bar (gui.views.problem_bar) draws what its change event carries, and tests read it directly.
"""

from __future__ import annotations

from typing import Callable


class Problems:
    """The latest problem per source ("image 1", "export", ...), the most recently reported last."""

    def __init__(self):
        self._latest: dict[str, str] = {}
        self._listeners: list[Callable[[list[str]], None]] = []

    def on_change(self, listener: Callable[[list[str]], None]) -> None:
        """Call `listener(texts)` with the current problems after every change."""
        self._listeners.append(listener)

    def report(self, source: str, text: str) -> None:
        self._latest.pop(source, None)  # a source reported again moves last, where the newest problem is read
        self._latest[source] = text
        self._changed()

    def clear(self, source: str) -> None:
        """`source` has since succeeded: its last problem no longer applies."""
        if self._latest.pop(source, None) is not None:
            self._changed()

    def dismiss(self) -> None:
        if self._latest:
            self._latest.clear()
            self._changed()

    def current(self) -> dict[str, str]:
        """source -> its latest problem, oldest first."""
        return dict(self._latest)

    def texts(self) -> list[str]:
        return list(self._latest.values())

    def _changed(self) -> None:
        texts = self.texts()
        for listener in self._listeners:
            listener(texts)
