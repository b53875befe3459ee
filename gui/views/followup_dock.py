"""Follow-up review (core.followup.visits): image 2 as a later visit of image 1's lesion, aligned onto it, compared and
measured. A dock with one aligned view in three modes (blink, swipe curtain, difference) with both visits'
outlines, the measurements of each visit and their changes, and the verdict of the aligned pair.

The reviewer's manual nudge (Alt+arrows, one pixel) moves the aligned follow-up over the baseline for the eye, with
undo (Alt+Backspace); it does not change the measured registration, and the dock says so while a nudge applies.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import QPoint, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..jobs.tasks import dicom_pair, difference_image
from ..models.followup import REGISTRATION_MODES
from .history_strip import HistoryStrip, TrendChart

MODES = ("blink", "swipe", "difference")
OUTLINES = (QColor(0, 200, 255), QColor(255, 220, 0))  # baseline cyan, follow-up yellow: as the report draws them
LEGEND = ("<span style='color:#00c8ff'>■</span> baseline outline   <span style='color:#ffdc00'>■</span> follow-up "
          "outline   ·   B: blink")
VIEW_SHARE = 0.62  # of the window's height given to the dock when it opens: the aligned view gets over half of it
ROWS = (("area_px", "Area (px)"), ("area_mm2", "Area (mm²)"), ("diameter_px", "Longest diameter (px)"),
        ("diameter_mm", "Longest diameter (mm)"), ("asymmetry", "Asymmetry"),
        ("border_irregularity", "Border irregularity"), ("colours", "Colours"))


class FollowUpDock(QDockWidget):
    """A view of gui.models.followup.FollowUpReview: draws its result; the export and store buttons only ask
    (export_requested, store_requested)."""

    export_requested = Signal()
    store_requested = Signal()  # Store to PACS (gui.presenters.pacs.PacsCommands.store_followup)

    def __init__(self, parent=None):
        super().__init__("Follow-up", parent)
        self.setObjectName("followup-dock")
        self.result, self.mode, self.showing_followup = None, "swipe", False
        self.followup = None  # gui.models.followup.FollowUpReview, once bound
        self.nudges: list[tuple[int, int]] = []
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(6, 2, 6, 2)  # tight: every pixel of height goes to the aligned view
        left = QVBoxLayout()
        left.setSpacing(2)
        modes = QHBoxLayout()
        self.mode_buttons = QButtonGroup(self)
        for name in MODES:
            button = QRadioButton(name.capitalize())
            button.setFocusPolicy(Qt.NoFocus)
            button.setChecked(name == self.mode)
            button.toggled.connect(lambda on, n=name: on and self.set_mode(n))
            self.mode_buttons.addButton(button)
            modes.addWidget(button)
        self.curtain = QSlider(Qt.Horizontal)
        self.curtain.setRange(0, 100)
        self.curtain.setValue(50)
        self.curtain.setFocusPolicy(Qt.NoFocus)
        self.curtain.setToolTip("Swipe: baseline left of the curtain, follow-up right of it")
        self.curtain.valueChanged.connect(self._draw)
        modes.addWidget(self.curtain, 1)
        self.history_strip = HistoryStrip()  # a lesion's history: step through its visits, blink any two
        modes.addWidget(self.history_strip.controls, 2)
        left.addLayout(modes)
        left.addWidget(self.history_strip)
        self.view = QLabel("Align image 2 onto image 1: Model > Follow-up (Ctrl+U)")
        self.view.setAlignment(Qt.AlignCenter)
        self.view.setMinimumSize(200, 160)
        self.view.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)  # scaled to the dock, never widens it
        left.addWidget(self.view, 1)
        self.legend = QLabel(LEGEND)
        left.addWidget(self.legend)
        row.addLayout(left, 3)
        right = QVBoxLayout()
        self.headline = QLabel()  # what changed leads; the model's verdict follows, in neutral grey
        self.headline.setWordWrap(True)
        right.addWidget(self.headline)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        right.addWidget(self.verdict)
        settings = QHBoxLayout()
        self.registration_mode = QComboBox()
        for mode in REGISTRATION_MODES:
            self.registration_mode.addItem(mode.capitalize(), mode)
        self.registration_mode.setToolTip("Auto: similarity when the magnification evidently differs, else rigid")
        self.registration_mode.setFocusPolicy(Qt.NoFocus)
        self.pixel_size = QLineEdit()
        self.pixel_size.setPlaceholderText("pixel size, mm")
        self.pixel_size.setToolTip("Size of one baseline pixel in mm (empty: a DICOM file's, else pixels)")
        for label, widget in (("Registration", self.registration_mode), ("Pixel", self.pixel_size)):
            settings.addWidget(QLabel(label))
            settings.addWidget(widget, 1)
        right.addLayout(settings)
        self.assessment = QLineEdit()
        self.assessment.setPlaceholderText("reviewer's assessment (printed on the report)")
        right.addWidget(self.assessment)
        self.registration = QLabel()
        self.registration.setWordWrap(True)
        right.addWidget(self.registration)
        self.export_button = QPushButton("Export follow-up report…")
        self.export_button.setFocusPolicy(Qt.NoFocus)
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_requested)
        right.addWidget(self.export_button)
        self.store_button = QPushButton("Store to PACS…")
        self.store_button.setToolTip("Write the DICOM report and measurement SR and store them into the follow-up "
                                     "visit's study on the PACS (DICOM images only; credentials: docs/pacs.md)")
        self.store_button.setFocusPolicy(Qt.NoFocus)
        self.store_button.setEnabled(False)
        self.store_button.clicked.connect(self.store_requested)
        right.addWidget(self.store_button)
        self.table = QTableWidget(len(ROWS) + 1, 3)
        self.table.setHorizontalHeaderLabels(["Baseline", "Follow-up", "Change"])
        self.table.setVerticalHeaderLabels([label for _key, label in ROWS] + ["Centroid shift (px)"])
        self.table.setFocusPolicy(Qt.NoFocus)
        right.addWidget(self.table, 1)
        self.trend = TrendChart()  # a lesion's history: area and diameter over the visits, with uncertainty
        right.addWidget(self.trend, 1)
        row.addLayout(right, 2)
        self.setWidget(body)
        for keys, slot in (("B", self.blink), ("Alt+Left", lambda: self.nudge(-1, 0)),
                           ("Alt+Right", lambda: self.nudge(1, 0)), ("Alt+Up", lambda: self.nudge(0, -1)),
                           ("Alt+Down", lambda: self.nudge(0, 1)), ("Alt+Backspace", self.undo_nudge)):
            QShortcut(QKeySequence(keys), self, slot, context=Qt.WindowShortcut)

    def bind(self, followup) -> None:
        """Draw gui.models.followup.FollowUpReview and forward what the reviewer chooses to it: the registration
        mode, the pixel size and the assessment are the model's state (it redoes the follow-up when they change)."""
        self.followup = followup
        followup.running.connect(self.running)
        followup.result_changed.connect(self.show_result)
        followup.settings_changed.connect(self._show_settings)
        self.registration_mode.currentIndexChanged.connect(
            lambda _index: followup.set_mode(self.registration_mode.currentData()))
        self.pixel_size.editingFinished.connect(lambda: followup.set_pixel_size(self.pixel_size.text()))
        self.assessment.textEdited.connect(followup.set_assessment)
        self.history_strip.bind(followup)
        followup.history_changed.connect(self.trend.show_history)
        followup.visit_changed.connect(self._visit_changed)
        self._show_settings()

    def _show_settings(self) -> None:
        f = self.followup
        with QSignalBlocker(self.registration_mode):  # showing the mode is not choosing it again
            self.registration_mode.setCurrentIndex(max(0, self.registration_mode.findData(f.mode)))
        if self.pixel_size.text().strip() != f.pixel_size_text:
            self.pixel_size.setText(f.pixel_size_text)
        if self.assessment.text() != f.assessment:
            self.assessment.setText(f.assessment)

    def running(self) -> None:
        """An alignment was asked for (gui.models.followup.FollowUpReview.running)."""
        if not self.isVisible():
            self.show()
            window = self.parent()
            if isinstance(window, QMainWindow):  # the aligned view gets the screen
                window.resizeDocks([self], [int(window.height() * VIEW_SHARE)], Qt.Orientation.Vertical)
        self.view.setText("Aligning image 2 onto image 1…")

    # --- commands ------------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.mode = mode
        for button in self.mode_buttons.buttons():
            with QSignalBlocker(button):  # showing the mode is not choosing it again
                button.setChecked(button.text().lower() == mode)
        self.curtain.setEnabled(mode == "swipe")
        self._draw()

    def blink(self) -> None:
        """Show the other visit (B): the eye catches what changed."""
        self.showing_followup = not self.showing_followup
        self.set_mode("blink")

    def nudge(self, dx: int, dy: int) -> None:
        if self.result is not None and self.result.aligned is not None:
            self.nudges.append((dx, dy))
            self._draw()

    def undo_nudge(self) -> None:
        if self.nudges:
            self.nudges.pop()
            self._draw()

    # --- display -------------------------------------------------------------------------------------
    def show_result(self, result) -> None:
        self.result, self.nudges = result, []
        if result is None:
            self.view.setPixmap(QPixmap())
            self.view.setText("Align image 2 onto image 1: Model > Follow-up (Ctrl+U)")
            self.headline.setText("")
            self.verdict.setText("")
            self.registration.setText("")
            self.table.clearContents()
            self.export_button.setEnabled(False)
            self.store_button.setEnabled(False)
            return
        self._describe(self.followup.shown() if self.followup is not None else result)
        self.export_button.setEnabled(True)
        self.store_button.setEnabled(dicom_pair(result.images))  # only DICOM visits file into their study
        self._draw()

    def _visit_changed(self) -> None:
        """Another visit of the history stepped to, or another two blinked between."""
        if self.followup is not None and self.followup.shown() is not None:
            self.nudges = []
            self._describe(self.followup.shown())
            self._draw()

    def _describe(self, result) -> None:
        """Headline, verdict, registration and table of one comparison (a history's: the visit stepped to)."""
        history = self.followup.history if self.followup is not None else None
        when = self._interval()
        if history is not None:
            visit = history.facts["visits"][self.followup.visit]
            days = visit["days_since_baseline"]
            when = f"  ·  V{visit['visit']} of {len(history.pictures)}" + ("" if days is None else f", {days} days")
        self.headline.setText(f"<b>{escape(result.changes['change_headline'])}</b>{when}")
        e = result.explanation
        self.verdict.setText(
            "<span style='color:#5f5f5f'>The model explains the baseline against the last visit</span>"
            if e is None else f"<span style='color:#5f5f5f'>The model on the pair: {e.verdict} "
                              f"({escape(e.verdict_reason)})</span>")
        reg = result.registration
        self.registration.setText(
            f"Registration ({reg.mode}{', auto' if reg.chosen_by == 'auto' else ''}): quality {reg.quality:.2f}, "
            f"about {reg.error_px:.1f} px" if reg.ok else f"<b>Not registered</b>: {escape(reg.message)}")
        self._fill_table(result)

    def _interval(self) -> str:
        """'  ·  interval N days' from the case record's two dates, '' when either is unknown."""
        days = self.followup.interval_days() if self.followup is not None else None
        return "" if days is None else f"  ·  interval {days} days"

    def _fill_table(self, result) -> None:
        changes = result.changes
        if not changes.get("comparable", True) or not result.registration.ok:  # unaligned visits: no change stated
            changes = {key: None for key in changes}
        for r, (key, _label) in enumerate(ROWS):
            for c, visit in enumerate(result.measurements):
                value = visit.get(key)
                self.table.setItem(r, c, QTableWidgetItem("–" if value is None else f"{value:g}"))
            change = {"area_px": ("area_change", "area_change_uncertainty", "×"),
                      "diameter_px": ("diameter_change", "diameter_change_uncertainty", "×")}.get(key)
            if change and changes.get(change[0]) is not None:
                text = f"{changes[change[0]]:.2f} {change[2]} ± {changes[change[1]]:.2f}"
            else:
                delta = changes.get(f"{key}_change") if key in ("asymmetry", "border_irregularity", "colours") else None
                text = "" if delta is None else f"{delta:+g}"
            self.table.setItem(r, 2, QTableWidgetItem(text))
        shift = changes.get("centroid_shift_px")
        self.table.setItem(len(ROWS), 2, QTableWidgetItem(
            "–" if shift is None else f"{shift:.1f} ± {changes['centroid_shift_uncertainty_px']:.1f}"))

    def composed(self) -> np.ndarray | None:
        """The picture the view shows now (RGB), outlines not yet drawn."""
        if self.result is None:
            return None
        base, follow, valid = self._visits()
        if follow.shape != base.shape:
            return base if not self.showing_followup else follow
        dx, dy = np.sum(self.nudges, axis=0) if self.nudges else (0, 0)
        follow = np.roll(follow, (int(dy), int(dx)), axis=(0, 1))
        if self.mode == "blink":
            return follow if self.showing_followup else base
        if self.mode == "difference":  # as the report draws it: exposure matched, colour-coded Lab distance
            valid = valid if valid is not None else np.ones(base.shape[:2], bool)
            return difference_image(base, follow, np.roll(valid, (int(dy), int(dx)), axis=(0, 1)))
        cut = int(base.shape[1] * self.curtain.value() / 100)
        return np.concatenate([base[:, :cut], follow[:, cut:]], axis=1)

    def _visits(self) -> tuple:
        """The two pictures the view compares (the baseline and the follow-up, or a history's blink pair), and
        the baseline area both cover (None: all)."""
        history = self.followup.history if self.followup is not None else None
        if history is None:
            follow = self.result.aligned if self.result.aligned is not None else self.result.visits[1]
            return self.result.visits[0], follow, self.result.valid
        first, second = self.followup.blink_pair
        covered = [history.valid[i] for i in (first, second) if history.valid[i] is not None]
        valid = np.logical_and.reduce(covered) if covered else None
        return history.pictures[first], history.pictures[second], valid

    def _aligned(self) -> bool:
        """Both pictures compared are on the baseline's grid."""
        history = self.followup.history if self.followup is not None else None
        if history is None:
            return self.result.aligned is not None
        return all(i == 0 or history.valid[i] is not None for i in self.followup.blink_pair)

    def _outlines(self) -> list:
        history = self.followup.history if self.followup is not None else None
        if history is None:
            return list(self.result.masks)
        return [history.outlines[i] for i in self.followup.blink_pair]

    def _draw(self) -> None:
        picture = self.composed()
        if picture is None:
            return
        image = QImage(np.ascontiguousarray(picture).data, picture.shape[1], picture.shape[0], 3 * picture.shape[1],
                       QImage.Format.Format_RGB888).copy()
        painter = QPainter(image)
        masks = self._outlines()
        if not self._aligned():  # unaligned visits: each outline only on its own picture
            masks[0 if self.mode == "blink" and self.showing_followup else 1] = None
        # the follow-up's outline wide, the baseline's thin over it: where they agree, both stay visible
        for mask, colour, width in reversed(list(zip(masks, OUTLINES, (1, 3), strict=True))):
            if mask is not None:
                painter.setPen(QPen(colour, width))
                ys, xs = np.nonzero(mask & ~_eroded(mask))
                painter.drawPoints([_point(x, y) for x, y in zip(xs, ys, strict=True)])
        if self.mode == "swipe":
            painter.setPen(QPen(QColor("white"), 1, Qt.PenStyle.DashLine))
            x = int(image.width() * self.curtain.value() / 100)
            painter.drawLine(x, 0, x, image.height())
        painter.end()
        self.view.setPixmap(QPixmap.fromImage(image).scaled(self.view.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                            Qt.TransformationMode.SmoothTransformation))
        shown = {"blink": "  ·  showing the " + ("follow-up" if self.showing_followup else "baseline"),
                 "swipe": "  ·  baseline left, follow-up right", "difference": "  ·  Lab distance 0-40, dark = alike"}
        nudged = shown[self.mode] + (f"  ·  nudged {tuple(np.sum(self.nudges, axis=0))} px for viewing"
                                     if self.nudges else "")
        self.legend.setText(LEGEND + nudged)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._draw()


def _eroded(mask: np.ndarray) -> np.ndarray:
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def _point(x, y) -> QPoint:
    return QPoint(int(x), int(y))
