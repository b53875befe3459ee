"""The PACS views (gui.models.pacs.PacsLink): the patient's visits as a list with each visit's picture, two of them
chosen and opened as a pair or a follow-up (gui.presenters.pacs asks through the window), and the status bar's
progress and Cancel while a transfer runs."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..jobs.tasks import PACS_PREVIEW_SIZE
from ..models.pacs import visit_images


class VisitsDialog(QDialog):
    """The patient's visits with images, newest first (as given), each with its picture once it arrives
    (PacsLink.preview_ready); the two latest are chosen, as a follow-up usually wants."""

    def __init__(self, parent, patient_id: str, visits: list, pacs=None):
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.visits, self.follow_up = list(visits), False
        layout = QVBoxLayout(self)
        name = visits[0]["patient_name"] if visits else ""
        layout.addWidget(QLabel(f"Visits of {name or 'patient'} ({patient_id}): choose two"))
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.list.setIconSize(QSize(PACS_PREVIEW_SIZE, PACS_PREVIEW_SIZE))
        self._rows = {}
        for row, study in enumerate(self.visits):
            parts = [study["date"] or "undated", study["accession"], study["description"],
                     ", ".join(sorted({s["body_part"] for s in study["series"] if s["body_part"]})),
                     f"{visit_images(study)} image(s)"]
            item = QListWidgetItem("   ".join(part for part in parts if part))
            item.setToolTip("fetching its picture…")
            self.list.addItem(item)
            self._rows[study["study_uid"]] = row
        for row in range(min(2, self.list.count())):
            self.list.item(row).setSelected(True)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.pair_button = buttons.addButton("Open as pair", QDialogButtonBox.ButtonRole.AcceptRole)
        self.followup_button = buttons.addButton("Open as follow-up", QDialogButtonBox.ButtonRole.AcceptRole)
        self.followup_button.clicked.connect(lambda: setattr(self, "follow_up", True))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.itemSelectionChanged.connect(self._allow)
        layout.addWidget(buttons)
        self._allow()
        if pacs is not None:
            pacs.preview_ready.connect(self.show_preview)
            self.finished.connect(lambda _code: pacs.preview_ready.disconnect(self.show_preview))

    def show_preview(self, study_uid: str, image) -> None:
        """A visit's picture (a QImage), or None: it could not be fetched or shown, and the row says so."""
        row = self._rows.get(study_uid)
        if row is None:
            return
        item = self.list.item(row)
        if image is None or image.isNull():
            item.setToolTip("no picture: its first image could not be fetched or shown")
            return
        item.setIcon(QIcon(QPixmap.fromImage(image)))
        item.setToolTip("")

    def chosen(self) -> list:
        return [self.visits[index.row()] for index in self.list.selectedIndexes()]

    def _allow(self) -> None:
        two = len(self.list.selectedIndexes()) == 2
        self.pair_button.setEnabled(two)
        self.followup_button.setEnabled(two)


def choose_visits(parent, patient_id: str, visits: list, pacs) -> tuple[list, bool] | None:
    """(two visits, as a follow-up?) from the visits dialog, or None when cancelled."""
    dialog = VisitsDialog(parent, patient_id, visits, pacs)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.chosen(), dialog.follow_up


class PacsStatus(QWidget):
    """For the status bar: how far the running PACS transfer is, and Cancel (PacsLink.cancel)."""

    def __init__(self, pacs, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(120)
        self.bar.setFormat("PACS %v / %m")
        self.bar.setRange(0, 0)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the PACS transfer: a pull leaves no file")
        self.cancel_button.clicked.connect(pacs.cancel)
        row.addWidget(self.bar)
        row.addWidget(self.cancel_button)
        pacs.busy_changed.connect(self.show_busy)
        pacs.progress.connect(self.show_progress)
        self.hide()

    def show_busy(self, busy: bool) -> None:
        self.bar.setRange(0, 0)  # until the transfer says how far it is
        self.setVisible(busy)

    def show_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
