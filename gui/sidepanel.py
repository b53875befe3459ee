"""The column beside the images: the score, method / colormap / device choices, the legend and the note."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from .panels import Legend, ScorePanel


class SidePanel(QWidget):
    def __init__(self, devices: tuple[tuple[str, str], ...], parent=None):
        super().__init__(parent)
        self.setMinimumWidth(260)
        self.setMaximumWidth(380)
        column = QVBoxLayout(self)
        self.score = ScorePanel()
        column.addWidget(self.score)
        form = QFormLayout()
        self.method_combo, self.colormap_combo, self.device_combo = QComboBox(), QComboBox(), QComboBox()
        for label, value in devices:
            self.device_combo.addItem(label, value)
        self.method_combo.setToolTip("How the maps are computed (M cycles)")
        self.device_combo.setToolTip("Where the model runs; the status bar shows the device in use")
        form.addRow("Method:", self.method_combo)
        form.addRow("Colormap:", self.colormap_combo)
        form.addRow("Device:", self.device_combo)
        column.addLayout(form)
        self.legend = Legend()
        column.addWidget(self.legend)
        column.addWidget(QLabel("Reviewer note (printed on the report):"))
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("Optional note for the exported report")
        self.note.setMaximumHeight(110)
        self.note.setAcceptDrops(False)  # dropped files go to the window, not into the note as text
        column.addWidget(self.note)
        column.addStretch(1)
