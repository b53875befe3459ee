"""The workstation's traffic with the clinic's PACS, without widgets (gui.jobs.tasks over core.pacs): a patient's
visits found, their images' pictures fetched for the list, the chosen image of two visits (gui.models.pacs_choice)
pulled into a temporary folder (removed on close) and opened as a pair or a follow-up, and a pair's or a follow-up's
DICOM report and SR stored into the source study. Every transfer runs on the runner with progress; `cancel` stops it
(a cancelled pull writes nothing); every failure is one line in Problems under PROBLEM. Credentials never pass
through here: core.pacs reads them from the environment or the OS keyring (docs/pacs.md); only the address is
remembered (Key.PACS_URL)."""

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


class PacsLink(QObject):
    visits_found = Signal(str, list)  # patient id, the visits with images (newest first); at least two
    preview_ready = Signal(str, object)  # SOP instance uid, its picture (a QImage) or None when it cannot be shown
    busy_changed = Signal(bool)  # a transfer runs (find, pull or store): the window offers Cancel
    progress = Signal(int, int)  # done, total of the running transfer

    def __init__(self, session, followup, problems, settings):
        super().__init__()
        self.session, self.followup, self.problems, self.settings = session, followup, problems, settings
        self.runner = session.runner
        self.patient_id = ""
        self._folders: list[str] = []  # pulled visits: patient images do not outlive the session on this machine
        self._previews: dict[str, str] = {}  # SOP instance uid: its picture's job, asked for once per list
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
            visits = sorted((s for s in studies if s["images"]), key=lambda s: (s["date"], s["time"]),
                            reverse=True)
            if len(visits) < 2:
                self.problems.report(PROBLEM, f"Patient {patient_id} has {len(visits)} visit(s) with images on "
                                              "the PACS; a pair needs two")
                return
            self.problems.clear(PROBLEM)
            self.patient_id = patient_id
            self.visits_found.emit(patient_id, visits)

        self._submit(FIND, pacs_find, self.url(), patient_id, label="Searching the PACS…", on_result=found)

    def fetch_previews(self, images: list) -> None:
        """Pictures of images of the visits (core.pacs.images.study_images; at most 96 pixels a side), one job each,
        each image's once while the list is open; preview_ready as each arrives."""
        for image in images:
            uid = image["sop_uid"]
            if uid in self._previews:
                continue
            self._previews[uid] = key = f"pacs-preview-{uid}"
            self.runner.submit(key, pacs_preview, self.url(), self.patient_id, image,
                               label="Fetching the visits' pictures…",
                               on_result=lambda picture, uid=uid: self.preview_ready.emit(uid, picture),
                               on_error=lambda _text, uid=uid: self.preview_ready.emit(uid, None))

    def drop_previews(self) -> None:
        """The visits list closed: pictures still queued are not fetched."""
        for key in self._previews.values():
            self.runner.cancel(key)
        self._previews.clear()

    def open_images(self, images: list, follow_up: bool) -> None:
        """Pull the chosen image of two visits (gui.models.pacs_choice.VisitImages.picked, the older visit first)
        and open them as image 1 and 2; as a follow-up, the pair is aligned once explained."""
        self.drop_previews()
        folder = tempfile.mkdtemp(prefix="siamese-lens-pacs-")
        self._folders.append(folder)

        def pulled(files: dict) -> None:
            self.problems.clear(PROBLEM)
            if follow_up:
                self.followup.align_when_explained()
            self.session.open_paths([files[image["study_uid"]][0] for image in images])

        self._submit(PULL, pacs_pull, self.url(), self.patient_id,
                     tuple((image["study_uid"], image["sop_uid"]) for image in images), folder,
                     label="Pulling the chosen images from the PACS…", on_result=pulled)

    # --- store reports --------------------------------------------------------------------------------
    def store_pair(self, request: ExportRequest, sr: str) -> None:
        """The pair's DICOM report (request.path) and SR written, then stored into image 1's study."""
        self._submit(STORE, store_pair, self.url(), request, sr, label="Storing the report on the PACS…",
                     on_result=self._stored)

    def store_followup(self, report: str, sr: str, result, record, note: str, overwrite: bool, maps=None) -> None:
        """The follow-up's DICOM report and SR written, then stored into the follow-up visit's study; `maps`: its
        maps refined and checked (gui.jobs.tasks.FollowupMaps), else the task does both first."""
        self._submit(STORE, store_followup, self.url(), report, sr, result, record, note, overwrite, maps,
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

    def pulled(self, path: str) -> bool:
        """Whether `path` lies in a folder of pulled visits, which close removes: no place for a report the reviewer
        keeps (one written beside a pulled image was gone after quitting)."""
        resolved = Path(path).resolve()
        return any(resolved.is_relative_to(Path(folder).resolve()) for folder in self._folders)

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
        # the address named: a store no longer asks it, so the reviewer reads where the report went
        host = urlsplit(self.url()).hostname or self.url()
        self.session.info.emit(f"Stored to PACS {host}: {', '.join(Path(p).name for p in paths)}")

    def _progress(self, key, done: int, total: int) -> None:
        if key in self._running:
            self.progress.emit(done, total)
