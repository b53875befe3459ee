"""The reviewer's commands (gui.presenters.commands.Commands) as a presenter, against an autospec'd view and mock
review models: what each command asks the view, what it tells the models, and what it shows when it cannot go on.
No window, no runner, no model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest.mock import Mock, create_autospec

import pytest
from PIL import Image

from gui.jobs.tasks import COLORMAPS, SiameseLensError
from gui.models.case_record import CaseRecordState
from gui.models.followup import FollowUpReview
from gui.models.layers import LayerStates
from gui.models.links import LinksState
from gui.models.open_pair import OpenPair
from gui.models.pacs import PacsLink
from gui.models.problems import Problems
from gui.models.session import ReviewSession
from gui.models.settings import Key, open_settings
from gui.models.similar_cases import SimilarCases
from gui.models.worklist import WorklistController
from gui.presenters.commands import Commands, CommandsView


@pytest.fixture
def view():
    """Every dialog cancelled, an empty clipboard, no note."""
    view = create_autospec(CommandsView, instance=True)
    for ask in (view.ask_image_path, view.ask_report_path, view.ask_model_path, view.ask_gallery_folder,
                view.ask_pairs_csv, view.ask_worklist_csv, view.clipboard_image):
        ask.return_value = None
    view.clipboard_paths.return_value = []
    view.note_text.return_value = ""
    return view


@pytest.fixture
def settings(tmp_path):
    return open_settings(tmp_path / "settings.ini")


@pytest.fixture
def commands(view, settings):
    session = Mock(spec=ReviewSession)
    session.explained, session.images, session.environment = None, [None, None], None
    worklist = Mock(spec=WorklistController)
    worklist.current, worklist.store = -1, object()
    worklist.reviewer_verdict.return_value = None
    similar = Mock(spec=SimilarCases)
    similar.gallery = None
    case_record = CaseRecordState(reviewer="Dr. K")  # the real model: it holds what the reviewer typed and refused
    pair = Mock(spec=OpenPair)
    pair.assessment.return_value = None
    followup = Mock(spec=FollowUpReview)
    followup.result = None
    pacs = Mock(spec=PacsLink)
    pacs.pulled.return_value = False  # no image from the PACS
    return Commands(view, session=session, worklist=worklist, similar=similar, layers=Mock(spec=LayerStates),
                    links=Mock(spec=LinksState), case_record=case_record, pair=pair, followup=followup,
                    problems=Problems(), pacs=pacs, settings=settings)


def _explained(*paths):
    images = [SimpleNamespace(path=str(path)) for path in paths]
    return SimpleNamespace(images=images), [SimpleNamespace(image=image) for image in images]


def test_export_with_no_explanation_shows_a_message_and_writes_nothing(commands, view):
    commands.export()
    assert commands.problems.current() == {"export": "Nothing to export yet: load and explain a pair first"}
    view.ask_report_path.assert_not_called()
    commands.session.export.assert_not_called()


def test_export_asks_beside_image_1_and_exports_what_the_view_shows(commands, view, settings, tmp_path):
    commands.session.explained, commands.session.images = _explained(tmp_path / "a.png", tmp_path / "b.png")
    target = tmp_path / "out" / "report.pdf"
    view.ask_report_path.return_value = (str(target), True)
    view.note_text.return_value = "  benign-looking  \n"
    commands.export()
    view.ask_report_path.assert_called_once_with(tmp_path.resolve() / "report_a_vs_b.png")
    layers = commands.layers
    commands.session.export.assert_called_once_with(str(target), layers.colormaps, layers.shown.return_value,
                                                    "benign-looking", True, commands.case_record.record, None)
    assert settings.value(Key.LAST_FOLDER) == str(target.parent)
    assert commands.problems.current() == {}


def test_a_report_of_images_pulled_from_the_pacs_is_not_offered_beside_them(commands, view, settings, tmp_path):
    """The pulled visits' folder is removed when the app quits: a report saved where the dialog first offered
    (beside image 1) was gone after quitting. It is offered in the last folder used instead."""
    pulled = tmp_path / "siamese-lens-pacs-x" / "study1"
    commands.session.explained, commands.session.images = _explained(pulled / "v1.dcm", pulled / "v2.dcm")
    commands.pulled.side_effect = lambda path: Path(path).is_relative_to(pulled)
    settings.setValue(Key.LAST_FOLDER, str(tmp_path / "reports"))
    commands.export()
    view.ask_report_path.assert_called_once_with(tmp_path / "reports" / "report_v1_vs_v2.png")
    commands.followup.result = SimpleNamespace(images=[SimpleNamespace(path=str(pulled / "v1.dcm"))])
    commands.export_followup()
    assert view.ask_report_path.call_args.args == (tmp_path / "reports" / "v1-followup.png",)


def test_a_refused_case_record_field_blocks_every_export_with_its_reason(commands, view, tmp_path):
    why = commands.case_record.set_field(0, "2026-02-30")
    assert why
    assert commands.export_report_to("report.png") is False
    assert commands.problems.current() == {
        "export": f"Report not saved: correct the case record first (Image 1 taken: {why})"}
    commands.session.export.assert_not_called()
    # the follow-up report too (issue #31: it was written with the date left out)
    commands.followup.result = SimpleNamespace(images=[SimpleNamespace(path=str(tmp_path / "visit1.png"))])
    view.ask_report_path.return_value = (str(tmp_path / "f.png"), False)
    commands.export_followup()
    view.ask_report_path.assert_called_once_with(tmp_path / "visit1-followup.png")
    assert list(commands.problems.current()) == ["export", "followup"]
    commands.followup.export_to.assert_not_called()
    # corrected: both go ahead, with the record as typed
    assert commands.case_record.set_field(0, "2026-02-28") == ""
    commands.export_followup()
    commands.followup.export_to.assert_called_once_with(str(tmp_path / "f.png"), commands.case_record.record, "",
                                                       False)


def test_agree_and_disagree_go_to_the_pair_shown_and_into_its_report(commands, view):
    commands.pair.assess.return_value = False
    commands.handlers()["agree"]()
    assert commands.problems.current() == {"assessment": "Nothing to agree with: no verdict is shown yet"}
    commands.pair.assess.return_value = True
    commands.handlers()["disagree"]()
    commands.pair.assess.assert_called_with("disagree")
    assert "assessment" not in commands.problems.current()
    commands.pair.assessment.return_value = "disagree"
    commands.session.explained = object()
    commands.export_report_to("r.png")
    assert commands.session.export.call_args.args[-1] == "disagree"


def test_open_with_a_cancelled_dialog_does_nothing(commands, view, settings):
    commands.problems.report("drop", "an earlier bad drop")
    commands.open(1)
    view.ask_image_path.assert_called_once_with(1, str(Path.home()))
    view.refocus.assert_called_once_with()  # the keyboard goes back to the review all the same
    commands.session.open_paths.assert_not_called()
    assert commands.problems.current() == {"drop": "an earlier bad drop"}  # neither shown nor withdrawn
    assert not settings.contains(Key.LAST_FOLDER)


def test_an_opened_image_goes_to_its_slot_and_the_next_dialog_starts_in_its_folder(commands, view, tmp_path):
    chosen = tmp_path / "lesion.png"
    chosen.write_bytes(b"")  # whether it is an image is the loader's to say
    view.ask_image_path.return_value = str(chosen)
    commands.problems.report("drop", "an earlier bad drop")
    commands.open(0)
    commands.session.open_paths.assert_called_once_with([str(chosen)], 0)
    assert "drop" not in commands.problems.current()  # an earlier bad drop no longer applies
    commands.open(1)
    assert view.ask_image_path.call_args.args == (1, str(tmp_path))


def test_open_2_starts_beside_image_1_however_image_1_came(commands, view, settings, tmp_path):
    settings.setValue(Key.LAST_FOLDER, str(tmp_path / "elsewhere"))  # image 1 came from the command line, not a dialog
    (tmp_path / "visits").mkdir()
    _, commands.session.images = _explained(tmp_path / "visits" / "a.png", tmp_path / "b.png")
    commands.session.images[1] = None
    commands.open(1)
    view.ask_image_path.assert_called_once_with(1, str((tmp_path / "visits").resolve()))


def test_a_folder_dropped_is_refused_before_the_session_hears_of_it(commands, view, tmp_path):
    commands.load_dropped([str(tmp_path)], 0)
    assert commands.problems.current() == {"drop": f"{tmp_path.name} is a folder: drop image files instead"}
    commands.session.open_paths.assert_not_called()


def test_a_non_image_dropped_is_refused_in_one_line_naming_it_and_dicom_without_suffix_is_not(
        commands, tmp_path):
    """Drops follow core.io.image_files: an image suffix, or DICOM by its content whatever its name."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    commands.load_dropped([str(notes)], 0)
    problem = commands.problems.current()["drop"]
    assert problem.startswith("notes.txt: not an image file") and ".dcm" in problem and "\n" not in problem
    commands.session.open_paths.assert_not_called()
    export = tmp_path / "IM0001"  # a PACS export: DICOM, no suffix
    export.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    commands.load_dropped([str(export)], 0)
    assert "drop" not in commands.problems.current()
    commands.session.open_paths.assert_called_once()


