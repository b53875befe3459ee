"""Follow-up review (core.followup.visits): image 2 as a later visit of image 1's lesion, aligned onto it, compared and
measured. A dock with one aligned view in three modes (blink, swipe curtain, difference) with both visits'
outlines, the measurements of each visit and their changes, and the verdict of the aligned pair. It is the
`FollowupView` of gui.presenters.followup.FollowupPresenter, which decides what it says and which pictures it
compares; the reviewer's choices leave as signals.

The reviewer's manual nudge (Alt+arrows, one pixel) moves the aligned follow-up over the baseline for the eye, with
undo (Alt+Backspace); it does not change the measured registration, and the dock says so while a nudge applies.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
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

from ..jobs.tasks import difference_image
from ..models.followup import REGISTRATION_MODES
from .actions import FOLLOWUP_KEYS
from .history_strip import HistoryStrip, TrendChart

MODES = ("blink", "swipe", "difference")
OUTLINES = (QColor(0, 200, 255), QColor(255, 220, 0))  # baseline cyan, follow-up yellow: as the report draws them
LEGEND = ("<span style='color:#00c8ff'>■</span> baseline outline   <span style='color:#ffdc00'>■</span> follow-up "
          "outline   ·   B: blink · V: next view")
VIEW_SHARE = 0.62  # of the window's height given to the dock when it opens: the aligned view gets over half of it
PROMPT = "Align image 2 onto image 1: Model > Follow-up (Ctrl+U)"


class FollowUpDock(QDockWidget):
    """The follow-up's FollowupView: draws what the presenter gives; the reviewer's choices only ask (signals)."""

    export_requested = Signal()
    store_requested = Signal()  # Store to PACS (gui.presenters.pacs.PacsCommands.store_followup)
    registration_chosen = Signal(str)  # a registration mode (gui.models.followup.REGISTRATION_MODES)
    pixel_size_entered = Signal(str)  # as typed
    assessment_typed = Signal(str)

    def __init__(self, parent=None):
        super().__init__("Follow-up", parent)
        self.setObjectName("followup-dock")
        self.result, self.mode, self.showing_followup = None, "swipe", False
        self.pictures = None  # gui.presenters.followup.Pictures of the comparison shown
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
            button.setToolTip("V: the next view (blink, swipe, difference); B blinks")
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
        self.view = QLabel(PROMPT)
        self.view.setAlignment(Qt.AlignCenter)
        self.view.setMinimumSize(200, 160)
        self.view.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)  # scaled to the dock, never widens it
        left.addWidget(self.view, 1)
        self.legend = QLabel(LEGEND)
        left.addWidget(self.legend)
        row.addLayout(left, 3)
        right = QVBoxLayout()
        self.headline = QLabel()  # what changed leads; the model's verdict follows, in neutral grey
        self.verdict = QLabel()
        self.maps = QLabel()  # the report's maps: refined and checked as the main view's, said as sure as the check
        for label in (self.headline, self.verdict, self.maps):
            # the presenter's words are escaped HTML: read as plain text when they carry no tag, "maps' mean"
            # showed as "maps&#x27; mean"
            label.setTextFormat(Qt.RichText)
            label.setWordWrap(True)
            right.addWidget(label)
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
        # where the mm figures' scale came from, beside the field that may override it: shown while the result is
        self.scale = QLabel()
        self.scale.setTextFormat(Qt.PlainText)
        self.scale.setWordWrap(True)
        right.addWidget(self.scale)
        self.assessment = QLineEdit()
        self.assessment.setPlaceholderText("reviewer's assessment (printed on the report)")
        right.addWidget(self.assessment)
        self.registration = QLabel()
        self.registration.setWordWrap(True)
        right.addWidget(self.registration)
        self.export_button = QPushButton("Export follow-up report…")
        self.export_button.setToolTip("File > Export follow-up report (Ctrl+R)")
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
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Baseline", "Follow-up", "Change"])
        self.table.setFocusPolicy(Qt.NoFocus)
        # the figures as wide as they are, the change given the rest: beside the full-height worklist on a 1366 px
        # screen, three fixed 100 px columns put the change past the panel's edge
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        right.addWidget(self.table, 1)
        self.trend = TrendChart()  # a lesion's history: area and diameter over the visits, with uncertainty
        right.addWidget(self.trend, 1)
        row.addLayout(right, 2)
        self.setWidget(body)
        steps = {"Alt+Left": (-1, 0), "Alt+Right": (1, 0), "Alt+Up": (0, -1), "Alt+Down": (0, 1)}
        slots = {"blink": lambda _keys: self.blink, "next_mode": lambda _keys: self.next_mode,
                 "undo_nudge": lambda _keys: self.undo_nudge,
                 "nudge": lambda keys: lambda: self.nudge(*steps[keys])}
        for name, shortcuts, _words in FOLLOWUP_KEYS:
            for keys in shortcuts:
                QShortcut(QKeySequence(keys), self, slots[name](keys), context=Qt.WindowShortcut)
        self.registration_mode.currentIndexChanged.connect(
            lambda _index: self.registration_chosen.emit(self.registration_mode.currentData()))
        self.pixel_size.editingFinished.connect(lambda: self.pixel_size_entered.emit(self.pixel_size.text()))
        self.assessment.textEdited.connect(self.assessment_typed)

    def show_settings(self, mode: str, pixel_size: str, assessment: str) -> None:
        with QSignalBlocker(self.registration_mode):  # showing the mode is not choosing it again
            self.registration_mode.setCurrentIndex(max(0, self.registration_mode.findData(mode)))
        if self.pixel_size.text().strip() != pixel_size:
            self.pixel_size.setText(pixel_size)
        if self.assessment.text() != assessment:
            self.assessment.setText(assessment)

    def show_running(self) -> None:
        if not self.isVisible():
            self.show()
            self.raise_()  # in front of a panel it is tabbed with
            window = self.parent()
            if isinstance(window, QMainWindow):  # the aligned view gets the screen
                window.resizeDocks([self], [int(window.height() * VIEW_SHARE)], Qt.Orientation.Vertical)
        self.view.setText("Aligning image 2 onto image 1…")

    def show_maps(self, text: str) -> None:
        self.maps.setText(text)

    def show_outputs(self, export: bool, store: bool) -> None:
        self.export_button.setEnabled(export)
        self.store_button.setEnabled(store)

    def show_history(self, shown) -> None:
        self.history_strip.show_history(shown)
        self.trend.show_history(shown)

    def show_visit(self, checked: tuple[bool, ...], blink_pair: tuple[int, int], previous: bool,
                   following: bool) -> None:
        self.history_strip.show_visit(checked, blink_pair, previous, following)

    # --- commands ------------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.mode = mode
        for button in self.mode_buttons.buttons():
            with QSignalBlocker(button):  # showing the mode is not choosing it again
                button.setChecked(button.text().lower() == mode)
        self.curtain.setEnabled(mode == "swipe")
        self._draw()

    def next_mode(self) -> None:
        """The next view (V): blink, swipe, difference, around."""
        self.set_mode(MODES[(MODES.index(self.mode) + 1) % len(MODES)])

    def blink(self) -> None:
        """Show the other visit (B): the eye catches what changed."""
        self.showing_followup = not self.showing_followup
        self.set_mode("blink")

    def nudge(self, dx: int, dy: int) -> None:
        if self.pictures is not None and self.pictures.aligned:
            self.nudges.append((dx, dy))
            self._draw()

    def undo_nudge(self) -> None:
        if self.nudges:
            self.nudges.pop()
            self._draw()

    # --- display -------------------------------------------------------------------------------------
    def show_comparison(self, result, comparison) -> None:
        self.result, self.nudges = result, []
        self.pictures = comparison.pictures if comparison is not None else None
        if comparison is None:
            self.view.setPixmap(QPixmap())
            self.view.setText(PROMPT)
            for label in (self.headline, self.verdict, self.registration, self.scale):
                label.setText("")
            self.table.clearContents()
            return
        self.headline.setText(comparison.headline)
        self.verdict.setText(comparison.verdict)
        self.registration.setText(comparison.registration)
        self.scale.setText(comparison.scale)
        self.table.setRowCount(len(comparison.table))
        self.table.setVerticalHeaderLabels([row[0] for row in comparison.table])
        for r, row in enumerate(comparison.table):
            for c, text in enumerate(row[1:]):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self._draw()

    def composed(self) -> np.ndarray | None:
        """The picture the view shows now (RGB), outlines not yet drawn."""
        if self.pictures is None:
            return None
        base, follow, valid = self.pictures.first, self.pictures.second, self.pictures.valid
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

    def _draw(self) -> None:
        picture = self.composed()
        if picture is None:
            return
        image = QImage(np.ascontiguousarray(picture).data, picture.shape[1], picture.shape[0], 3 * picture.shape[1],
                       QImage.Format.Format_RGB888).copy()
        painter = QPainter(image)
        masks = list(self.pictures.outlines)
        if not self.pictures.aligned:  # unaligned visits: each outline only on its own picture
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
