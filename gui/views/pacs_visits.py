"""The PACS views (gui.models.pacs.PacsLink): the patient's visits and, beside them, the images of the visit under
the cursor, each with its picture; two visits chosen and an image of each (gui.models.pacs_choice.VisitImages),
opened as a pair or a follow-up (gui.presenters.pacs asks through the window); and the status bar's progress and
Cancel while a transfer runs."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..jobs.tasks import PACS_PREVIEW_SIZE

FETCHING, NO_PICTURE = "fetching its picture…", "no picture: the image could not be fetched or shown"


class VisitsDialog(QDialog):
    """The patient's visits with images, newest first, the two latest ticked; beside them the images of the visit
    under the cursor, the one it is compared by chosen (its first until the reviewer picks another; every choice kept
    while the dialog is open). Keyboard: arrows move through the visits, Space ticks or unticks one, Tab goes to its
    images, where the arrows choose one; Alt+V and Alt+I jump between the lists. A click on a visit shows its images
    and never unticks it. Pictures arrive as PacsLink.preview_ready."""

    def __init__(self, parent, choice, pacs=None):
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.choice, self.follow_up = choice, False
        self._pictures: dict[str, QIcon | None] = {}  # SOP instance uid: its picture, None when it failed
        self._shown = ""  # the study whose images the second list shows
        name = choice.visits[0]["patient_name"] if choice.visits else ""
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Visits of {name or 'patient'} ({choice.patient_id}): tick two, and choose the "
                                "image each is compared by"))
        lists = QGridLayout()
        self.list, self.images = self._list(), self._list()
        self.images_title = QLabel("&Images")
        visits_title = QLabel("&Visits")
        visits_title.setBuddy(self.list)
        self.images_title.setBuddy(self.images)
        lists.addWidget(visits_title, 0, 0)
        lists.addWidget(self.images_title, 0, 1)
        lists.addWidget(self.list, 1, 0)
        lists.addWidget(self.images, 1, 1)
        layout.addLayout(lists)
        for study in choice.visits:
            item = QListWidgetItem(choice.visit_text(study))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            ticked = study["study_uid"] in choice.selected
            item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            item.setToolTip(FETCHING)
            self.list.addItem(item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.pair_button = buttons.addButton("Open as pair", QDialogButtonBox.ButtonRole.AcceptRole)
        self.followup_button = buttons.addButton("Open as follow-up", QDialogButtonBox.ButtonRole.AcceptRole)
        self.followup_button.clicked.connect(lambda: setattr(self, "follow_up", True))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.list.setCurrentRow(0)
        self._show_images(self.list.currentRow())
        self._ticked()
        self.list.itemChanged.connect(self._ticked)
        self.list.currentRowChanged.connect(self._show_images)
        self.images.currentRowChanged.connect(self._choose_image)
        self.resize(1000, 560)
        if pacs is not None:
            pacs.preview_ready.connect(self.show_preview)
            self.finished.connect(lambda _code: pacs.preview_ready.disconnect(self.show_preview))

    @staticmethod
    def _list() -> QListWidget:
        widget = QListWidget()
        widget.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        widget.setIconSize(QSize(PACS_PREVIEW_SIZE, PACS_PREVIEW_SIZE))
        widget.setWordWrap(True)
        return widget

    def show_preview(self, sop_uid: str, image) -> None:
        """An image's picture (a QImage), or None: it could not be fetched or shown, and its rows say so."""
        self._pictures[sop_uid] = None if image is None or image.isNull() else QIcon(QPixmap.fromImage(image))
        for row, study in enumerate(self.choice.visits):
            if self.choice.chosen(study["study_uid"])["sop_uid"] == sop_uid:
                self._draw(self.list.item(row), sop_uid)
        if self._shown:
            for row, shown in enumerate(self.choice.images(self._shown)):
                if shown["sop_uid"] == sop_uid:
                    self._draw(self.images.item(row), sop_uid)

    def chosen(self) -> list:
        """The chosen image of each ticked visit, the older visit first."""
        return self.choice.picked()

    def _draw(self, item: QListWidgetItem, sop_uid: str) -> None:
        """A row's picture, or its tooltip saying why there is none yet or at all."""
        picture = self._pictures.get(sop_uid)
        item.setIcon(picture if picture is not None else QIcon())
        item.setToolTip("" if picture is not None else NO_PICTURE if sop_uid in self._pictures else FETCHING)

    def _show_images(self, row: int) -> None:
        """The images of the visit under the cursor, the one it is compared by chosen."""
        if row < 0:
            return
        study = self.choice.visits[row]
        self._shown = uid = study["study_uid"]
        self.images_title.setText(f"&Images of the visit of {self.choice.visit_date(study)}")
        self.images.blockSignals(True)
        self.images.clear()
        for image in self.choice.look_at(uid):
            item = QListWidgetItem(self.choice.image_text(image))
            self.images.addItem(item)
            self._draw(item, image["sop_uid"])
        self.images.setCurrentRow(self.choice.chosen(uid)["index"] - 1)
        self.images.blockSignals(False)

    def _choose_image(self, row: int) -> None:
        if row < 0 or not self._shown:
            return
        self.choice.choose(self._shown, row + 1)
        visit = next(index for index, study in enumerate(self.choice.visits) if study["study_uid"] == self._shown)
        item = self.list.item(visit)
        self.list.blockSignals(True)  # a new text or picture is no tick
        item.setText(self.choice.visit_text(self.choice.visits[visit]))
        self._draw(item, self.choice.chosen(self._shown)["sop_uid"])
        self.list.blockSignals(False)

    def _ticked(self, _item=None) -> None:
        self.choice.select(study["study_uid"] for row, study in enumerate(self.choice.visits)
                           if self.list.item(row).checkState() == Qt.CheckState.Checked)
        self.pair_button.setEnabled(self.choice.ready())
        self.followup_button.setEnabled(self.choice.ready())


class SearchDialog(QDialog):
    """File > Open from PACS's first question: the address and the patient id in one form, prefilled with the last
    ones, the patient id selected (a new patient is typed over it; the same one is confirmed with Return)."""

    def __init__(self, parent, url: str, patient_id: str):
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        form = QFormLayout(self)
        self.url, self.patient = QLineEdit(url), QLineEdit(patient_id)
        self.url.setToolTip("DICOMweb URL of the PACS; credentials never go here (docs/pacs.md)")
        form.addRow("PACS &address:", self.url)
        form.addRow("&Patient id:", self.patient)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        (self.patient if url else self.url).setFocus()
        self.patient.selectAll()
        self.resize(max(self.sizeHint().width(), 480), self.sizeHint().height())


def ask_pacs_search(parent, url: str, patient_id: str) -> tuple[str, str] | None:
    dialog = SearchDialog(parent, url, patient_id)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.url.text(), dialog.patient.text()


def choose_visits(parent, choice, pacs) -> bool | None:
    """Open as a follow-up? once two visits and an image of each are chosen in `choice`; None when cancelled."""
    dialog = VisitsDialog(parent, choice, pacs)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.follow_up


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