def test_a_failing_worklist_export_shows_one_line_naming_the_file(commands, view, tmp_path):
    target = tmp_path / "locked" / "worklist.csv"
    view.ask_worklist_csv.return_value = str(target)
    commands.worklist.export_csv.side_effect = PermissionError(13, "Permission denied", str(target) + ".tmp")
    commands.export_worklist()
    assert commands.problems.current() == {"worklist": f"Worklist not exported: {target}: Permission denied"}


def test_an_unreadable_pairs_file_is_shown_and_the_worklist_panel_opens(commands, view, tmp_path):
    pairs = tmp_path / "pairs.csv"
    view.ask_pairs_csv.return_value = str(pairs)
    commands.worklist.import_csv.side_effect = SiameseLensError(f"{pairs}: the first line must be a header")
    commands.import_worklist()
    assert commands.problems.current() == {"worklist": f"{pairs}: the first line must be a header"}
    view.show_worklist_panel.assert_called_once_with()


def test_paste_takes_an_image_else_a_file_else_says_the_clipboard_is_empty(commands, view, tmp_path):
    commands.paste(0)
    assert commands.problems.current() == {"clipboard": "The clipboard holds no image"}
    copied = tmp_path / "copied.png"
    copied.write_bytes(b"")
    view.clipboard_paths.return_value = [str(copied), str(tmp_path / "second.png")]
    commands.paste(1)
    commands.session.open_paths.assert_called_once_with([str(copied)], 1)  # the first file only
    picture = Image.new("RGB", (8, 8))
    view.clipboard_image.return_value = picture
    commands.paste(1)
    commands.session.open_image.assert_called_once_with(1, picture)


