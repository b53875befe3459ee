"""The reviewer's commands with the clinic's PACS and DICOM outputs: File > Open from PACS (address and patient id,
the last ones offered; two visits and an image of each chosen in a list with their pictures -> a pair or a
follow-up), File > Store report to PACS and File > Export SR for the pair, and the follow-up dock's Store to PACS
(to the address remembered). A presenter over `PacsView` (tests drive it with an autospec'd view); the transfers
are gui.models.pacs.PacsLink's, on the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..jobs.tasks import dicom_pair
from ..models.pacs import PROBLEM, PacsLink
from ..models.pacs_choice import VisitImages
from ..models.problems import Problems

NOT_DICOM = ("needs two DICOM images of one patient (the files go into their study); open them from the PACS or "
             "as .dcm files")


class PacsView(Protocol):
    """What the PACS commands ask of the window. The ask_* methods and choose_visits return None on cancel."""

    def ask_pacs_url(self, current: str) -> str | None: ...

    def ask_pacs_search(self, url: str, patient_id: str) -> tuple[str, str] | None:
        """(address, patient id) in one question, each prefilled with the last: the reviewer only confirms."""

    def choose_visits(self, choice: VisitImages) -> bool | None:
        """Let the reviewer choose two visits and an image of each in `choice` (its pictures arriving meanwhile);
        open as a follow-up? None on cancel."""

    def ask_report_path(self, suggested: Path) -> tuple[str, bool] | None:
        """(path, overwrite), the reviewer having agreed to replace an existing report."""

    def note_text(self) -> str: ...

    def refocus(self) -> None:
        """Give the keyboard back to the review (its one-letter shortcuts) after a dialog."""


class PacsCommands:
    def __init__(self, view: PacsView, *, pacs: PacsLink, session, followup, layers, case_record, problems: Problems,
                 report_folder, reviewer_verdict):
        self.view, self.pacs, self.session, self.followup = view, pacs, session, followup
        self.problems = problems  # the app's one: what the problem bar shows
        self.layers, self.case_record = layers, case_record
        self.report_folder, self.reviewer_verdict = report_folder, reviewer_verdict  # Commands' callables
        # the last patient searched, offered again for this session only: a patient id is never written to settings
        self._patient = ""
        pacs.visits_found.connect(self._choose)

    def handlers(self) -> dict:
        """Handlers by gui.views.actions command key."""
        return {"open_pacs": self.open_from_pacs, "store_pacs": self.store_pair, "export_sr": self.export_sr}

    def open_from_pacs(self) -> None:
        asked = self.view.ask_pacs_search(self.pacs.url(), self._patient)
        self.view.refocus()
        url, patient = (part.strip() for part in asked) if asked else ("", "")
        if patient:
            self._patient = patient
        if url and patient and self.pacs.remember_url(url):
            self.pacs.find(patient)

    def _choose(self, patient_id: str, visits: list) -> None:
        choice = VisitImages(patient_id, visits, self.pacs.fetch_previews)
        self.pacs.fetch_previews([choice.chosen(visit["study_uid"]) for visit in visits])  # each row's picture
        follow_up = self.view.choose_visits(choice)
        self.view.refocus()
        if follow_up is None or not choice.ready():
            self.pacs.drop_previews()
            return
        self.pacs.open_images(choice.picked(), follow_up)

    def export_sr(self) -> None:
        explained = self._dicom_pair("export")
        if explained is None:
            return
        chosen = self._dcm_path(self._stem(explained) + "-sr.dcm")
        if chosen:
            self.session.export_sr(*chosen)

    def store_pair(self) -> None:
        """The pair's DICOM report and SR, as the pair is shown, into image 1's study."""
        explained = self._dicom_pair(PROBLEM)
        if explained is None or not self._ask_url():
            return
        chosen = self._dcm_path(self._stem(explained) + ".dcm")
        if not chosen:
            return
        request = self.session.export_request(chosen[0], self.layers.colormaps, self.layers.shown(),
                                              self.view.note_text().strip(), chosen[1], self.case_record.record,
                                              self.reviewer_verdict())
        if request is not None:
            self.pacs.store_pair(request, _sr_beside(chosen[0]))

    def store_followup(self) -> None:
        """The follow-up's DICOM report and SR into the follow-up visit's study."""
        result = self.followup.result
        if result is None:
            self.problems.report(PROBLEM, "Nothing to store yet: align the pair first (Ctrl+U)")
            return
        if not dicom_pair(result.images):
            self.problems.report(PROBLEM, f"Store to PACS {NOT_DICOM}")
            return
        if self.case_record.blocks_report(self.problems, PROBLEM) or not self._ask_url():
            return
        second = result.images[1].path
        start = Path(second).stem if second else "visit"
        chosen = self._dcm_path(start + "-followup.dcm")
        if chosen:
            self.pacs.store_followup(chosen[0], _sr_beside(chosen[0]), result, self.case_record.record,
                                     self.view.note_text().strip(), chosen[1], self.followup.maps)

    def _dicom_pair(self, source: str):
        """The explained pair when its report can file (DICOM images of one patient, no refused record field)."""
        explained = self.session.explained
        if explained is None:
            self.problems.report(source, "Nothing to export yet: load and explain a pair first")
            return None
        if not dicom_pair(explained.images):
            self.problems.report(source, f"{'Store to PACS' if source == PROBLEM else 'A DICOM SR'} {NOT_DICOM}")
            return None
        return None if self.case_record.blocks_report(self.problems, source) else explained

    def _ask_url(self) -> bool:
        """The PACS to store to: the remembered one (confirmed when it was given, shown when the store is done),
        else asked."""
        if self.pacs.url():
            return True
        url = self.view.ask_pacs_url("")
        self.view.refocus()
        return bool(url and url.strip() and self.pacs.remember_url(url))

    def _dcm_path(self, name: str) -> tuple[str, bool] | None:
        chosen = self.view.ask_report_path(self.report_folder() / name)
        self.view.refocus()
        if not chosen:
            return None
        path = chosen[0] if chosen[0].lower().endswith(".dcm") else str(Path(chosen[0]).with_suffix(".dcm"))
        return path, chosen[1]

    @staticmethod
    def _stem(explained) -> str:
        return "report_" + "_vs_".join(Path(img.path).stem if img.path else "pasted" for img in explained.images)


def _sr_beside(report: str) -> str:
    """The SR's name beside its report: NAME-sr.dcm."""
    return str(Path(report).with_name(Path(report).stem + "-sr.dcm"))
