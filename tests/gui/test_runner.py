"""ModelRunner: jobs run off the GUI thread, superseded jobs are skipped, exceptions become signals."""

from __future__ import annotations

import threading
import time

from gui.runner import Job, ModelRunner


class FakeRunner(ModelRunner):
    """The real runner with two extra job kinds that need no model."""

    def _job_sleep(self, seconds: float, value):
        time.sleep(seconds)
        return (value, threading.current_thread() is threading.main_thread())

    def _job_fail(self):
        raise RuntimeError("boom\nsecond line")


def _runner(qtbot) -> FakeRunner:
    runner = FakeRunner()
    runner.start()
    return runner


def test_queued_job_superseded_for_its_key_is_skipped(qtbot):
    runner = _runner(qtbot)
    returned = []
    runner.returned.connect(lambda key, gen, result: returned.append((key, gen, result[0])))
    try:
        with qtbot.waitSignal(runner.busy, check_params_cb=lambda busy: not busy, timeout=5000):
            runner.submit(Job("a", 1, "sleep", {"seconds": 0.2, "value": "first"}))
            runner.submit(Job("b", 2, "sleep", {"seconds": 0.0, "value": "queued"}))
            runner.submit(Job("b", 3, "sleep", {"seconds": 0.0, "value": "newest"}))
    finally:
        runner.stop()
    assert returned == [("a", 1, "first"), ("b", 3, "newest")]


def test_jobs_run_on_the_runner_thread_and_errors_do_not_kill_it(qtbot):
    runner = _runner(qtbot)
    try:
        with qtbot.waitSignal(runner.errored, timeout=5000) as error:
            runner.submit(Job("x", 1, "fail"))
        assert error.args == ["x", 1, "RuntimeError: boom"]
        with qtbot.waitSignal(runner.returned, timeout=5000) as result:
            runner.submit(Job("x", 2, "sleep", {"seconds": 0.0, "value": 7}))
        assert result.args[2] == (7, False)  # not the main thread
    finally:
        runner.stop()
