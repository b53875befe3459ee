"""A reviewer's whole day on the models and the presenter, without a widget or a model: the workstation as
gui.app.create_review wires it, on a SyncRunner, the model's work replaced by fake tasks (images are really
loaded: small PNGs). Open a pair, crop, undo, swap, export with a refused field, agree, open a worklist case, swap
it, follow up, export; then quit and find everything typed and decided again (issue #31)."""

from __future__ import annotations

import json
from unittest.mock import create_autospec

from gui.app import create_review
from gui.jobs.runner import SyncRunner
from gui.models.settings import open_settings
from gui.presenters.commands import CommandsView

from .conftest import make_image


def _workstation(tmp_path):
    review = create_review(open_settings(tmp_path / "settings.ini"), SyncRunner(), str(tmp_path / "worklist.sqlite"))
    view = create_autospec(CommandsView, instance=True)
    view.note_text.return_value = ""
    commands = review.commands(view)
    review.session.load_model(None, "cpu")
    return review, view, commands


def test_a_reviewers_day(qapp, tmp_path, fake_model_work):
    fake = fake_model_work
    a, b, c = (make_image(tmp_path / name, (64, 48), seed) for name, seed in (("a.png", 1), ("b.png", 2),
                                                                            ("c.png", 3)))
    review, view, commands = _workstation(tmp_path)
    session, record = review.session, review.case_record
    # a pair dropped: loaded and explained at once (SyncRunner)
    commands.load_dropped([str(a), str(b)])
    assert session.explained is not None and review.pair.identity.key is not None
    # a crop, undone
    session.set_crop(0, (4, 4, 40, 30))
    assert session.crops[0] == (4, 4, 40, 30) and session.explained.images[0].crop == (4, 4, 40, 30)
    session.undo()
    assert session.crops[0] is None
    # typed, swapped: the same pair, what was typed stays
    assert record.set_field("patient_id", "PSN-1") == ""
    assert record.set_field(0, "2026-02-20") == ""  # image 1 (a) taken then
    key = review.pair.identity.key
    commands.handlers()["swap"]()
    assert [ready.image.path for ready in session.images] == [str(b), str(a)]
    assert review.pair.identity.key == key and record.record.patient_id == "PSN-1"
    assert record.record.acquired == ("", "2026-02-20")  # the date went with its image
    # a refused date blocks the export; corrected, the report carries it and the reviewer's assessment
    assert record.set_field(0, "2026-02-30")  # image 1 (b)
    report = tmp_path / "pair.png"
    assert commands.export_report_to(str(report)) is False and not report.exists()
    assert any("correct the case record" in text for text in review.problems.texts())
    assert record.set_field(0, "2026-02-27") == ""
    commands.handlers()["disagree"]()
    assert commands.export_report_to(str(report)) is True
    facts = json.loads(report.read_text())
    assert facts["record"]["patient_id"] == "PSN-1" and facts["record"]["acquired"] == ["2026-02-27", "2026-02-20"]
    assert facts["reviewer_verdict"] == "disagree"
    # a worklist case: its own record; edits go to the worklist
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image1,image2,case_id,kind\n{a},{c},C-7,followup\n")
    review.worklist.import_csv(str(pairs))
    review.worklist.open_case(0)
    assert review.pair.identity.case is not None and record.record.case_id == "C-7"
    assert review.followup.result is not None  # a follow-up case is aligned once explained
    assert record.set_field("body_site", "left scapula") == ""
    assert review.worklist.store.cases()[0].body_site == "left scapula"
    review.followup.set_assessment("stable, compare in 6 months")  # the case's follow-up assessment, kept with it
    # the case swapped is another pair: the case is left, its record with it, and nothing typed reaches it
    commands.handlers()["swap"]()
    assert review.worklist.current == -1 and record.record.case_id == ""
    assert review.followup.assessment == ""  # the case's assessment stays with the case
    assert record.set_field("body_site", "right arm") == ""
    assert review.worklist.store.cases()[0].body_site == "left scapula"
    # a follow-up of the pair shown, refused on a bad date like the pair's report, then written
    commands.handlers()["followup"]()
    followup = review.followup  # the reviewer's choices are the model's: a new mode or pixel size redoes it
    followup.set_mode("similarity")
    assert followup.result.mode == "similarity" and followup.result.pixel_size_mm is None
    followup.set_pixel_size("0,02")
    assert followup.result.pixel_size_mm == 0.02
    followup.set_pixel_size("a lot")
    assert any("Pixel size 'a lot'" in text for text in review.problems.texts())
    assert followup.result.pixel_size_mm == 0.02  # not redone with a size that is not one
    followup.set_pixel_size("")
    followup.set_assessment("grew: excise")
    assert record.set_field(0, "2026-01-30") == ""
    assert followup.interval_days() is None  # one date only
    assert record.set_field(1, "yesterday")
    assert commands.export_followup_to(str(tmp_path / "f.png")) is False and fake.followup_exports == []
    assert record.set_field(1, "2026-03-01") == ""
    assert commands.export_followup_to(str(tmp_path / "f.png")) is True
    assert fake.followup_exports[0]["record"].acquired == ("2026-01-30", "2026-03-01")
    assert fake.followup_exports[0]["assessment"] == "grew: excise" and followup.interval_days() == 30
    commands.load_dropped([str(b), str(c)])  # another pair: the assessment typed for the last one is gone
    assert followup.assessment == ""
    assert fake.followup_exports[0]["record"].body_site == "right arm"
    review.close()
    # the next day: the first pair's record and assessment are back, in either order
    review, view, commands = _workstation(tmp_path)
    commands.load_dropped([str(a), str(b)])
    assert review.case_record.record.patient_id == "PSN-1"
    assert review.case_record.record.acquired == ("2026-02-20", "2026-02-27")  # each date with its image
    assert commands.reviewer_verdict() == "disagree"
    # what was typed in the follow-up panel too: the one-off pair's, and the case's (it was lost with another pair)
    commands.load_dropped([str(a), str(c)])
    assert review.followup.assessment == "grew: excise"
    review.worklist.open_case(0)
    assert review.followup.assessment == "stable, compare in 6 months"
    review.close()


