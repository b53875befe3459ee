"""The review models driven without any window: the session's rules (crops, undo, swap, problems withdrawn by a
later success, superseded work never shown) and the layer states' events.

The rules run on a SyncRunner with the model's work faked (tests/gui/fakes.py), so each call has finished its work
(and emitted its signals) when it returns, in milliseconds; one test keeps the real runner thread and the tiny
model, for the signals that cross it."""

from __future__ import annotations

import pytest

from core.explain.refine import REFINED_METHOD
from core.vocabulary import DEFAULT_METHOD, METHODS
from gui.jobs.runner import Runner, SyncRunner
from gui.models.layers import LayerStates
from gui.models.session import ReviewSession

from .conftest import TIMEOUT_MS


@pytest.fixture
def session(qapp, fake_model_work):
    """The session's rules on a SyncRunner, the model's work faked (tests/gui/fakes.py): no weights, no waiting."""
    review = ReviewSession(SyncRunner())
    review.load_model(None, "cpu")
    assert review.model is not None
    return review


@pytest.fixture
def threaded_session(qtbot, tiny_weights):
    runner = Runner()
    runner.start()
    review = ReviewSession(runner)
    with qtbot.waitSignal(review.model_changed, timeout=TIMEOUT_MS):
        review.load_model(str(tiny_weights), "cpu")
    yield review
    runner.stop()


def _recorded(signal) -> list:
    events = []
    signal.connect(lambda *args: events.append(args))
    return events


def _open_pair(session, images):
    session.open_paths([str(images[0]), str(images[1])])
    assert session.explained is not None
    return session.explained


def test_a_pair_is_explained_once_both_images_arrived_and_signals_carry_values(qtbot, threaded_session, images):
    session, arrived = threaded_session, []
    session.image_changed.connect(lambda slot, ready: arrived.append((slot, ready.image.path)))
    with qtbot.waitSignal(session.explanation_changed, check_params_cb=lambda e: e is not None, timeout=TIMEOUT_MS):
        session.open_paths([str(images[0]), str(images[1])])
    explained = session.explained
    assert sorted(arrived) == [(0, str(images[0])), (1, str(images[1]))]
    assert [image.path for image in explained.images] == [str(images[0]), str(images[1])]
    assert 0.0 <= explained.explanation.similarity <= 1.0


@pytest.fixture
def deferred(qapp, fake_model_work):
    """A session whose jobs wait until the test runs them: what is still loading when a result arrives is chosen."""
    review = ReviewSession(SyncRunner(defer=True))
    review.load_model(None, "cpu")
    review.runner.run_pending()
    assert review.model is not None
    return review


def test_a_new_pair_is_explained_once_not_half_replaced(deferred, images):
    session = deferred
    session.open_paths([str(images[0]), str(images[1])])
    session.runner.run_pending()
    shown = _recorded(session.explanation_changed)
    session.open_paths([str(images[2]), str(images[0])])
    session.runner.run_next()  # the new image 1 arrives while the new image 2 is still on its way
    assert session.images[0].image.path == str(images[2]) and session.runner.is_pending(("image", 1))
    assert not session.runner.is_pending("explain")  # (new 1, old 2) is no pair anyone asked for
    session.runner.run_pending()
    explained = [args[0] for args in shown if args[0] is not None]
    assert [e.explanation.method for e in explained] == [DEFAULT_METHOD, REFINED_METHOD]  # explained once, then refined
    assert all([i.path for i in e.images] == [str(images[2]), str(images[0])] for e in explained)
    assert session.faithfulness is not None  # measured after the maps, for the maps shown


def test_a_replacement_that_fails_to_load_leaves_the_pair_measured(deferred, images, tmp_path):
    session = deferred
    session.open_paths([str(images[0]), str(images[1])])
    while session.explained is None:
        session.runner.run_next()
    explained = session.explained  # its refinement and faithfulness are queued, not yet run
    session.open_image(0, tmp_path / "missing.png")  # cancels them: the pair may be replaced
    session.runner.run_pending()
    assert session.explained.images == explained.images and session.faithfulness is not None
    assert session.explained.explanation.method == REFINED_METHOD  # refined after all, then measured


def test_the_default_maps_are_refined_in_the_background_and_the_refined_maps_are_measured(deferred, images,
                                                                                         fake_model_work):
    session = deferred
    shown = _recorded(session.explanation_changed)
    session.open_paths([str(images[0]), str(images[1])])
    while session.explained is None:
        session.runner.run_next()
    first = session.explained
    assert first.explanation.method == DEFAULT_METHOD and session.runner.is_pending("refine")
    session.runner.run_pending()
    assert session.explained is not first and session.explained.explanation.method == REFINED_METHOD
    assert fake_model_work.refined == [first] and fake_model_work.measured == [session.explained]
    assert [args[0] for args in shown if args[0] is not None] == [first, session.explained]


def test_a_new_pair_cancels_the_old_refinement_and_a_chosen_method_is_not_refined(deferred, images,
                                                                                  fake_model_work):
    session = deferred
    session.open_paths([str(images[0]), str(images[1])])
    while session.explained is None:
        session.runner.run_next()
    session.open_paths([str(images[2]), str(images[0])])  # before the first pair's refinement ran
    session.runner.run_pending()
    assert [[i.path for i in e.images] for e in fake_model_work.refined] == [[str(images[2]), str(images[0])]]
    session.set_method("attention")
    session.runner.run_pending()
    assert session.explained.explanation.method == "attention" and len(fake_model_work.refined) == 1
    assert fake_model_work.measured[-1] is session.explained


