"""The window's door to the PACS (gui/tasks.py, run by the runner): pull a patient's visits with progress and
cancel, and store a follow-up's DICOM report and SR into the follow-up's study, against the real Orthanc of
tests/pacs_server.py. The menus and dialogs that call these are not built yet (docs/pacs.md)."""

from __future__ import annotations

import pydicom
import pytest

from gui import tasks
from tests.test_pacs import patient  # noqa: F401  (fixture)


@pytest.fixture
def workspace(tiny_model):
    ws = tasks.Workspace()
    ws.model = tiny_model
    return ws


def test_pull_reports_progress_and_a_cancelled_pull_writes_nothing(workspace, orthanc, pacs_login, patient,  # noqa: F811
                                                                   tmp_path):
    from core.pacs.transfer import PullCancelled

    identity, visits = patient
    steps = []
    workspace.report_progress = lambda done, total: steps.append((done, total))
    sources = [pydicom.dcmread(path) for path in visits]
    studies = tuple(ds.StudyInstanceUID for ds in sources)
    files = tasks.pacs_pull(workspace, orthanc.url, identity["PatientID"], studies, str(tmp_path / "pulled"))
    assert [[pydicom.dcmread(path).SOPInstanceUID for path in files[uid]] for uid in studies] == [
        [ds.SOPInstanceUID] for ds in sources]
    assert steps == [(0, 1), (1, 1)] * 2
    workspace.stop.set()
    with pytest.raises(PullCancelled):
        tasks.pacs_pull(workspace, orthanc.url, identity["PatientID"], studies, str(tmp_path / "cancelled"))
    assert not (tmp_path / "cancelled").exists()
    assert [study["date"] for study in tasks.pacs_find(workspace, orthanc.url, identity["PatientID"])] == [
        "20260110", "20260712"]


def test_store_a_followup_report_and_sr_from_the_window(workspace, orthanc, pacs_login, patient, tmp_path):  # noqa: F811
    identity, visits = patient
    images = tuple(tasks.load_image(workspace, str(path)).image for path in visits)
    result = tasks.followup(workspace, images, tasks.DEFAULT_METHOD)
    report, sr = tmp_path / "f.dcm", tmp_path / "f-sr.dcm"
    stored = tasks.store_followup(workspace, orthanc.url, str(report), str(sr), result, None, "", False)
    assert stored == (str(report), str(sr))
    study = pydicom.dcmread(visits[1]).StudyInstanceUID
    on_server = {study["study_uid"]: study for study in tasks.pacs_find(workspace, orthanc.url,
                                                                        identity["PatientID"])}[study]
    uids = {instance["sop_uid"] for series in on_server["series"] for instance in series["instances"]}
    assert {pydicom.dcmread(report).SOPInstanceUID, pydicom.dcmread(sr).SOPInstanceUID} < uids


def test_the_followup_dock_stores_dicom_visits_to_the_pacs(qtbot, make_window, orthanc, pacs_login, patient,  # noqa: F811
                                                          tmp_path):
    from tests.gui.conftest import TIMEOUT_MS

    identity, visits = patient
    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(visits[0]), str(visits[1])])
    dock = window.followup_dock
    window.actions["followup"].trigger()
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    assert dock.store_button.isEnabled()  # DICOM visits: the report can file into the follow-up's study
    report = tmp_path / "stored.dcm"
    with qtbot.waitSignal(window.session.info, timeout=TIMEOUT_MS,
                          check_params_cb=lambda text: text.startswith("Stored to PACS")):
        dock.store_to(orthanc.url, str(report))
    sr = tmp_path / "stored-sr.dcm"
    study = pydicom.dcmread(visits[1]).StudyInstanceUID
    assert pydicom.dcmread(report).StudyInstanceUID == pydicom.dcmread(sr).StudyInstanceUID == study
    found = tasks.pacs_find(tasks.Workspace(), orthanc.url, identity["PatientID"])
    uids = {i["sop_uid"] for s in found for series in s["series"] for i in series["instances"]}
    assert pydicom.dcmread(sr).SOPInstanceUID in uids


def test_open_from_pacs_pulls_two_visits_and_aligns_them_as_a_followup(qtbot, make_window, orthanc,  # noqa: F811
                                                                       pacs_login, patient):  # noqa: F811
    from gui.pacs_open import VisitsDialog, find_visits
    from tests.gui.conftest import TIMEOUT_MS

    identity, visits = patient
    window = make_window()
    offered = {}

    def choose(parent, studies):  # the dialog as the reviewer leaves it: the two latest visits, as a follow-up
        dialog = VisitsDialog(parent, studies)
        offered["rows"] = [dialog.list.item(row).text() for row in range(dialog.list.count())]
        offered["enabled"] = dialog.followup_button.isEnabled()
        dialog.list.item(0).setSelected(False)
        offered["one_chosen"] = dialog.followup_button.isEnabled()
        dialog.list.item(0).setSelected(True)
        return dialog.chosen(), True

    find_visits(window, orthanc.url, identity["PatientID"], choose)
    dock = window.followup_dock
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    assert offered["rows"][0].startswith("20260712") and "BACK" in offered["rows"][0]  # newest first
    assert offered["enabled"] and not offered["one_chosen"]
    shown = [ready.image.dicom.SOPInstanceUID for ready in window.session.images]
    assert shown == [pydicom.dcmread(path).SOPInstanceUID for path in visits]  # the older visit is image 1
    assert dock.store_button.isEnabled()


def test_open_from_pacs_says_what_is_wrong_in_the_problem_bar(qtbot, make_window, orthanc, pacs_login):  # noqa: F811
    from gui.pacs_open import find_visits
    from tests.gui.conftest import TIMEOUT_MS

    window = make_window()
    with qtbot.waitSignal(window.session.error, timeout=TIMEOUT_MS,
                          check_params_cb=lambda source, text: "0 visit(s) with images" in text):
        find_visits(window, orthanc.url, "NOBODY-AT-ALL", lambda *_: pytest.fail("nothing to choose"))
    with qtbot.waitSignal(window.session.error, timeout=TIMEOUT_MS,
                          check_params_cb=lambda source, text: "cannot reach the PACS" in text):
        find_visits(window, "http://127.0.0.1:9/dicom-web", "P1", lambda *_: pytest.fail("nothing to choose"))
