"""Runner: plain functions run off the GUI thread, superseded or cancelled jobs never deliver, exceptions become
one line for the caller and do not kill the thread. SyncRunner: the same rules and order, on the calling thread."""

from __future__ import annotations

import threading
import time

import pytest

from gui.jobs.runner import Runner, SyncRunner


def sleep_then(_ws, seconds: float, value):
    time.sleep(seconds)
    return value, threading.current_thread() is threading.main_thread()


def fail(_ws):
    raise RuntimeError("boom\nsecond line")


def wait_for_cancel(ws):
    deadline = time.monotonic() + 5
    while not ws.stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    return ws.stop.is_set()


def _runner() -> Runner:
    runner = Runner()
    runner.start()
    return runner


def test_only_the_latest_job_per_key_delivers(qtbot):
    runner, delivered = _runner(), []
    try:
        with qtbot.waitSignal(runner.busy, check_params_cb=lambda busy: not busy, timeout=5000):
            runner.submit("a", sleep_then, 0.2, "first", on_result=lambda r: delivered.append(("a", r[0])))
            runner.submit("b", sleep_then, 0.0, "queued", on_result=lambda r: delivered.append(("b", r[0])))
            runner.submit("b", sleep_then, 0.0, "newest", on_result=lambda r: delivered.append(("b", r[0])))
    finally:
        runner.stop()
    assert delivered == [("a", "first"), ("b", "newest")]


def test_a_result_superseded_while_running_is_dropped(qtbot):
    runner, delivered = _runner(), []
    try:
        with qtbot.waitSignal(runner.started, timeout=5000):
            runner.submit("k", sleep_then, 0.3, "old", on_result=lambda r: delivered.append(r[0]))
        with qtbot.waitSignal(runner.busy, check_params_cb=lambda busy: not busy, timeout=5000):
            runner.submit("k", sleep_then, 0.0, "new", on_result=lambda r: delivered.append(r[0]))
    finally:
        runner.stop()
    assert delivered == ["new"]


def test_jobs_run_on_the_runner_thread_and_errors_do_not_kill_it(qtbot):
    runner, errors, results = _runner(), [], []
    try:
        with qtbot.waitSignal(runner.busy, check_params_cb=lambda busy: not busy, timeout=5000):
            runner.submit("x", fail, on_error=errors.append)
            runner.submit("y", sleep_then, 0.0, 7, on_result=results.append)
    finally:
        runner.stop()
    assert errors == ["RuntimeError: boom"] and results == [(7, False)]  # not the main thread


def test_cancel_stops_a_running_job_and_silences_it(qtbot):
    runner, delivered = _runner(), []
    try:
        with qtbot.waitSignal(runner.started, timeout=5000):
            runner.submit("long", wait_for_cancel, on_result=delivered.append)
        assert runner.is_pending("long")
        with qtbot.waitSignal(runner.busy, check_params_cb=lambda busy: not busy, timeout=5000):
            runner.cancel("long")
    finally:
        runner.stop()
    assert delivered == [] and not runner.is_pending("long")


def test_the_synchronous_runner_delivers_before_submit_returns_on_the_calling_thread():
    runner, results, errors, busy = SyncRunner(), [], [], []
    runner.busy.connect(busy.append)
    runner.submit("y", sleep_then, 0.0, 7, on_result=results.append)
    assert results == [(7, True)] and busy == [True, False] and not runner.is_pending("y")  # the main thread
    runner.submit("x", fail, on_error=errors.append)
    assert errors == ["RuntimeError: boom"]


def test_a_job_submitted_from_a_callback_runs_after_it_and_only_the_latest_per_key_delivers():
    runner, events = SyncRunner(), []
    runner.started.connect(lambda key, label: events.append(("started", key, label)))

    def first_returned(value):
        events.append(("returned", value))
        runner.submit("b", sleep_then, 0.0, "queued", label="b1", on_result=lambda r: events.append(("b", r[0])))
        runner.submit("b", sleep_then, 0.0, "newest", label="b2", on_result=lambda r: events.append(("b", r[0])))
        runner.submit("c", sleep_then, 0.0, "cancelled", label="c", on_result=lambda r: events.append(("c", r[0])))
        runner.cancel("c")
        events.append(("callback done",))

    runner.submit("a", sleep_then, 0.0, "first", label="a", on_result=lambda r: first_returned(r[0]))
    assert events == [("started", "a", "a"), ("returned", "first"), ("callback done",), ("started", "b", "b2"),
                      ("b", "newest")]


def test_a_deferred_runner_supersedes_queued_work_and_a_raising_callback_leaves_nothing_queued():
    runner, events, busy = SyncRunner(defer=True), [], []
    runner.busy.connect(busy.append)
    runner.submit("a", sleep_then, 0.0, "old", on_result=lambda r: events.append(r[0]))
    runner.submit("a", sleep_then, 0.0, "new", on_result=lambda r: events.append(r[0]))
    assert events == [] and runner.is_pending("a")  # nothing runs until the test says so
    runner.run_pending()
    assert events == ["new"] and busy == [True, False]

    def explode(_result):
        raise ValueError("a callback's bug")

    runner.submit("x", sleep_then, 0.0, 1, on_result=explode)
    runner.submit("y", sleep_then, 0.0, 2, on_result=lambda r: events.append(r[0]))
    with pytest.raises(ValueError):
        runner.run_pending()
    assert not runner.is_pending("y") and busy[-1] is False and not runner.run_next()


def test_closing_during_a_follow_up_stops_it_at_its_next_stage(tiny_model, monkeypatch):
    """Quitting while a follow-up registers: the runner's stop flag reaches core.followup.visits, which stops
    before measuring, so the thread ends within the second Runner.stop is given here (STOP_WAIT_S is 0.5 s)."""
    import cv2
    import numpy as np
    from PIL import Image

    import core.followup.visits as visits
    from core.io.images import from_pil
    from gui.jobs import tasks

    registering, measured, delivered = threading.Event(), [], []
    real_register = visits.register

    def slow_register(*args, **kwargs):
        registering.set()
        time.sleep(0.3)  # the window closes meanwhile
        return real_register(*args, **kwargs)

    monkeypatch.setattr(visits, "register", slow_register)
    monkeypatch.setattr(visits, "measure", lambda *a, **k: measured.append(1))
    rgb = np.full((96, 96, 3), (215, 170, 160), np.uint8)
    cv2.circle(rgb, (48, 48), 16, (90, 50, 30), -1)
    visit = from_pil(Image.fromarray(rgb))
    runner = _runner()
    runner.workspace.model = tiny_model
    runner.submit("followup", tasks.followup, (visit, visit), None, on_result=delivered.append,
                  on_error=delivered.append)
    assert registering.wait(5)
    assert runner.stop(wait_s=1.0) is True  # the thread has ended
    assert measured == [] and delivered == []
