"""Rules that tests used to check on the whole window, checked on the models and presenters as gui.app wires them
(create_review), on a SyncRunner with the model's work faked (tests/gui/fakes.py) and autospec'd views: the same
assertions, no window, no model. What only the window can show (drawing, focus, layout) stays in the widget tests."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import create_autospec

import pytest

from core.review.worklist import Worklist
from gui.app import create_review
from gui.jobs import tasks
from gui.jobs.runner import SyncRunner
from gui.models.settings import open_settings
from gui.presenters.commands import CommandsView
from gui.presenters.similar import SimilarPresenter, SimilarView
from gui.presenters.worklist import WorklistPresenter, WorklistView

from .conftest import make_image
from .test_worklist_panel import make_cases


@pytest.fixture
def review(qapp, tmp_path, fake_model_work):
    """(review, commands, view): the models on a SyncRunner with the fake model loaded, the commands on a mock
    view whose dialogs are all cancelled."""
    review = create_review(open_settings(tmp_path / "settings.ini"), SyncRunner(), str(tmp_path / "review.sqlite"))
    view = create_autospec(CommandsView, instance=True)
    view.note_text.return_value = ""
    view.ask_report_path.return_value = None
    review.session.load_model(None, "cpu")
    yield review, review.commands(view), view
    review.close()


@pytest.fixture
def pictures(tmp_path):
    return [make_image(tmp_path / name, size, seed)
            for name, size, seed in (("a.png", (96, 72), 1), ("b.png", (80, 80), 2), ("c.jpg", (64, 96), 3))]


@pytest.mark.parametrize("kind, expected",
                         [("text", "notes.txt: not an image file"), ("folder", "is a folder"), ("three", "one or two")])
def test_bad_drops_explain_themselves(review, pictures, tmp_path, kind, expected):
    review, commands, _view = review
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    paths = {"text": [notes], "folder": [tmp_path], "three": pictures}[kind]
    commands.load_dropped([str(p) for p in paths])
    assert any(expected in text for text in review.problems.texts())
    assert review.session.images == [None, None]


def test_a_pair_dropped_over_a_pair_is_explained_once(review, pictures, fake_model_work, monkeypatch):
    review, commands, _view = review
    commands.load_dropped([str(pictures[0]), str(pictures[1])])
    asked = []
    monkeypatch.setattr(tasks, "explain", lambda *args: asked.append(args[1]) or fake_model_work.explain(*args))
    commands.load_dropped([str(pictures[2]), str(pictures[1])])
    assert len(asked) == 1 and [image.path for image in asked[0]] == [str(pictures[2]), str(pictures[1])]


def test_a_broken_model_file_keeps_the_previous_model(review, tmp_path, monkeypatch):
    review, _commands, _view = review
    before = review.session.model
    monkeypatch.undo()  # the real loader: it is what names the file and its problem
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a weights file")
    review.session.load_model(str(broken))
    text = "\n".join(review.problems.texts())
    assert review.session.model is before and "Model not changed" in text and "broken.pt" in text
    assert "not a Siamese Lens weights file" in text and "pickled" not in text


def test_the_first_export_dialog_opens_next_to_image_1(review, pictures):
    review, commands, view = review
    commands.load_dropped([str(pictures[0]), str(pictures[1])])
    commands.handlers()["export"]()
    suggested = Path(view.ask_report_path.call_args.args[0])
    assert suggested.parent == Path(pictures[0]).resolve().parent and suggested.name == "report_a_vs_b.png"


def test_the_similar_cases_highlight_follows_n_and_shift_n(review, pictures, monkeypatch):
    review, commands, _view = review
    hits = tuple({"rank": rank, "path": str(pictures[2]), "label": None, "similarity": 1 - rank / 10, "qimage": None}
                 for rank in (1, 2, 3, 4))
    monkeypatch.setattr(tasks, "similar", lambda _ws, gallery, image, _crop, _k: tasks.SimilarFound(
        image.path, gallery, hits, None, 4, False))
    view = create_autospec(SimilarView, instance=True)
    _presenter = SimilarPresenter(view, review.similar)  # held: Qt holds a bound slot's owner weakly
    commands.load_dropped([str(pictures[0]), str(pictures[1])])
    review.similar.set_gallery("/gallery")
    assert view.show_current.call_args.args == (0,)  # image 2 is not one of the cases
    for key, rank in (("next_hit", 1), ("next_hit", 2), ("next_hit", 3), ("previous_hit", 2)):
        commands.handlers()[key]()
        assert review.session.provenance[1]["rank"] == rank and view.show_current.call_args.args == (rank,)
    commands.load_dropped([str(pictures[1])], 1)  # image 2 by hand: no case highlighted
    assert view.show_current.call_args.args == (0,)


def _open_first_case(review, tmp_path, count):
    _images, pairs = make_cases(tmp_path, count=count)
    review.worklist.import_csv(str(pairs))
    review.worklist.open_case(0)
    assert review.session.explained is not None


def test_a_crop_drawn_on_a_case_is_saved_with_it(review, tmp_path):
    review, _commands, _view = review
    _open_first_case(review, tmp_path, count=2)
    store = tmp_path / "review.sqlite"
    review.session.set_crop(1, (4, 4, 50, 40))
    assert Worklist(store).cases()[0].crop2 == (4, 4, 50, 40)  # saved at once, seen by another connection
    review.worklist.open_case(1)
    review.worklist.open_case(0)
    assert review.session.crops[1] == (4, 4, 50, 40)
    review.session.set_crop(1, None)  # cleared: the whole image again
    assert Worklist(store).cases()[0].crop2 is None


def test_other_images_opened_over_a_case_leave_it(review, tmp_path, pictures):
    review, commands, _view = review
    _open_first_case(review, tmp_path, count=1)
    view = create_autospec(WorklistView, instance=True)
    _presenter = WorklistPresenter(view, review.worklist, review.session)  # held, as above
    commands.load_dropped([str(pictures[0]), str(pictures[2])])
    assert review.worklist.current == -1 and view.show_current.call_args.args == (-1,)  # no longer what is shown
    review.pair.save_note("about the other pair")
    other = Worklist(tmp_path / "review.sqlite")
    assert (other.latest_result(other.cases()[0].id) or {}).get("reviewer_note") != "about the other pair"


def test_a_failed_explanation_is_a_problem_and_a_later_success_withdraws_it(review, pictures, fake_model_work,
                                                                             monkeypatch):
    review, commands, _view = review
    commands.load_dropped([str(pictures[0]), str(pictures[1])])

    def fails(*_args):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(tasks, "explain", fails)
    commands.handlers()["explain"]()
    assert review.session.explained is None and any("simulated failure" in t for t in review.problems.texts())
    monkeypatch.setattr(tasks, "explain", fake_model_work.explain)
    commands.handlers()["explain"]()
    assert review.session.explained is not None
    assert not any("simulated failure" in t for t in review.problems.texts())


def test_a_missing_image_is_a_problem_of_its_slot_like_a_bad_one(review, tmp_path):
    """Missing and unreadable files are treated alike: each slot says what is wrong with its file."""
    review, _commands, _view = review
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    review.session.open_paths([str(tmp_path / "missing.png"), str(bad)])
    texts = review.problems.texts()
    assert len(texts) == 2 and "missing.png: no such image file" in "\n".join(texts) and "bad.png" in texts[1]


def test_a_note_typed_before_the_second_image_stays_with_the_pair(review, pictures):
    review, commands, _view = review
    commands.load_dropped([str(pictures[0])], 0)
    shown = []
    review.pair.note_loaded.connect(shown.append)
    review.pair.save_note("left arm")  # the window saves every keystroke
    commands.load_dropped([str(pictures[1])], 1)
    assert review.pair.store.get(review.pair.identity.key) == "left arm"
    assert shown == [] and review.pair.note == "left arm"  # nothing replaced what was typed


def test_a_changed_image_is_shown_and_its_score_not_recorded(review, tmp_path):
    review, _commands, _view = review
    images, pairs = make_cases(tmp_path, count=1)
    view = create_autospec(WorklistView, instance=True)
    _presenter = WorklistPresenter(view, review.worklist, review.session)  # held: Qt holds slots' owners weakly
    review.worklist.import_csv(str(pairs))
    make_image(images[1], (80, 72), 99)  # the file changes after import
    review.worklist.open_case(0)
    _path, rows, _current = view.show_cases.call_args.args
    assert rows[0][4].endswith(" · changed since import")
    assert "changed since import" in "".join(review.problems.texts())
    assert review.worklist.store.latest_result(review.worklist.cases[0].id) is None


def test_an_unreadable_notes_file_is_one_problem_and_left_as_it_is(tmp_path):
    """pair-notes.sqlite that is not a database: the review opens (the notes kept for this run), the problem bar
    names the file, and the file is not overwritten."""
    notes = tmp_path / "pair-notes.sqlite"
    notes.write_bytes(b"not a database " * 20)
    review = create_review(open_settings(tmp_path / "settings.ini"), SyncRunner(), str(tmp_path / "review.sqlite"))
    try:
        assert any(str(notes) in text and "until the app closes" in text for text in review.problems.texts())
        review.pair.store.put("a:b", "a note")
        assert review.pair.store.get("a:b") == "a note"
    finally:
        review.close()
    assert notes.read_bytes() == b"not a database " * 20
