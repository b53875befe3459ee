"""The workstation's traffic with the clinic's PACS, without widgets (gui.jobs.tasks over core.pacs): a patient's
visits found, each visit's picture fetched for the list, two visits pulled into a temporary folder (removed on
close) and opened as a pair or a follow-up, and a pair's or a follow-up's DICOM report and SR stored into the
source study. Every transfer runs on the runner with progress; `cancel` stops it (a cancelled pull writes
nothing); every failure is one line in Problems under PROBLEM. Credentials never pass through here: core.pacs reads
them from the environment or the OS keyring (docs/pacs.md); only the address is remembered (Key.PACS_URL)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Signal

from ..jobs.tasks import ExportRequest, pacs_find, pacs_preview, pacs_pull, store_followup, store_pair
from .settings import Key, read

PROBLEM = "pacs"  # Problems' source of every PACS failure
FIND, PULL, STORE = "pacs-find", "pacs-pull", "pacs-store"  # the transfers `cancel` stops (previews: drop_previews)


def visit_images(study: dict) -> int:
    """How many images a visit holds on the PACS (instances with pixels)."""
    return sum(1 for series in study["series"] for instance in series["instances"] if instance["image"])


class PacsLink(QObject):
    visits_found = Signal(str, list)  # patient id, the visits with images (newest first); at least two
    preview_ready = Signal(str, object)  # study uid, its picture (a QImage) or None when it cannot be shown
    busy_changed = Signal(bool)  # a transfer runs (find, pull or store): the window offers Cancel
    progress = Signal(int, int)  # done, total of the running transfer

    def __init__(self, session, followup, problems, settings):
        super().__init__()
        self.session, self.followup, self.problems, self.settings = session, followup, problems, settings
        self.runner = session.runner
        self.patient_id = ""
        self._folders: list[str] = []  # pulled visits: patient images do not outlive the session on this machine
        self._previews: list[str] = []
        self._running: set[str] = set()
        self.runner.progress.connect(self._progress)

    # --- the address ------------------------------------------------------------------------------------
    def url(self) -> str:
        return read(self.settings, Key.PACS_URL, "")

    def remember_url(self, url: str) -> bool:
        """Keep the address for the next transfer; False, with a problem and nothing kept, when it carries a user
        or password (the settings file is plain text: credentials never reach it)."""
        url = url.strip()
        parts = urlsplit(url)
        if "@" in parts.netloc:
            self.problems.report(PROBLEM, f"{parts.scheme}://{parts.hostname or '?'}: credentials do not belong in the "
                                          "PACS address; set them in the environment or the OS keyring "
                                          "(docs/pacs.md)")
            return False
        self.settings.setValue(Key.PACS_URL, url)
        return True

    # --- open from the PACS ------------------------------------------------------------------------------
    def find(self, patient_id: str) -> None:
        """Search the patient's visits; visits_found when at least two have images, else a problem."""
        patient_id = patient_id.strip()

        def found(studies: list) -> None:
            visits = sorted((s for s in studies if visit_images(s)), key=lambda s: (s["date"], s["time"]),
                            reverse=True)
            if len(visits) < 2:
                self.problems.report(PROBLEM, f"Patient {patient_id} has {len(visits)} visit(s) with images on "
                                              "the PACS; a pair needs two")
                return
            self.problems.clear(PROBLEM)
            self.patient_id = patient_id
            self.visits_found.emit(patient_id, visits)

        self._submit(FIND, pacs_find, self.url(), patient_id, label="Searching the PACS…", on_result=found)

    def fetch_previews(self, visits: list) -> None:
        """Each visit's picture, one job each (its first image, at most 96 pixels a side), for the visits list."""
        self.drop_previews()
        for study in visits:
            uid = study["study_uid"]
            key = f"pacs-preview-{uid}"
            self._previews.append(key)
            self.runner.submit(key, pacs_preview, self.url(), self.patient_id, study,
                               label="Fetching the visits' pictures…",
                               on_result=lambda image, uid=uid: self.preview_ready.emit(uid, image),
                               on_error=lambda _text, uid=uid: self.preview_ready.emit(uid, None))

    def drop_previews(self) -> None:
        """The visits list closed: previews still queued are not fetched."""
        for key in self._previews:
            self.runner.cancel(key)
        self._previews.clear()

    def open_visits(self, visits: list, follow_up: bool) -> None:
        """Pull two visits' images and open each visit's first image, the older visit as image 1; as a follow-up,
        the pair is aligned once explained."""
        self.drop_previews()
        ordered = sorted(visits, key=lambda study: (study["date"], study["time"]))
        folder = tempfile.mkdtemp(prefix="siamese-lens-pacs-")
        self._folders.append(folder)

        def pulled(files: dict) -> None:
            self.problems.clear(PROBLEM)
            if follow_up:
                self.followup.align_when_explained()
            self.session.open_paths([files[study["study_uid"]][0] for study in ordered])

        self._submit(PULL, pacs_pull, self.url(), self.patient_id, tuple(s["study_uid"] for s in ordered), folder,
                     label="Pulling the visits from the PACS…", on_result=pulled)

    # --- store reports --------------------------------------------------------------------------------
    def store_pair(self, request: ExportRequest, sr: str) -> None:
        """The pair's DICOM report (request.path) and SR written, then stored into image 1's study."""
        self._submit(STORE, store_pair, self.url(), request, sr, label="Storing the report on the PACS…",
                     on_result=self._stored)

    def store_followup(self, report: str, sr: str, result, record, note: str, overwrite: bool) -> None:
        """The follow-up's DICOM report and SR written, then stored into the follow-up visit's study."""
        self._submit(STORE, store_followup, self.url(), report, sr, result, record, note, overwrite,
                     label="Storing the follow-up on the PACS…", on_result=self._stored)

    # --- any transfer ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the running transfer: a pull leaves no file; a store stops if it has not begun sending (one that has
        may still reach the PACS, and the status line says so)."""
        if not self._running:
            return
        storing = STORE in self._running
        for key in list(self._running):
            self.runner.cancel(key)
        self._running.clear()
        self.busy_changed.emit(False)
        # A store already sending cannot be called back: its answer is dropped, but the PACS may keep the files.
        self.session.info.emit("PACS transfer cancelled" + ("; a store already under way may still reach the PACS "
                                                             "(check the study there)" if storing else ""))

    def close(self) -> None:
        """The app quits: the pulled visits go with it."""
        self.drop_previews()
        for folder in self._folders:
            shutil.rmtree(folder, ignore_errors=True)
        self._folders.clear()

    def _submit(self, key: str, fn, *args, label: str, on_result) -> None:
        if not self.url():
            self.problems.report(PROBLEM, "PACS: no address given (File > Open from PACS asks for it)")
            return
        self._running.add(key)
        self.busy_changed.emit(True)

        def done(callback, payload) -> None:
            self._running.discard(key)
            if not self._running:
                self.busy_changed.emit(False)
            callback(payload)

        self.runner.submit(key, fn, *args, label=label, on_result=lambda result: done(on_result, result),
                           on_error=lambda text: done(self._failed, text))

    def _failed(self, text: str) -> None:
        self.problems.report(PROBLEM, f"PACS: {text}")

    def _stored(self, paths) -> None:
        self.problems.clear(PROBLEM)
        self.session.info.emit(f"Stored to PACS: {', '.join(Path(p).name for p in paths)}")

    def _progress(self, key, done: int, total: int) -> None:
        if key in self._running:
            self.progress.emit(done, total)