def test_a_pixel_size_typed_for_one_lesion_never_measures_the_next(qapp, tmp_path, fake_model_work):
    """The pixel size typed in the follow-up panel stayed for every pair opened after: the next lesion's follow-up
    (another dermatoscope, another magnification) was measured in mm by it, and it won over a DICOM file's own
    spacing. It belongs to the pair it was typed for."""
    a, b, c = (make_image(tmp_path / name, (64, 48), seed) for name, seed in (("a.png", 1), ("b.png", 2),
                                                                            ("c.png", 3)))
    review, _view, commands = _workstation(tmp_path)
    commands.load_dropped([str(a), str(b)])
    commands.handlers()["followup"]()
    review.followup.set_pixel_size("0.02")
    assert review.followup.result.pixel_size_mm == 0.02
    commands.load_dropped([str(b), str(c)])  # another lesion
    assert review.followup.pixel_size_text == "" and review.followup.pixel_size_mm() is None
    commands.handlers()["followup"]()
    assert review.followup.result.pixel_size_mm is None
    review.close()


def test_a_pixel_size_typed_for_a_pair_comes_back_with_that_pair_only(qapp, tmp_path, fake_model_work):
    """The pixel size typed for a pair had to be typed again each time the pair (or the worklist case) was opened.
    It is kept with the pair, as its follow-up assessment is: back when the pair opens again, that day or the next,
    never on another pair, nor on the pair opened the other way round (its baseline is the other photograph)."""
    a, b, c, d = (make_image(tmp_path / name, (64, 48), seed) for name, seed in (("a.png", 1), ("b.png", 2),
                                                                               ("c.png", 3), ("d.png", 4)))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image1,image2,case_id,kind\n{c},{d},C-1,followup\n{a},{d},C-2,followup\n")
    review, _view, commands = _workstation(tmp_path)
    followup = review.followup
    commands.load_dropped([str(a), str(b)])
    followup.set_pixel_size("0,02")
    commands.load_dropped([str(b), str(c)])  # another pair: cleared (the earlier fix)
    assert followup.pixel_size_text == ""
    commands.load_dropped([str(a), str(b)])  # the first again: its size is back, and measures its follow-up
    assert followup.pixel_size_text == "0,02"
    commands.handlers()["followup"]()
    assert followup.result.pixel_size_mm == 0.02
    commands.handlers()["swap"]()  # b is the baseline now: a's size is not b's
    assert followup.pixel_size_text == ""
    commands.handlers()["swap"]()
    assert followup.pixel_size_text == "0,02"
    followup.set_pixel_size("a lot")  # not a size: refused, and never kept
    review.worklist.import_csv(str(pairs))
    review.worklist.open_case(0)
    assert followup.pixel_size_text == ""
    followup.set_pixel_size("0.05")
    assert followup.result.pixel_size_mm == 0.05  # the case's follow-up redone with it
    review.worklist.open_case(1)
    assert followup.pixel_size_text == ""  # another case
    review.worklist.open_case(0)
    assert followup.pixel_size_text == "0.05"
    review.close()
    review, _view, commands = _workstation(tmp_path)  # the next day
    review.worklist.open_case(0)
    assert review.followup.pixel_size_text == "0.05" and review.followup.result.pixel_size_mm == 0.05
    commands.load_dropped([str(a), str(b)])
    assert review.followup.pixel_size_text == "0,02"
    commands.load_dropped([str(b), str(a)])
    assert review.followup.pixel_size_text == ""
    review.close()


def test_a_plain_pair_the_reviewer_followed_up_is_listed_by_what_changed(qapp, tmp_path, fake_model_work):
    """A case imported as a pair (a lesion's two visits, no `kind` column) that the reviewer aligned with Ctrl+U
    stayed listed as "similar · P 88 %" beside "area +63 %: beyond measurement uncertainty": read as unchanged.
    Once its own visits were compared it is listed by what changed; a follow-up that could not align them leaves
    the model's verdict."""
    a, b = (make_image(tmp_path / name, (64, 48), seed) for name, seed in (("a.png", 1), ("b.png", 2)))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"image1,image2,case_id\n{a},{b},C-913\n")
    review, _view, _commands = _workstation(tmp_path)
    worklist = review.worklist
    worklist.import_csv(str(pairs))
    worklist.open_case(0)
    verdict = worklist.rows()[0][2]
    assert verdict.split(" · ")[0] in ("similar", "different", "inconclusive", "not assessed")
    refused = {"comparable": False, "change_headline": "not registered",
               "change_brief": ["not compared", "not aligned"]}
    worklist.save_followup_change([str(a), str(b)], refused)
    assert worklist.rows()[0][2] == verdict
    grew = {"comparable": True, "change_headline": "area +63 % +- 11 %: beyond measurement uncertainty",
            "change_brief": ["changed", "area +63 %"]}
    worklist.save_followup_change([str(b), str(a)], grew)  # not the case's visits in its order: not its finding
    assert worklist.rows()[0][2] == verdict
    worklist.save_followup_change([str(a), str(b)], grew)
    assert worklist.rows()[0][2] == "changed · area +63 %"
    review.close()
