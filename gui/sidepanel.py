"""The column beside the images: the score, the method / colour / device choices, the legend and the note.

The choices are bound both ways to the models they show (the session's method, the layers' colormaps): a
change from a shortcut, a remembered setting or another control shows up here without being re-applied.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from .layers import LayerStates
from .panels import Legend, ScorePanel
from .tasks import COLORMAPS, LAYER_TITLES, LAYERS, METHODS


class NoteEdit(QPlainTextEdit):
    """The reviewer's note. It takes focus only when clicked, so one-letter shortcuts never type into it after a
    dialog closes (Esc, the window's Dismiss command, hands the keyboard back to the review)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.ClickFocus)
        self.setTabChangesFocus(True)


class SidePanel(QWidget):
    method_chosen = Signal(str)
    device_chosen = Signal(str)

    def __init__(self, layers: LayerStates, devices: tuple[tuple[str, str], ...], parent=None):
        super().__init__(parent)
        self.setMinimumWidth(260)
        self.setMaximumWidth(380)
        column = QVBoxLayout(self)
        self.score = ScorePanel()
        column.addWidget(self.score)
        form = QFormLayout()
        self.method_combo, self.device_combo = QComboBox(), QComboBox()
        self.method_combo.addItems(list(METHODS))
        self.method_combo.setToolTip("How the maps are computed (M cycles)")
        for label, value in devices:
            self.device_combo.addItem(label, value)
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
            combo.setFocusPolicy(Qt.NoFocus)  # choices by mouse or shortcut; the keyboard stays with the review
        column.addLayout(form)
        self.legend = Legend(layers)
        column.addWidget(self.legend)
        column.addWidget(QLabel("Reviewer note (printed on the report):"))
        self.note = NoteEdit()
        self.note.setPlaceholderText("Optional note for the exported report (click to type, Esc to leave)")
        self.note.setMaximumHeight(110)
        self.note.setAcceptDrops(False)  # dropped files go to the window, not into the note as text
        column.addWidget(self.note)
        column.addStretch(1)
        self.method_combo.currentTextChanged.connect(self.method_chosen)
        self.device_combo.activated.connect(lambda _i: self.device_chosen.emit(self.device_combo.currentData()))
        layers.colormap_changed.connect(self._show_colormap)

    def show_method(self, method: str, help_texts: dict | None = None) -> None:
        with QSignalBlocker(self.method_combo):
            self.method_combo.setCurrentText(method)
        for index, name in enumerate(METHODS):
            if help_texts and name in help_texts:  # one line of help per method (core.methods)
                self.method_combo.setItemData(index, help_texts[name], Qt.ToolTipRole)

    def show_device(self, requested: str) -> None:
        with QSignalBlocker(self.device_combo):
            self.device_combo.setCurrentIndex(self.device_combo.findData(requested))

    def _show_colormap(self, name: str, colormap: str) -> None:
        with QSignalBlocker(self.colormap_combos[name]):
            self.colormap_combos[name].setCurrentText(colormap)
