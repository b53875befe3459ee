"""The window and the PACS, against the real Orthanc of tests/pacs_server.py: the tasks (gui/jobs/tasks.py: pull
with progress and cancel, a follow-up's report and SR stored), and the window's commands through its dialogs
(gui.presenters.pacs over the window as PacsView, with the dialogs answered by the test): Open from PACS with each
visit's picture, Store to PACS from the follow-up dock and for a pair, Export SR, and the problem bar."""

from __future__ import annotations

import pydicom
import pytest

from gui.jobs import tasks
from gui.models.settings import Key
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
    chosen = tuple((ds.StudyInstanceUID, ds.SOPInstanceUID) for ds in sources)
    files = tasks.pacs_pull(workspace, orthanc.url, identity["PatientID"], chosen, str(tmp_path / "pulled"))
    assert [[pydicom.dcmread(path).SOPInstanceUID for path in files[study]] for study, _ in chosen] == [
        [ds.SOPInstanceUID] for ds in sources]
    assert steps == [(0, 1), (1, 1)] * 2
    workspace.stop.set()
    with pytest.raises(PullCancelled):
        tasks.pacs_pull(workspace, orthanc.url, identity["PatientID"], chosen, str(tmp_path / "cancelled"))
    assert not (tmp_path / "cancelled").exists()
    assert [study["date"] for study in tasks.pacs_find(workspace, orthanc.url, identity["PatientID"])] == [
        "20260110", "20260712"]


def test_store_a_followup_report_and_sr_from_the_window(workspace, orthanc, pacs_login, patient, tmp_path):  # noqa: F811
    identity, visits = patient
    images = tuple(tasks.load_image(workspace, str(path)).image for path in visits)
    result = tasks.followup(workspace, images, tasks.DEFAULT_METHOD)
    report, sr = tmp_path / "f.dcm", tmp_path / "f-sr.dcm"
    maps = tasks.followup_maps(workspace, result)  # refined and checked, as the window holds them
    assert maps.result.explanation.method == "coalition" and maps.faithfulness is not None
    stored = tasks.store_followup(workspace, orthanc.url, str(report), str(sr), result, None, "", False, maps)
    assert stored == (str(report), str(sr))
    study = pydicom.dcmread(visits[1]).StudyInstanceUID
    on_server = {study["study_uid"]: study for study in tasks.pacs_find(workspace, orthanc.url,
                                                                        identity["PatientID"])}[study]
    uids = {instance["sop_uid"] for series in on_server["series"] for instance in series["instances"]}
    assert {pydicom.dcmread(report).SOPInstanceUID, pydicom.dcmread(sr).SOPInstanceUID} < uids
    from core.pacs.connection import PacsError

    workspace.stop.set()  # Cancel pressed while the files were being written: they stay here, nothing is sent
    with pytest.raises(PacsError, match="store cancelled; written here, not stored"):
        tasks.store_followup(workspace, orthanc.url, str(tmp_path / "c.dcm"), str(tmp_path / "c-sr.dcm"), result,
                             None, "", False, maps)
    assert pydicom.dcmread(tmp_path / "c.dcm").SOPInstanceUID not in _sop_uids_on_server(orthanc.url,
                                                                                          identity["PatientID"])


def _answer_dialogs(monkeypatch, window, url: str, report=None, patient_id: str = "", choose=None) -> None:
    """The window's dialogs as a reviewer answers them (the presenter asks; the window is its PacsView)."""
    monkeypatch.setattr(window, "ask_pacs_url", lambda current: url)
    monkeypatch.setattr(window, "ask_pacs_search", lambda current, last: (url, patient_id))
    monkeypatch.setattr(window, "ask_report_path", lambda suggested: (str(report), False) if report else None)
    if choose is not None:
        monkeypatch.setattr(window, "choose_visits", choose)


def _sop_uids_on_server(url: str, patient_id: str) -> set:
    found = tasks.pacs_find(tasks.Workspace(), url, patient_id)
    return {i["sop_uid"] for s in found for series in s["series"] for i in series["instances"]}


def test_the_followup_dock_stores_dicom_visits_to_the_pacs(qtbot, make_window, orthanc, pacs_login, patient,  # noqa: F811
                                                          tmp_path, monkeypatch):
    from tests.gui.conftest import TIMEOUT_MS

    identity, visits = patient
    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(visits[0]), str(visits[1])])
    dock = window.followup_dock
    window.actions["followup"].trigger()
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    assert dock.store_button.isEnabled()  # DICOM visits of one patient: the report can file into their study
    report = tmp_path / "stored.dcm"
    _answer_dialogs(monkeypatch, window, orthanc.url, report)
    with qtbot.waitSignal(window.session.info, timeout=TIMEOUT_MS,
                          check_params_cb=lambda text: text.startswith("Stored to PACS")):
        dock.store_button.click()
    sr = tmp_path / "stored-sr.dcm"
    study = pydicom.dcmread(visits[1]).StudyInstanceUID
    assert pydicom.dcmread(report).StudyInstanceUID == pydicom.dcmread(sr).StudyInstanceUID == study
    assert pydicom.dcmread(sr).SOPInstanceUID in _sop_uids_on_server(orthanc.url, identity["PatientID"])
    assert window.settings.value(Key.PACS_URL) == orthanc.url  # the address remembered, never a credential