def test_a_chosen_gallery_is_searched_and_shown_and_no_hits_yet_is_said(commands, view, tmp_path):
    view.ask_gallery_folder.return_value = str(tmp_path)
    commands.choose_gallery()
    commands.similar.set_gallery.assert_called_once_with(str(tmp_path))
    view.show_similar_panel.assert_called_once_with()
    commands.similar.step.return_value = False
    commands.handlers()["next_hit"]()
    assert commands.problems.current() == {
        "similar": "No similar cases yet: load image 1 and choose a gallery (Ctrl+G)"}


def test_a_cancelled_model_dialog_keeps_the_model_and_starts_in_the_weights_folder(commands, view, tmp_path):
    commands.session.environment = SimpleNamespace(weights_dir=str(tmp_path))
    commands.choose_model()
    view.ask_model_path.assert_called_once_with(str(tmp_path))
    commands.session.load_model.assert_not_called()


def test_the_follow_up_report_has_a_key_of_its_own(commands, view, tmp_path):
    """Exporting the follow-up's report took the mouse (the dock's button only), while Ctrl+E exports the pair's:
    a reviewer working through follow-ups exports each one, so it has its command and key."""
    from gui.views.actions import COMMANDS

    command = next(c for c in COMMANDS if c.key == "export_followup")
    assert command.shortcuts == ("Ctrl+R",) and command.menu == "&File"
    others = {key for c in COMMANDS if c is not command for key in c.shortcuts}
    assert "Ctrl+R" not in others
    commands.handlers()["export_followup"]()  # nothing aligned yet: said so, no dialog
    assert "align the pair first" in commands.problems.current()["followup"]
    view.ask_report_path.assert_not_called()
    commands.followup.result = SimpleNamespace(images=[SimpleNamespace(path=str(tmp_path / "visit1.png"))])
    commands.handlers()["export_followup"]()
    view.ask_report_path.assert_called_once_with(tmp_path / "visit1-followup.png")


