"""The "Similar cases" dock: a gallery chooser, the index's progress with Cancel, and the nearest cases to
image 1 as a thumbnail strip. A passive view of gui.models.similar_cases.SimilarCases: it shows and forwards clicks."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
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
        self.hits.setGridSize(QSize(THUMB + 40, THUMB + 44))
        self.hits.setMovement(QListWidget.Static)
        self.hits.setFixedHeight(THUMB + 64)
        self.hits.setFocusPolicy(Qt.NoFocus)
        self.hits.setToolTip("Click a case to compare it with image 1 (it becomes image 2)")
        column.addWidget(self.hits)
        self.setWidget(body)
        self.choose_button.clicked.connect(self.choose_gallery)
        self.clear_button.clicked.connect(self.clear_gallery)
        self.cancel_button.clicked.connect(self.cancel)
        self.hits.itemClicked.connect(lambda item: self.hit_chosen.emit(item.data(Qt.UserRole)))
        self.set_gallery(None)

    def bind(self, cases, choose_gallery) -> None:
        """Show `cases` (a SimilarCases) and send the reviewer's clicks to it; choosing a folder is the window's."""
        self.choose_gallery.connect(choose_gallery)
        self.clear_gallery.connect(lambda: cases.set_gallery(None))
        self.cancel.connect(cases.cancel)
        self.hit_chosen.connect(cases.open_hit)
        cases.found_changed.connect(self.show_found)
        cases.progress.connect(lambda done, total: self.show_progress((done, total)))
        cases.gallery_changed.connect(self.set_gallery)
        cases.current_changed.connect(self.show_current)
        self.set_gallery(cases.gallery)

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

    def set_gallery(self, path: str | None) -> None:
        self.gallery_label.setText(f"Gallery: {path}" if path else "No gallery chosen")
        self.clear_button.setEnabled(bool(path))
        self.show_progress(None)
        if not path:
            self.show_found(None)

    def show_progress(self, progress: tuple[int, int] | None) -> None:
        """(done, total) while the index is updated; None when it is not."""
        busy = progress is not None and progress[0] < progress[1]
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy and progress is not None:
            self.progress.setRange(0, progress[1])
            self.progress.setValue(progress[0])

    def show_found(self, found) -> None:
        """A SimilarFound, or None to clear."""
        self.hits.clear()
        self.show_progress(None)
        if found is None:
            self.summary.setText("Load image 1 and choose a gallery to see its nearest known cases.")
            return
        parts = [f"{len(found.hits)} nearest of {found.indexed} indexed cases"]
        if found.vote:
            parts.append(found.vote)
        if found.interrupted:
            parts.append("indexing was cancelled: only the cases indexed so far were searched")
        self.summary.setText(" · ".join(parts))
        for hit in found.hits:
            label = f"\n{hit['label']}" if hit["label"] is not None else ""
            item = QListWidgetItem(f"#{hit['rank']} {hit['similarity'] * 100:.1f} %{label}")
            if hit["qimage"] is not None:
                item.setIcon(QIcon(QPixmap.fromImage(hit["qimage"])))
            item.setToolTip(hit["path"])
            item.setData(Qt.ItemDataRole.UserRole, {k: v for k, v in hit.items() if k != "qimage"})
            self.hits.addItem(item)
