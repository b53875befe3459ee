"""The column beside the images: the score, the method / colour / device choices, the legend and the note.

The choices are bound both ways to the models they show (the session's method, the layers' colormaps): a
change from a shortcut, a remembered setting or another control shows up here without being re-applied.

The score, choices and legend scroll (on a 768 px screen with both docks open they cannot all show, and squeezed
rows would overlap); the note stays below them, always in view. No label here asks for more width than the
column's minimum: wrapped texts wrap, and an unbreakable word (a model file name) is clipped, never widening the
window.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..jobs.tasks import COLORMAPS, LAYER_TITLES, LAYERS, METHODS
from ..models.layers import LayerStates
from .elided import never_widens
from .layer_controls import Legend, ScorePanel


class NoteEdit(QPlainTextEdit):
    """The reviewer's note. It takes focus only when clicked, so one-letter shortcuts never type into it after a
    dialog closes (Esc, the window's Dismiss command, hands the keyboard back to the review)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.ClickFocus)
        self.setTabChangesFocus(True)


MIN_WIDTH, PREFERRED_WIDTH = 260, 340


class SidePanel(QWidget):
    scroll: QScrollArea  # type: ignore[assignment]  # the column's scroll area; shadows QWidget.scroll(), never called
    method_chosen = Signal(str)
    device_chosen = Signal(str)

    def __init__(self, layers: LayerStates, devices: tuple[tuple[str, str], ...], parent=None):
        super().__init__(parent)
        self.setMinimumWidth(MIN_WIDTH)
        self.setMaximumWidth(380)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 4, 0)  # room beside the scroll bar
        self.score = ScorePanel()
        for label in self.score.findChildren(QLabel):
            if label.wordWrap() and label is not self.score.verdict:  # the verdict is one short word in large type
                never_widens(label)
        self.score.verdict.setVisible(False)  # until there is a result (see show_result)
        column.addWidget(self.score)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow column puts a choice under its label
        self.method_combo, self.device_combo = QComboBox(), QComboBox()
        self.method_combo.addItems(list(METHODS))
        self.method_combo.setToolTip("How the maps are computed (M cycles)")
        for name, value in devices:
            self.device_combo.addItem(name, value)
        self.device_combo.setToolTip("Where the model runs; the status bar shows the device in use")
        form.addRow("Method:", self.method_combo)
        self.colormap_combos: dict[str, QComboBox] = {}
        for name in LAYERS:
            combo = QComboBox()
            combo.addItems(list(COLORMAPS))
            combo.setCurrentText(layers.colormap(name))
            combo.setToolTip(f"Colours of the {LAYER_TITLES[name].lower()} layer")
            combo.currentTextChanged.connect(lambda text, n=name: layers.set_colormap(n, text))
            form.addRow(f"{LAYER_TITLES[name]} colours:", combo)
            self.colormap_combos[name] = combo
        form.addRow("Device:", self.device_combo)
        for combo in (self.method_combo, self.device_combo, *self.colormap_combos.values()):
            combo.installEventFilter(self)  # the wheel scrolls the column; it never changes a choice
            # choices by mouse or shortcut; the keyboard stays with the review
            combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        column.addLayout(form)
        self.legend = Legend(layers)
        for ramp in self.legend.ramps.values():  # a 256 px colour ramp scales down rather than widen the column
            ramp.setMinimumWidth(48)
            ramp.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        column.addWidget(self.legend)
        self._column = column  # add_section puts more (the case record) here, above the stretch
        column.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidget(body)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        # the column's width is the window's
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys stay with the review
        outer.addWidget(self.scroll, 1)
        outer.addWidget(never_widens(QLabel("Reviewer note (printed on the report):")))
        self.note = NoteEdit()
        self.note.setPlaceholderText("Optional note for the exported report (click or Ctrl+N to type, Esc to leave)")
        self.note.setMinimumHeight(56)  # three lines at least, whatever the screen
        self.note.setMaximumHeight(110)
        self.note.setAcceptDrops(False)  # dropped files go to the window, not into the note as text
        outer.addWidget(self.note)
        self.method_combo.currentTextChanged.connect(self.method_chosen)
        self.device_combo.activated.connect(lambda _i: self.device_chosen.emit(self.device_combo.currentData()))
        layers.colormap_changed.connect(self._show_colormap)

    def add_section(self, title: str, widget: QWidget) -> None:
        """A titled section right under the score (above the choices): reached without scrolling far."""
        at = self._column.indexOf(self.score) + 1
        self._column.insertWidget(at, widget)
        self._column.insertWidget(at, QLabel(f"<b>{title}</b>"))

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QComboBox):
            self.scroll.verticalScrollBar().event(event)  # scroll the column as the wheel meant
            return True
        return super().eventFilter(watched, event)

    def sizeHint(self) -> QSize:
        """Room for the score's lines without much wrapping, whatever its texts ask for: the images take the rest."""
        return QSize(PREFERRED_WIDTH, super().sizeHint().height())

    def show_result(self, explained, busy_text: str = "") -> None:
        """The score panel's result; with none, no verdict line at all (a lone dash in 24 pt bold read as a black
        bar): the reason line says what is awaited."""
        self.score.show_result(explained, busy_text)
        self.score.verdict.setVisible(explained is not None)

    def show_method(self, method: str, help_texts: dict | None = None) -> None:
        with QSignalBlocker(self.method_combo):
            self.method_combo.setCurrentText(method)
        for index, name in enumerate(METHODS):
            if help_texts and name in help_texts:  # one line of help per method (core.explain.methods)
                self.method_combo.setItemData(index, help_texts[name], Qt.ItemDataRole.ToolTipRole)

    def show_device(self, requested: str) -> None:
        with QSignalBlocker(self.device_combo):
            self.device_combo.setCurrentIndex(self.device_combo.findData(requested))

    def _show_colormap(self, name: str, colormap: str) -> None:
        with QSignalBlocker(self.colormap_combos[name]):
            self.colormap_combos[name].setCurrentText(colormap)