def test_the_overlay_keys_act_on_the_active_layer_of_the_model(commands):
    """Opacity and colour map took the mouse. `,` / `.` step the active layer's opacity on both images and `P` its
    colour map, on gui.models.layers (the sliders and choices follow it); the active layer is the one last turned on
    or changed, the top one still shown once it is hidden."""
    layers = commands.layers = LayerStates()
    handlers = commands.handlers()
    assert layers.active == "factual"
    handlers["opacity_up"]()
    assert [layers.opacity(slot, "factual") for slot in (0, 1)] == [0.6, 0.6]
    commands.session.info.emit.assert_called_with("Factual layer opacity 60 % · 60 %")
    handlers["counterfactual1"](True)  # key 4: the counterfactual of image 2 turned on is the active layer
    assert layers.active == "counterfactual"
    handlers["opacity_down"]()
    assert [layers.opacity(slot, "counterfactual") for slot in (0, 1)] == [0.4, 0.4]
    assert layers.opacity(0, "factual") == 0.6  # the other layer untouched
    handlers["next_colormap"]()
    assert layers.colormap("counterfactual") == "jet" and layers.colormap("factual") == "jet"  # after winter: first
    handlers["counterfactual1"](False)  # hidden everywhere: the keys act on the layer still seen
    assert layers.active == "factual"
    for _ in range(12):
        handlers["opacity_down"]()
    assert [layers.opacity(slot, "factual") for slot in (0, 1)] == [0.0, 0.0]  # never below 0
    handlers["factual0"](False)
    handlers["factual1"](False)
    handlers["opacity_up"]()
    assert commands.session.info.emit.call_args.args[0].endswith("hidden (1-4 shows a layer)")
    seen = []
    for _ in range(len(COLORMAPS)):
        handlers["next_colormap"]()
        seen.append(layers.colormap("factual"))
    assert sorted(seen) == sorted(COLORMAPS) and seen[-1] == "jet"  # every map once, round to the first


def test_show_anyway_by_key_is_a_deliberate_act_never_taken_while_typing(commands, view):
    session = commands.session
    session.shown_anyway = False
    session.not_assessed.return_value = True
    view.typing.return_value = True  # the note (or a field) has the keyboard: the key is refused, and said so
    commands.handlers()["show_anyway"]()
    session.set_shown_anyway.assert_not_called()
    assert "not taken while typing" in commands.problems.current()["show-anyway"]
    view.typing.return_value = False
    commands.handlers()["show_anyway"]()
    session.set_shown_anyway.assert_called_once_with(True)
    assert "show-anyway" not in commands.problems.current()
    session.shown_anyway = True
    commands.handlers()["show_anyway"]()  # pressed again: withheld again
    session.set_shown_anyway.assert_called_with(False)
    session.set_shown_anyway.reset_mock()
    session.not_assessed.return_value = False  # an assessed pair has nothing withheld
    commands.handlers()["show_anyway"]()
    session.set_shown_anyway.assert_not_called()
    session.info.emit.assert_called_with("Nothing is withheld: the pair shown is assessed")
