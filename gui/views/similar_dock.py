"""The "Similar cases" dock: a gallery chooser, the index's progress with Cancel, and the nearest cases to
image 1 as a thumbnail strip. The `SimilarView` of gui.presenters.similar: it draws what that says and forwards
the reviewer's clicks as signals."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .elided import ElidedLabel, never_widens

THUMB = 96
CELL = THUMB + 40  # px a case's cell is wide where there is room: its thumbnail and the words under it
CELL_HEIGHT = THUMB + 44
# Ten nearest cases in cells of CELL px needed 1360 px: at 1366 x 768 the strip scrolled sideways to show the last
# score. Cells share the strip's width instead, down to what their words need (then it scrolls, as it must).
WORDS_MARGIN = 12


class SimilarCasesDock(QDockWidget):
    choose_gallery = Signal()
    clear_gallery = Signal()
    cancel = Signal()
    hit_chosen = Signal(object)  # the hit's dict

    def __init__(self, parent=None):
        super().__init__("Similar cases", parent)
        self.setObjectName("similar-cases-dock")  # restoreState() finds docks by name
        body = QWidget()
        column = QVBoxLayout(body)
        row = QHBoxLayout()
        self.gallery_label = ElidedLabel("No gallery chosen")  # a long folder path never widens the window
        self.choose_button = QPushButton("Gallery…")
        self.choose_button.setToolTip("Choose a folder of known cases (a folder per label gives votes)")
        self.clear_button = QPushButton("Clear")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop indexing; the cases indexed so far are searched")
        for button in (self.choose_button, self.clear_button, self.cancel_button):
            button.setFocusPolicy(Qt.NoFocus)  # never steals the viewers' keyboard shortcuts
        row.addWidget(self.gallery_label, 1)
        for button in (self.cancel_button, self.choose_button, self.clear_button):
            row.addWidget(button)
        column.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setFormat("indexing %v / %m")
        column.addWidget(self.progress)
        self.summary = never_widens(QLabel(""))
        column.addWidget(self.summary)
        self.hits = QListWidget()
        self.hits.setViewMode(QListWidget.IconMode)
        self.hits.setFlow(QListWidget.LeftToRight)
        self.hits.setWrapping(False)
        self.hits.setIconSize(QSize(THUMB, THUMB))
        self.hits.setGridSize(QSize(CELL, CELL_HEIGHT))
        self.hits.setMovement(QListWidget.Static)
        self.hits.setFixedHeight(THUMB + 64)
        self.hits.setFocusPolicy(Qt.NoFocus)
        self.hits.setToolTip("Click a case to compare it with image 1 (it becomes image 2)")
        column.addWidget(self.hits)
        column.addStretch(1)  # a tall dock keeps the strip under its summary, the spare height below
        self.hits.viewport().installEventFilter(self)  # a resized dock re-shares the strip's width
        self.setWidget(body)
        self.choose_button.clicked.connect(self.choose_gallery)
        self.clear_button.clicked.connect(self.clear_gallery)
        self.cancel_button.clicked.connect(self.cancel)
        self.hits.itemClicked.connect(lambda item: self.hit_chosen.emit(item.data(Qt.UserRole)))
        self.show_progress(None)

    def show_current(self, rank: int) -> None:
        """Highlight the case with this rank (the one shown as image 2) and scroll it into view; 0 clears."""
        for row in range(self.hits.count()):
            item = self.hits.item(row)
            if item.data(Qt.ItemDataRole.UserRole)["rank"] == rank:
                self.hits.setCurrentItem(item)
                self.hits.scrollToItem(item)
                return
        self.hits.clearSelection()
        self.hits.setCurrentItem(None)

    def show_gallery(self, text: str, clearable: bool) -> None:
        self.gallery_label.setText(text)
        self.clear_button.setEnabled(clearable)

    def show_progress(self, progress: tuple[int, int] | None) -> None:
        busy = progress is not None
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if progress is not None:
            self.progress.setRange(0, progress[1])
            self.progress.setValue(progress[0])

    def show_found(self, summary: str, hits: list[dict]) -> None:
        self.hits.clear()
        self.summary.setText(summary)
        for hit in hits:
            label = f"\n{hit['label']}" if hit["label"] is not None else ""
            label += f"\n+{len(hit['folded'])} near-dup." if hit.get("folded") else ""
            item = QListWidgetItem(f"#{hit['rank']} {hit['similarity'] * 100:.1f} %{label}")
            if hit["qimage"] is not None:
                item.setIcon(QIcon(QPixmap.fromImage(hit["qimage"])))
            item.setToolTip("\n".join([hit["path"], *(f"folded in: {p}" for p in hit.get("folded", []))]))
            item.setData(Qt.ItemDataRole.UserRole, {k: v for k, v in hit.items() if k != "qimage"})
            self.hits.addItem(item)
        self._fit_cells()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.hits.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_cells()
        return super().eventFilter(watched, event)

    def _fit_cells(self) -> None:
        """Every case's cell as wide as the strip allows them all (at most CELL), never narrower than its words."""
        count = self.hits.count()
        if not count:
            return
        metrics = self.hits.fontMetrics()
        words = max(metrics.horizontalAdvance(line) for row in range(count)
                    for line in self.hits.item(row).text().split("\n")) + WORDS_MARGIN
        width = max(words, min(CELL, (self.hits.viewport().width() - 1) // count))
        if width != self.hits.gridSize().width():
            self.hits.setGridSize(QSize(width, CELL_HEIGHT))
            side = min(THUMB, width - WORDS_MARGIN)
            self.hits.setIconSize(QSize(side, side))
