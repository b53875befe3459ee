"""File > Open from PACS: a patient's visits on the clinic's PACS (gui.tasks.pacs_find), two of them chosen in a
list, pulled on the runner (gui.tasks.pacs_pull: progress, cancel, all or nothing) into a temporary folder that is
removed when the app quits, and opened as a pair or as a follow-up (the older visit as image 1, then Ctrl+U's
alignment). Credentials never pass through here: core.pacs reads them from the environment or the OS keyring."""

from __future__ import annotations

import shutil
import tempfile

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from .settings import Key, read
from .tasks import pacs_find, pacs_pull

PROBLEM = "pacs"  # the problem bar's source of every PACS failure


def open_from_pacs(window) -> None:
    """Ask the PACS address (remembered) and the patient's id, then find_visits."""
    url, ok = QInputDialog.getText(window, "Open from PACS", "DICOMweb URL of the PACS:",
                                   text=read(window.settings, Key.PACS_URL, ""))
    if not ok or not url.strip():
        return
    window.settings.setValue(Key.PACS_URL, url.strip())
    patient, ok = QInputDialog.getText(window, "Open from PACS", "Patient id:")
    if ok and patient.strip():
        find_visits(window, url.strip(), patient.strip())


def find_visits(window, url: str, patient_id: str, choose=None) -> None:
    """Search the patient's studies on the runner, let `choose(window, studies)` (default: the visits dialog) pick
    two and how to open them, then pull_and_open."""
    choose = choose or ask_visits
    session = window.session

    def found(studies: list) -> None:
        visits = [study for study in studies if _images(study)]
        if len(visits) < 2:
            session.report(PROBLEM, f"Patient {patient_id} has {len(visits)} visit(s) with images on the PACS; "
                                    "a pair needs two")
            return
        session.withdraw(PROBLEM)
        picked = choose(window, visits)
        if picked:
            pull_and_open(window, url, patient_id, *picked)

    session.runner.submit("pacs-find", pacs_find, url, patient_id, label="Searching the PACS…", on_result=found,
                          on_error=lambda text: session.report(PROBLEM, f"PACS: {text}"))


def pull_and_open(window, url: str, patient_id: str, studies: list, follow_up: bool) -> None:
    """Pull two studies' images and open each study's first image, the older study as image 1; with `follow_up`
    the follow-up dock aligns them once the pair is explained."""
    session = window.session
    folder = tempfile.mkdtemp(prefix="siamese-lens-pacs-")
    # patient images do not outlive the session on this machine
    QCoreApplication.instance().aboutToQuit.connect(lambda: shutil.rmtree(folder, ignore_errors=True))
    ordered = sorted(studies, key=lambda study: (study["date"], study["time"]))

    def pulled(files: dict) -> None:
        session.withdraw(PROBLEM)
        paths = [files[study["study_uid"]][0] for study in ordered]
        if follow_up:
            window.followup_dock.run_when_explained()
        window.load_dropped(paths)

    session.runner.submit("pacs-pull", pacs_pull, url, patient_id, tuple(s["study_uid"] for s in ordered), folder,
                          label="Pulling the visits from the PACS…", on_result=pulled,
                          on_error=lambda text: session.report(PROBLEM, f"PACS: {text}"))


def ask_visits(window, studies: list):
    """The visits dialog: (two studies, open as follow-up?) or None when cancelled."""
    dialog = VisitsDialog(window, studies)
    if dialog.exec() != QDialog.Accepted:
        return None
    return dialog.chosen(), dialog.follow_up


class VisitsDialog(QDialog):
    """The patient's visits with images, newest first; two are chosen and opened as a pair or a follow-up."""

    def __init__(self, parent, studies: list):
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.studies, self.follow_up = sorted(studies, key=lambda s: (s["date"], s["time"]), reverse=True), False
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Visits of {self.studies[0]['patient_name'] or 'the patient'}: choose two"))
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.MultiSelection)
        for study in self.studies:
            parts = [study["date"] or "undated", study["accession"], study["description"],
                     ", ".join(sorted({s["body_part"] for s in study["series"] if s["body_part"]})),
                     f"{_images(study)} image(s)"]
            self.list.addItem(QListWidgetItem("   ".join(part for part in parts if part)))
        for row in range(min(2, self.list.count())):  # the two latest visits, the usual follow-up
            self.list.item(row).setSelected(True)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.pair_button = buttons.addButton("Open as pair", QDialogButtonBox.AcceptRole)
        self.followup_button = buttons.addButton("Open as follow-up", QDialogButtonBox.AcceptRole)
        self.followup_button.clicked.connect(lambda: setattr(self, "follow_up", True))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.itemSelectionChanged.connect(self._allow)
        layout.addWidget(buttons)
        self._allow()

    def chosen(self) -> list:
        return [self.studies[index.row()] for index in self.list.selectedIndexes()]

    def _allow(self) -> None:
        two = len(self.list.selectedIndexes()) == 2
        self.pair_button.setEnabled(two)
        self.followup_button.setEnabled(two)


def _images(study: dict) -> int:
    return sum(1 for series in study["series"] for instance in series["instances"] if instance["image"])