def test_crop_undo_redo_and_the_minimum_crop(session, images):
    _open_pair(session, images)
    crops, errors = _recorded(session.crop_changed), _recorded(session.error)
    session.set_crop(0, (4, 4, 40, 30))
    explained = session.explained
    assert explained.images[0].crop == (4, 4, 40, 30) and crops == [(0, (4, 4, 40, 30), False)]
    session.set_crop(0, (0, 0, 10, 40))  # too narrow to show the network anything
    assert session.crops[0] == (4, 4, 40, 30) and session.explained is explained
    assert errors and errors[-1][0] == "crop" and "at least 16 px" in errors[-1][1] and "not applied" in errors[-1][1]
    session.undo()
    assert session.crops == [None, None] and session.history.can_redo
    assert session.explained.images[0].crop is None
    session.redo()
    assert session.crops[0] == (4, 4, 40, 30) and session.explained.images[0].crop == (4, 4, 40, 30)


def test_swap_exchanges_images_crops_and_history(session, images):
    _open_pair(session, images)
    session.set_crop(1, (2, 2, 30, 30))
    session.swap()
    assert [image.path for image in session.explained.images] == [str(images[1]), str(images[0])]
    assert session.crops == [(2, 2, 30, 30), None]
    session.undo()
    assert session.crops == [None, None] and session.explained.images[0].crop is None


def test_a_problem_is_withdrawn_when_its_source_next_succeeds(session, images, tmp_path):
    errors, cleared = _recorded(session.error), _recorded(session.error_cleared)
    session.open_image(0, str(tmp_path / "missing.png"))
    assert errors[-1][0] == "image 1" and "missing.png: no such image file" in errors[-1][1]
    assert ("image 1",) not in cleared
    session.open_image(0, str(images[0]))
    assert ("image 1",) in cleared


def test_method_changes_are_announced_and_re_explain(session, images):
    first = _open_pair(session, images)
    methods = _recorded(session.method_changed)
    session.next_method()
    second = session.explained
    after = METHODS[METHODS.index(DEFAULT_METHOD) + 1]  # M cycles the vocabulary's order
    assert methods == [(after,)] and second.explanation.method == after and second is not first
    session.set_method("no-such-method")
    assert session.method == after


def test_layer_states_emit_only_real_changes(qtbot):
    layers = LayerStates()
    events = []
    layers.changed.connect(lambda *args: events.append(args))
    layers.set_visible(0, "factual", layers.visible(0, "factual"))  # no change, no event
    layers.set_opacity(1, "counterfactual", 1.7)  # clamped
    layers.set_visible(1, "factual", False)
    assert events == [(1, "counterfactual", False, 1.0), (1, "factual", False, 0.5)]
    assert layers.shown()[1] == {"factual": 0.0, "counterfactual": 0.0}
    assert layers.colormap("factual") != layers.colormap("counterfactual")  # both on, still told apart
    with pytest.raises(ValueError):
        layers.set_colormap("factual", "rainbow-unicorn")


def test_a_new_pair_stops_the_faithfulness_measurement_of_the_old_one(qtbot, fake_model_work, images, monkeypatch):
    """One runner thread: a measurement still running for the shown pair must not hold the next pair's images
    back (the app cancels it when a new image is asked for, and the measurement stops between its batches)."""
    from gui.jobs import tasks

    started, outcome = [], []

    def slow_faithfulness(ws, explained):
        started.append(explained)
        outcome.append(ws.stop.wait(timeout=30))  # as a long measurement checks its stop flag between batches
        raise RuntimeError("stopped")

    monkeypatch.setattr(tasks, "faithfulness", slow_faithfulness)
    runner = Runner()
    runner.start()
    try:
        session = ReviewSession(runner)
        with qtbot.waitSignal(session.model_changed, timeout=TIMEOUT_MS):
            session.load_model(None, "cpu")
        with qtbot.waitSignal(session.explanation_changed, check_params_cb=lambda e: e is not None,
                              timeout=TIMEOUT_MS):
            session.open_paths([str(images[0]), str(images[1])])
        qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT_MS)
        with qtbot.waitSignal(session.explanation_changed, check_params_cb=lambda e: e is not None, timeout=10_000):
            session.open_paths([str(images[1]), str(images[0])])
        assert outcome[0] is True  # stopped by the new pair, not by its own timeout
        assert str(session.images[0].image.path).endswith(images[1].name)
    finally:
        runner.stop()


def test_a_superseded_explanation_is_never_shown(deferred, images):
    """A crop redrawn while the explanation of the previous one is pending: only the latest one is shown."""
    deferred.open_paths([str(images[0]), str(images[1])])
    deferred.runner.run_pending()
    shown = _recorded(deferred.explanation_changed)
    deferred.set_crop(0, (0, 0, 40, 40))
    deferred.set_crop(0, (8, 8, 48, 48))  # ...superseded before it ran
    deferred.runner.run_pending()
    crops = [args[0].images[0].crop for args in shown if args[0] is not None]
    assert crops == [(8, 8, 48, 48)] * 2  # its first maps, then their background refinement
