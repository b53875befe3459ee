"""Undo/redo of the pair's crop boxes."""

from __future__ import annotations


class CropHistory:
    """Undo/redo of the pair's crop boxes; each state is (crop1, crop2)."""

    def __init__(self):
        self._undo: list[tuple] = []
        self._redo: list[tuple] = []

    def push(self, previous: tuple) -> None:
        self._undo.append(previous)
        self._redo.clear()

    def undo(self, current: tuple) -> tuple | None:
        if not self._undo:
            return None
        self._redo.append(current)
        return self._undo.pop()

    def redo(self, current: tuple) -> tuple | None:
        if not self._redo:
            return None
        self._undo.append(current)
        return self._redo.pop()

    def swap(self) -> None:
        self._undo = [state[::-1] for state in self._undo]
        self._redo = [state[::-1] for state in self._redo]

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)