def test_a_pair_is_stored_to_the_pacs_and_exported_as_an_sr(qtbot, make_window, orthanc, pacs_login,
                                                            patient, tmp_path, monkeypatch):  # noqa: F811
    import highdicom as hd

    from tests.gui.conftest import TIMEOUT_MS

    identity, visits = patient
    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(visits[0]), str(visits[1])])
    assert window.actions["store_pacs"].isEnabled() and window.actions["export_sr"].isEnabled()
    report = tmp_path / "pair"  # the dialog's name without a suffix: a store is a DICOM file
    _answer_dialogs(monkeypatch, window, orthanc.url, report)
    with qtbot.waitSignal(window.session.info, timeout=TIMEOUT_MS,
                          check_params_cb=lambda text: text.startswith("Stored to PACS")):
        window.actions["store_pacs"].trigger()
    stored, sr = pydicom.dcmread(tmp_path / "pair.dcm"), pydicom.dcmread(tmp_path / "pair-sr.dcm")
    study = pydicom.dcmread(visits[0]).StudyInstanceUID  # image 1's study
    assert stored.StudyInstanceUID == sr.StudyInstanceUID == study
    assert stored.PatientID == sr.PatientID == identity["PatientID"]
    assert {stored.SOPInstanceUID, sr.SOPInstanceUID} <= _sop_uids_on_server(orthanc.url, identity["PatientID"])
    assert (tmp_path / "pair.json").exists()  # the sidecar stays here with the report

    only_sr = tmp_path / "only-sr.dcm"
    _answer_dialogs(monkeypatch, window, orthanc.url, only_sr)
    with qtbot.waitSignal(window.session.info, timeout=TIMEOUT_MS,
                          check_params_cb=lambda text: text.startswith("SR saved")):
        window.actions["export_sr"].trigger()
    measured = hd.sr.srread(only_sr)
    assert measured.StudyInstanceUID == study
    assert len(measured.content.get_planar_roi_measurement_groups()
               + measured.content.get_image_measurement_groups()) == 2  # one group per image


def test_a_pair_not_of_dicom_images_offers_neither_store_nor_sr(explained):
    assert not explained.actions["store_pacs"].isEnabled() and not explained.actions["export_sr"].isEnabled()
    explained.commands.pacs.store_pair()  # a shortcut or a stale menu: one line, nothing asked
    assert any("two DICOM images of one patient" in text for text in explained.problems.texts())


def test_open_from_pacs_shows_each_visits_picture_and_opens_two_as_a_followup(qtbot, make_window, orthanc,
                                                                          pacs_login, patient, monkeypatch):  # noqa: F811
    from PySide6.QtCore import Qt

    from gui.views.pacs_visits import VisitsDialog
    from tests.gui.conftest import TIMEOUT_MS

    identity, visits = patient
    window = make_window()
    offered = {}

    def choose(choice):  # the dialog as the reviewer leaves it: the two latest visits, as a follow-up
        dialog = VisitsDialog(window, choice, window.pacs)
        qtbot.addWidget(dialog)
        offered["rows"] = [dialog.list.item(row).text() for row in range(dialog.list.count())]
        offered["enabled"] = dialog.followup_button.isEnabled()
        dialog.list.item(0).setCheckState(Qt.CheckState.Unchecked)
        offered["one_chosen"] = dialog.followup_button.isEnabled()
        dialog.list.item(0).setCheckState(Qt.CheckState.Checked)
        qtbot.waitUntil(lambda: all(not dialog.list.item(row).icon().isNull() for row in range(2)),
                        timeout=TIMEOUT_MS)
        offered["icon"] = dialog.list.item(0).icon().availableSizes()[0]
        return True

    _answer_dialogs(monkeypatch, window, orthanc.url, patient_id=identity["PatientID"], choose=choose)
    window.actions["open_pacs"].trigger()
    dock = window.followup_dock
    qtbot.waitUntil(lambda: dock.result is not None, timeout=TIMEOUT_MS)
    assert offered["rows"][0].startswith("2026-07-12") and "BACK" in offered["rows"][0]  # newest first, ISO date
    assert offered["enabled"] and not offered["one_chosen"]
    assert max(offered["icon"].width(), offered["icon"].height()) <= tasks.PACS_PREVIEW_SIZE
    shown = [ready.image.dicom.SOPInstanceUID for ready in window.session.images]
    assert shown == [pydicom.dcmread(path).SOPInstanceUID for path in visits]  # the older visit is image 1
    assert dock.store_button.isEnabled()


