"""A lesion's history in the follow-up dock (gui.models.followup.FollowUpReview.history): a timeline strip with one
button per visit (its date, days since the baseline and area change) to step through them, the two visits the view
blinks between, and the trend chart of area and diameter with their uncertainty bands. Widgets only: what is chosen
leaves as signals, for gui.presenters.followup.FollowupPresenter."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget


class HistoryStrip(QWidget):
    """Shown only while the model holds a history (three or more visits, or two chosen as one)."""

    visit_clicked = Signal(int)  # a visit's button, 0 the baseline
    step_requested = Signal(int)  # -1 the previous visit, +1 the next
    pair_chosen = Signal(int, int)  # the two visits to blink between

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.buttons: list[QPushButton] = []
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        self.strip = QHBoxLayout()
        column.addLayout(self.strip)
        self.controls = QWidget()  # the dock puts these beside its view modes: the view keeps its height
        pair = QHBoxLayout(self.controls)
        pair.setContentsMargins(0, 0, 0, 0)
        self.first, self.second = QComboBox(), QComboBox()
        for label, box in (("Blink", self.first), ("with", self.second)):
            box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            box.currentIndexChanged.connect(self._pair_chosen)
            pair.addWidget(QLabel(label))
            pair.addWidget(box, 1)
        self.previous, self.next = QPushButton("◀"), QPushButton("▶")
        for button, step in ((self.previous, -1), (self.next, 1)):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip("Step to the previous / next visit (against the baseline)")
            button.clicked.connect(lambda _on=False, s=step: self.step_requested.emit(s))
            pair.addWidget(button)
        self.controls.setVisible(False)
        self.setVisible(False)

    def show_history(self, shown) -> None:
        for button in self.buttons:
            self.strip.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        for box in (self.first, self.second):
            box.blockSignals(True)
            box.clear()
        if shown is None:
            self.setVisible(False)
            self.controls.setVisible(False)
            return
        for index, visit in enumerate(shown.facts["visits"]):
            label = visit_label(visit)
            button = QPushButton(label)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip(f"{visit['file'] or ''}: area and longest diameter against the baseline in the "
                              "table; click to step to it (the baseline: blink it with the visit shown)")
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # many visits: never wider
            button.clicked.connect(lambda _on=False, i=index: self.visit_clicked.emit(i))
            self.strip.addWidget(button)
            self.buttons.append(button)
            for box in (self.first, self.second):
                box.addItem(f"V{visit['visit']}", index)
        for box in (self.first, self.second):
            box.blockSignals(False)
        self.setVisible(True)
        self.controls.setVisible(True)

    def show_visit(self, checked: tuple[bool, ...], blink_pair: tuple[int, int], previous: bool,
                   following: bool) -> None:
        for button, on in zip(self.buttons, checked, strict=False):
            button.setChecked(on)
        for box, index in ((self.first, blink_pair[0]), (self.second, blink_pair[1])):
            box.blockSignals(True)  # showing the pair is not choosing it again
            box.setCurrentIndex(index)
            box.blockSignals(False)
        self.previous.setEnabled(previous)
        self.next.setEnabled(following)

    def _pair_chosen(self) -> None:
        self.pair_chosen.emit(self.first.currentIndex(), self.second.currentIndex())


class TrendChart(QLabel):
    """The history's trend chart (gui.jobs.tasks.HistoryShown.trend), scaled to its room."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumHeight(120)
        self.chart: QPixmap | None = None
        self.setVisible(False)

    def show_history(self, shown) -> None:
        if shown is None:
            self.chart = None
            self.setVisible(False)
            return
        rgb = np.ascontiguousarray(shown.trend)
        self.chart = QPixmap.fromImage(QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1],
                                              QImage.Format.Format_RGB888).copy())
        self.setToolTip("Area and longest diameter against the baseline, with their measurement uncertainty")
        self.setVisible(True)
        self._fit()

    def _fit(self) -> None:
        if self.chart is not None:
            self.setPixmap(self.chart.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()


def visit_label(visit: dict) -> str:
    """'V2 2026-04-07 +92 d ×1.27' (area against the baseline) for a timeline button; dashes for what is unknown."""
    head = f"V{visit['visit']} {visit['date'] or 'date ?'}"
    if visit["baseline"]:
        return head + " baseline"
    days = visit["days_since_baseline"]
    changes = visit["changes"] or {}
    area = changes.get("area_change")
    return head + f" {'+' + str(days) + ' d' if days is not None else '–'} " + (
        f"×{area:.2f}" if area is not None else "×–")
