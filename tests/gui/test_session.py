"""The review models driven without any window: the session's rules (crops, undo, swap, problems withdrawn by a
later success, superseded work never shown) and the layer states' events."""

from __future__ import annotations

import pytest

from gui.layers import LayerStates
from gui.runner import Runner
from gui.session import ReviewSession

from .conftest import TIMEOUT_MS


@pytest.fixture
def session(qtbot, tiny_weights):
    runner = Runner()
    runner.start()
    review = ReviewSession(runner)
    with qtbot.waitSignal(review.model_changed, timeout=TIMEOUT_MS):
        review.load_model(str(tiny_weights), "cpu")
    yield review
    runner.stop()


def _explained(qtbot, session, action):
    with qtbot.waitSignal(session.explanation_changed, check_params_cb=lambda e: e is not None, timeout=TIMEOUT_MS):
        action()
    return session.explained


def test_a_pair_is_explained_once_both_images_arrived_and_signals_carry_values(qtbot, session, images):
    arrived = []
    session.image_changed.connect(lambda slot, ready: arrived.append((slot, ready.image.path)))
    explained = _explained(qtbot, session, lambda: session.open_paths([str(images[0]), str(images[1])]))
    assert sorted(arrived) == [(0, str(images[0])), (1, str(images[1]))]
    assert [image.path for image in explained.images] == [str(images[0]), str(images[1])]
    assert 0.0 <= explained.explanation.similarity <= 1.0


def test_crop_undo_redo_and_the_minimum_crop(qtbot, session, images):
    _explained(qtbot, session, lambda: session.open_paths([str(images[0]), str(images[1])]))
    crops, errors = [], []
    session.crop_changed.connect(lambda slot, box, automatic: crops.append((slot, box, automatic)))
    session.error.connect(lambda source, text: errors.append((source, text)))
    explained = _explained(qtbot, session, lambda: session.set_crop(0, (4, 4, 40, 30)))
    assert explained.images[0].crop == (4, 4, 40, 30) and crops == [(0, (4, 4, 40, 30), False)]
    session.set_crop(0, (0, 0, 10, 40))  # too narrow to show the network anything
    assert session.crops[0] == (4, 4, 40, 30) and session.explained is explained
    assert errors and errors[-1][0] == "crop" and "at least 16 px" in errors[-1][1] and "not applied" in errors[-1][1]
    _explained(qtbot, session, session.undo)
    assert session.crops == [None, None] and session.history.can_redo
    _explained(qtbot, session, session.redo)
    assert session.crops[0] == (4, 4, 40, 30)


def test_swap_exchanges_images_crops_and_history(qtbot, session, images):
    _explained(qtbot, session, lambda: session.open_paths([str(images[0]), str(images[1])]))
    _explained(qtbot, session, lambda: session.set_crop(1, (2, 2, 30, 30)))
    explained = _explained(qtbot, session, session.swap)
    assert [image.path for image in explained.images] == [str(images[1]), str(images[0])]
    assert session.crops == [(2, 2, 30, 30), None]
    _explained(qtbot, session, session.undo)
    assert session.crops == [None, None]


def test_a_problem_is_withdrawn_when_its_source_next_succeeds(qtbot, session, images, tmp_path):
    with qtbot.waitSignal(session.error, timeout=TIMEOUT_MS) as failed:
        session.open_image(0, str(tmp_path / "missing.png"))
    assert failed.args[0] == "image 1" and "missing.png: no such file" in failed.args[1]
    with qtbot.waitSignal(session.error_cleared, check_params_cb=lambda source: source == "image 1",
                          timeout=TIMEOUT_MS):
        session.open_image(0, str(images[0]))


def test_method_changes_are_announced_and_re_explain(qtbot, session, images):
    first = _explained(qtbot, session, lambda: session.open_paths([str(images[0]), str(images[1])]))
    with qtbot.waitSignal(session.method_changed, timeout=TIMEOUT_MS) as changed:
        second = _explained(qtbot, session, session.next_method)
    assert changed.args == ["attention"] and second.explanation.method == "attention" and second is not first
    session.set_method("no-such-method")
    assert session.method == "attention"


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