def test_open_from_pacs_the_reviewer_chooses_which_image_of_a_visit_by_keyboard(qtbot, make_window, orthanc,
                                                                                pacs_login, patient, tmp_path,  # noqa: F811
                                                                                monkeypatch):
    """A visit of an overview and two close-ups: the list shows its images with their pictures, the second is
    chosen with the arrow keys, and the pair opens with that image, not the visit's first."""
    from PySide6.QtCore import Qt

    from gui.views.pacs_visits import VisitsDialog
    from tests.dicom_visits import write_visit_of_images
    from tests.gui.conftest import TIMEOUT_MS

    identity, visits = patient
    (tmp_path / "multi").mkdir()
    images = write_visit_of_images(tmp_path / "multi", identity)  # the newest visit, 20260915
    for path in images:
        orthanc.upload(path)
    window = make_window()
    seen = {}

    def choose(choice):
        dialog = VisitsDialog(window, choice, window.pacs)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.activateWindow()
        dialog.list.setFocus()
        qtbot.waitUntil(dialog.list.hasFocus, timeout=TIMEOUT_MS)
        assert dialog.list.currentRow() == 0 and dialog.images.count() == 3  # the newest visit's images
        qtbot.waitUntil(lambda: all(not dialog.images.item(row).icon().isNull() for row in range(3)),
                        timeout=TIMEOUT_MS)
        seen["labels"] = [dialog.images.item(row).text() for row in range(3)]
        qtbot.keyClick(dialog.list, Qt.Key.Key_Space)  # the newest visit unticked: one visit is no pair
        seen["one"] = dialog.pair_button.isEnabled()
        qtbot.keyClick(dialog.list, Qt.Key.Key_Space)
        seen["two"] = dialog.pair_button.isEnabled()
        qtbot.keyClick(dialog.list, Qt.Key.Key_Tab)  # to the images, then the next one
        seen["tab"] = dialog.images.hasFocus()
        qtbot.keyClick(dialog.images, Qt.Key.Key_Down)
        seen["row"] = dialog.list.item(0).text()
        qtbot.keyClick(dialog.images, Qt.Key.Key_V, Qt.KeyboardModifier.AltModifier)  # back to the visits
        seen["alt_v"] = dialog.list.hasFocus()
        qtbot.keyClick(dialog.list, Qt.Key.Key_Down)  # another visit's images: one
        seen["other"] = dialog.images.count()
        qtbot.keyClick(dialog.list, Qt.Key.Key_Up)  # back: the choice kept
        seen["kept"] = dialog.images.currentRow()
        seen["picked"] = [image["sop_uid"] for image in dialog.chosen()]
        dialog.pair_button.click()
        return dialog.follow_up

    _answer_dialogs(monkeypatch, window, orthanc.url, patient_id=identity["PatientID"], choose=choose)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["open_pacs"].trigger()
    second = pydicom.dcmread(images[1])
    assert seen["labels"][1].startswith("image 2 | Close-up lesion A\n") and "| left |" in seen["labels"][1]
    assert not seen["one"] and seen["two"] and seen["tab"] and seen["alt_v"]
    assert "image 2 of 3: Close-up lesion A" in seen["row"]
    assert seen["other"] == 1 and seen["kept"] == 1
    assert seen["picked"] == [pydicom.dcmread(visits[1]).SOPInstanceUID, second.SOPInstanceUID]
    shown = [ready.image.dicom.SOPInstanceUID for ready in window.session.images]
    assert shown == seen["picked"]  # the older visit's image first, the chosen close-up second


def test_open_from_pacs_says_what_is_wrong_in_the_problem_bar(qtbot, make_window, orthanc, pacs_login,  # noqa: F811
                                                              monkeypatch):
    from tests.gui.conftest import TIMEOUT_MS

    window = make_window()
    problems = window.problems

    def never(*_):
        pytest.fail("nothing to choose")

    _answer_dialogs(monkeypatch, window, orthanc.url, patient_id="NOBODY-AT-ALL", choose=never)
    window.actions["open_pacs"].trigger()
    qtbot.waitUntil(lambda: any("0 visit(s) with images" in t for t in problems.texts()), timeout=TIMEOUT_MS)
    _answer_dialogs(monkeypatch, window, "http://127.0.0.1:9/dicom-web", patient_id="P1", choose=never)
    window.actions["open_pacs"].trigger()
    qtbot.waitUntil(lambda: any("cannot reach the PACS" in t for t in problems.texts()), timeout=TIMEOUT_MS)
    assert not window.pacs_status.isVisible()  # no transfer left running
