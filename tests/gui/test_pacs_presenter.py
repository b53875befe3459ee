"""File > Open from PACS as a presenter (gui.presenters.pacs.PacsCommands) over an autospec'd view: the real
PacsLink model on a SyncRunner, its transfers (gui.jobs.tasks.pacs_*) replaced by fakes that record what they were
asked. No window, no server: tests/gui/test_pacs_tasks.py runs the same path against Orthanc."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import Mock, create_autospec

import pytest

from gui.jobs.runner import SyncRunner
from gui.models import pacs as pacs_model
from gui.models.case_record import CaseRecordState
from gui.models.followup import FollowUpReview
from gui.models.layers import LayerStates
from gui.models.problems import Problems
from gui.models.session import ReviewSession
from gui.models.settings import Key, open_settings
from gui.presenters.pacs import PacsCommands, PacsView

URL = "https://pacs.example.org/dicom-web"


def _visit(uid: str, date: str, images: int = 1) -> dict:
    """A study as core.pacs.transfer.find lists it: each image a series of its own, numbered in the study."""
    series = [{"series_uid": f"{uid}.s{n}", "number": str(n), "description": ("Overview", "Close-up A",
                                                                              "Close-up B")[n - 1],
               "modality": "XC", "body_part": "BACK", "laterality": "",
               "instances": [{"sop_uid": f"{uid}.{n}", "image": True, "index": n, "number": 1, "body_part": "",
                              "laterality": "L", "columns": 64, "rows": 48, "frames": 1}]}
              for n in range(1, images + 1)]
    return {"study_uid": uid, "date": date, "time": "", "accession": "", "description": "", "patient_name": "",
            "images": images, "series": series}


class FakePacs:
    """The PACS as the tasks see it: four visits of P1 (the newest without images, one of three images), pulls
    recorded."""

    def __init__(self):
        self.studies = [_visit("1.1", "20250101"), _visit("1.2", "20260301"), _visit("1.3", "20260601", images=3),
                        _visit("1.4", "20260701", images=0)]
        self.pulled: list[tuple] = []
        self.previews: list[str] = []

    def find(self, _ws, url, patient_id):
        assert url == URL
        return self.studies if patient_id == "P1" else []

    def preview(self, _ws, _url, _patient_id, image):
        self.previews.append(image["sop_uid"])
        return f"picture of {image['sop_uid']}"

    def pull(self, _ws, _url, patient_id, chosen, folder):
        self.pulled.append((patient_id, chosen))
        return {study: (str(Path(folder) / f"{sop}.dcm"),) for study, sop in chosen}


@pytest.fixture
def fake(monkeypatch):
    fake = FakePacs()
    monkeypatch.setattr(pacs_model, "pacs_find", fake.find)
    monkeypatch.setattr(pacs_model, "pacs_preview", fake.preview)
    monkeypatch.setattr(pacs_model, "pacs_pull", fake.pull)
    return fake


@pytest.fixture
def view():
    view = create_autospec(PacsView, instance=True)
    view.ask_pacs_search.return_value = (URL, "P1")
    view.choose_visits.return_value = None
    return view


@pytest.fixture
def defer():
    """Whether jobs wait for the test (run_next / run_pending): a transfer still on its way."""
    return False


@pytest.fixture
def parts(tmp_path, fake, defer):
    session = Mock(spec=ReviewSession)
    session.runner, session.explained = SyncRunner(defer=defer), None
    followup = Mock(spec=FollowUpReview)
    problems = Problems()
    link = pacs_model.PacsLink(session, followup, problems, open_settings(tmp_path / "settings.ini"))
    yield session, followup, problems, link
    link.close()


@pytest.fixture
def presenter(view, parts):
    session, followup, problems, link = parts
    return PacsCommands(view, pacs=link, session=session, followup=followup, layers=Mock(spec=LayerStates),
                        case_record=CaseRecordState(), problems=problems, report_folder=Path.cwd,
                        reviewer_verdict=lambda: None)


def test_two_visits_chosen_open_as_a_pair_older_first(presenter, view, parts, fake):
    session, followup, problems, link = parts
    offered = {}

    def choose(choice):
        offered["visits"] = [v["study_uid"] for v in choice.visits]
        offered["selected"] = list(choice.selected)
        # each visit's picture (its first image) asked for before the list is shown (a SyncRunner runs them after
        # this callback)
        offered["previews"] = [uid for uid in ("1.1.1", "1.2.1", "1.3.1", "1.3.2")
                               if link.runner.is_pending(f"pacs-preview-{uid}")]
        choice.select(["1.1", "1.3"])  # the newest and the oldest
        return False

    view.choose_visits.side_effect = choose
    presenter.open_from_pacs()
    assert offered["visits"] == ["1.3", "1.2", "1.1"]  # newest first; the visit without images is not offered
    assert offered["selected"] == ["1.3", "1.2"]  # the two latest, until the reviewer chooses
    assert offered["previews"] == ["1.1.1", "1.2.1", "1.3.1"]
    assert fake.previews == []  # the list closed: pictures still queued are not fetched
    assert fake.pulled == [("P1", (("1.1", "1.1.1"), ("1.3", "1.3.1")))]  # each visit's first image
    (paths,), _ = session.open_paths.call_args
    assert [Path(p).name for p in paths] == ["1.1.1.dcm", "1.3.1.dcm"]  # the older visit is image 1
    followup.align_when_explained.assert_not_called()  # a pair, not a follow-up
    assert link.settings.value(Key.PACS_URL) == URL and problems.texts() == []


def test_the_pulled_images_are_known_as_such_and_go_when_the_app_quits(presenter, view, parts, fake, tmp_path):
    session, _followup, _problems, link = parts
    view.choose_visits.side_effect = lambda choice: choice.select(["1.1", "1.3"]) or False
    presenter.open_from_pacs()
    (paths,), _ = session.open_paths.call_args
    assert all(link.pulled(path) for path in paths) and not link.pulled(str(tmp_path / "report.png"))
    link.close()
    assert not any(Path(path).exists() for path in paths)


def test_the_image_chosen_for_a_visit_is_the_one_opened_and_kept_while_the_list_is_open(presenter, view, parts,
                                                                                        fake):
    session, _followup, _problems, link = parts
    seen = {}

    def choose(choice):
        images = choice.look_at("1.3")  # the reviewer moves to the visit of three images: their pictures asked for
        seen["labels"] = [choice.image_text(image) for image in images]
        seen["asked"] = [image["sop_uid"] for image in images if link.runner.is_pending(f"pacs-preview-"
                                                                                         f"{image['sop_uid']}")]
        choice.choose("1.3", 2)
        choice.look_at("1.2")  # elsewhere and back: the choice stays
        choice.look_at("1.3")
        seen["back"] = choice.chosen("1.3")["sop_uid"]
        seen["row"] = choice.visit_text(choice.visits[0])
        return True

    view.choose_visits.side_effect = choose
    presenter.open_from_pacs()
    assert seen["asked"] == ["1.3.1", "1.3.2", "1.3.3"] and seen["back"] == "1.3.2"
    assert seen["labels"][1] == "image 2 | Close-up A\nseries 2, instance 1 | BACK | left | 64x48 px"
    assert seen["row"] == "2026-06-01   BACK\nimage 2 of 3: Close-up A"  # as reports write dates, not DICOM's
    assert fake.pulled == [("P1", (("1.2", "1.2.1"), ("1.3", "1.3.2")))]
    (paths,), _ = session.open_paths.call_args
    assert [Path(p).name for p in paths] == ["1.2.1.dcm", "1.3.2.dcm"]


def test_each_images_picture_is_asked_for_once_while_the_list_is_open(parts, fake):
    from gui.models.pacs_choice import VisitImages

    _session, _followup, _problems, link = parts
    link.remember_url(URL)
    link.patient_id = "P1"
    choice = VisitImages("P1", fake.studies[:3], link.fetch_previews)
    choice.look_at("1.3")
    choice.look_at("1.1")
    choice.look_at("1.3")
    assert fake.previews == ["1.3.1", "1.3.2", "1.3.3", "1.1.1"]
    link.drop_previews()  # the list closed and opened again: asked anew
    choice.look_at("1.1")
    assert fake.previews[-1] == "1.1.1" and len(fake.previews) == 5
    choice.select(["1.1"])
    assert not choice.ready()


@pytest.mark.parametrize("cancelled", ["url", "patient", "visits"])
def test_cancel_at_any_question_opens_nothing(presenter, view, parts, fake, cancelled):
    session, _followup, problems, _link = parts
    if cancelled == "url":
        view.ask_pacs_search.return_value = None
    elif cancelled == "patient":
        view.ask_pacs_search.return_value = (URL, " ")
    presenter.open_from_pacs()
    assert view.choose_visits.called == (cancelled == "visits")
    assert fake.pulled == [] and problems.texts() == []
    session.open_paths.assert_not_called()


def test_a_patient_without_two_visits_is_one_line_and_nothing_asked(presenter, view, parts, fake):
    session, _followup, problems, _link = parts
    view.ask_pacs_search.return_value = (URL, "NOBODY")
    presenter.open_from_pacs()
    view.choose_visits.assert_not_called()
    assert problems.texts() == ["Patient NOBODY has 0 visit(s) with images on the PACS; a pair needs two"]
    session.open_paths.assert_not_called()


@pytest.mark.parametrize("defer", [True])  # the pull still on its way when Cancel is pressed
def test_a_cancelled_pull_opens_nothing_and_says_so(presenter, view, parts, fake):
    session, _followup, problems, link = parts
    view.choose_visits.side_effect = lambda _choice: False
    busy = []
    link.busy_changed.connect(busy.append)
    presenter.open_from_pacs()
    link.runner.run_next()  # the search; the visits chosen; the pull queued (the previews dropped with the list)
    assert busy[-1] is True and link.runner.is_pending("pacs-pull")
    link.cancel()
    link.runner.run_pending()
    assert busy[-1] is False and fake.pulled == []
    session.open_paths.assert_not_called()
    session.info.emit.assert_called_with("PACS transfer cancelled")
    assert problems.texts() == []


def test_store_and_sr_are_refused_in_one_line_for_images_that_cannot_file(presenter, view, parts):
    from types import SimpleNamespace

    session, followup, problems, link = parts
    jpeg = SimpleNamespace(path="a.jpg", dicom=None)
    session.explained = SimpleNamespace(images=(jpeg, jpeg))
    followup.result = SimpleNamespace(images=(jpeg, jpeg))
    for command in (presenter.store_pair, presenter.export_sr, presenter.store_followup):
        view.reset_mock()
        for source in list(problems.current()):
            problems.clear(source)
        command()
        text = " ".join(problems.texts())
        assert "two DICOM images of one patient" in text
        view.ask_pacs_url.assert_not_called()
        view.ask_report_path.assert_not_called()
    session.export_sr.assert_not_called()
    session.export_request.assert_not_called()


@pytest.mark.parametrize("defer", [True])
def test_the_status_bar_shows_a_transfer_and_its_cancel_stops_it(qtbot, presenter, view, parts, fake):
    from gui.views.pacs_visits import PacsStatus

    session, _followup, _problems, link = parts
    status = PacsStatus(link)
    qtbot.addWidget(status)
    assert status.isHidden()
    view.choose_visits.side_effect = lambda _choice: False
    presenter.open_from_pacs()
    link.runner.run_next()  # the search: the visits chosen, the pull on its way
    assert not status.isHidden()
    link.runner.progress.emit("pacs-pull", 1, 2)  # the pull's progress, as the runner relays it
    assert (status.bar.value(), status.bar.maximum()) == (1, 2)
    status.cancel_button.click()
    link.runner.run_pending()
    assert status.isHidden() and fake.pulled == []
    session.open_paths.assert_not_called()


def test_an_address_with_credentials_is_refused_and_never_written_to_the_settings(presenter, view, parts, fake,
                                                                                   tmp_path):
    session, followup, problems, link = parts
    assert link.remember_url(URL)
    view.ask_pacs_search.return_value = ("https://clinic:hunter2@pacs.example.org/dicom-web", "P1")
    presenter.open_from_pacs()
    assert link.url() == URL and not fake.previews  # the address before is kept, nothing searched
    assert "credentials do not belong" in problems.texts()[0] and "hunter2" not in problems.texts()[0]
    link.settings.sync()
    assert "hunter2" not in (tmp_path / "settings.ini").read_text()


@pytest.mark.parametrize("defer", [True])  # the store still on its way when Cancel is pressed
def test_a_cancelled_store_never_claims_that_nothing_reached_the_pacs(parts, monkeypatch):
    session, _followup, problems, link = parts
    stored = []
    monkeypatch.setattr(pacs_model, "store_pair", lambda *args: stored.append(args) or ())
    assert link.remember_url(URL)
    link.store_pair(Mock(), "report-sr.dcm")
    link.cancel()
    link.runner.run_pending()
    assert stored == []  # not begun: skipped
    message = session.info.emit.call_args.args[0]
    assert message.startswith("PACS transfer cancelled") and "may still reach the PACS" in message


def test_the_visits_dialog_draws_the_chosen_images_picture_or_says_why_there_is_none(qtbot, fake):
    from PySide6.QtGui import QColor, QImage

    from gui.models.pacs_choice import VisitImages
    from gui.views.pacs_visits import FETCHING, NO_PICTURE, VisitsDialog

    asked = []
    choice = VisitImages("P1", fake.studies[2::-1], asked.extend)  # newest first: 1.3 (three images), 1.2, 1.1
    dialog = VisitsDialog(None, choice)
    qtbot.addWidget(dialog)
    assert [image["sop_uid"] for image in asked] == ["1.3.1", "1.3.2", "1.3.3"]  # the visit under the cursor
    assert dialog.images.count() == 3 and dialog.images.currentRow() == 0
    assert dialog.list.item(1).toolTip() == FETCHING
    picture = QImage(8, 8, QImage.Format.Format_RGB32)
    picture.fill(QColor("brown"))
    dialog.show_preview("1.3.2", picture)
    dialog.show_preview("1.2.1", None)
    assert dialog.list.item(0).icon().isNull()  # the visit is compared by its first image, not yet arrived
    assert not dialog.images.item(1).icon().isNull() and dialog.list.item(1).toolTip() == NO_PICTURE
    dialog.images.setCurrentRow(1)  # the close-up chosen: the visit's row shows it
    assert not dialog.list.item(0).icon().isNull() and "image 2 of 3: Close-up A" in dialog.list.item(0).text()
    assert [image["sop_uid"] for image in dialog.chosen()] == ["1.2.1", "1.3.2"]


def test_open_from_pacs_offers_the_last_address_and_patient_so_the_reviewer_only_confirms(presenter, view, parts,
                                                                                          fake, tmp_path):
    _session, _followup, _problems, link = parts
    presenter.open_from_pacs()
    view.ask_pacs_search.assert_called_with("", "")  # the first time: nothing to offer
    view.ask_pacs_search.return_value = (URL, "NOBODY")
    presenter.open_from_pacs()
    view.ask_pacs_search.assert_called_with(URL, "P1")  # both as last given
    presenter.open_from_pacs()
    view.ask_pacs_search.assert_called_with(URL, "NOBODY")  # a patient not found is offered again to correct
    link.settings.sync()
    settings = (tmp_path / "settings.ini").read_text()
    assert URL in settings and "P1" not in settings and "NOBODY" not in settings  # a patient id stays in the session


def test_a_store_asks_the_address_only_when_none_is_remembered(presenter, view, parts):
    from types import SimpleNamespace

    from core.io.dicom import DicomSource

    _session, followup, _problems, link = parts
    image = SimpleNamespace(path="visit.dcm", dicom=DicomSource(PatientID="P1"))
    followup.result = SimpleNamespace(images=(image, image))
    view.ask_report_path.return_value = None  # cancelled at the file: nothing stored
    view.ask_pacs_url.return_value = URL
    presenter.store_followup()
    view.ask_pacs_url.assert_called_once_with("")
    assert link.url() == URL
    view.reset_mock()
    presenter.store_followup()
    presenter.session.explained = SimpleNamespace(images=(image, image))
    presenter.store_pair()
    view.ask_pacs_url.assert_not_called()  # remembered: the reviewer is asked only where the report is written
    assert view.ask_report_path.call_count == 2


@pytest.mark.parametrize(("name", "offered"), [("report.dcm", "DICOM Secondary Capture (*.dcm)"),
                                               ("report.png", "PNG report (*.png)"),
                                               ("report.pdf", "PDF report (*.pdf)")])
def test_the_save_dialog_offers_the_type_of_the_name_it_suggests(qtbot, monkeypatch, tmp_path, name, offered):
    from gui.views import dialogs

    asked = {}

    def save(_parent, _caption, suggested, filters, selected, **_options):
        asked["suggested"], asked["selected"] = suggested, selected
        assert selected in filters.split(";;")
        return "", ""  # cancelled

    monkeypatch.setattr(dialogs.QFileDialog, "getSaveFileName", save)
    assert dialogs.report_path(None, tmp_path / name) is None
    assert asked == {"suggested": str(tmp_path / name), "selected": offered}


def test_the_search_dialog_shows_the_last_address_and_patient_ready_to_confirm(qtbot):
    from gui.views.pacs_visits import SearchDialog

    dialog = SearchDialog(None, URL, "P1")
    qtbot.addWidget(dialog)
    assert (dialog.url.text(), dialog.patient.text()) == (URL, "P1")
    assert dialog.patient.selectedText() == "P1"  # typing a new patient replaces it
