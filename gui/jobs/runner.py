"""The workstation's one job thread, and the one place where requests are superseded.

`submit(key, fn, *args, on_result=..., on_error=...)` runs `fn(workspace, *args)` on the runner's thread (the
functions live in gui.jobs.tasks). Each key (the view a result feeds: "explain", ("image", 0), ...) has a latest
generation: a queued job whose key has since been submitted again is skipped, and a result or error that is no
longer the latest is dropped here, on the GUI thread, so callers only ever hear about current work. A job's
exception never reaches Qt: it becomes one line for `on_error`, and the runner takes the next job.

The review models depend on `JobRunner`, not on the thread: `SyncRunner` keeps the same rules, signals and
callback order but runs each job at once on the calling thread, so tests of their logic need no waiting.
"""

from __future__ import annotations

import atexit
import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Protocol

from PySide6.QtCore import QObject, Qt, QThread, Signal, SignalInstance, Slot

from .tasks import Workspace, one_line


class JobRunner(Protocol):
    """What the review models and views use of a runner. Napari-worker style, per job: `on_result` is its returned
    callback and `on_error` its errored one (one line); `started` (key, label), `progress` (key, done, total) and
    `busy` (bool) report on every job."""

    started: SignalInstance
    progress: SignalInstance
    busy: SignalInstance

    def submit(self, key: Hashable, fn: Callable, *args: Any, label: str = "",
               on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None) -> int: ...

    def cancel(self, key: Hashable) -> None: ...

    def interrupt(self, key: Hashable) -> None: ...

    def is_pending(self, key: Hashable) -> bool: ...


@dataclass(frozen=True)
class _Job:
    token: int
    key: Hashable
    fn: Callable
    args: tuple
    label: str


class _Jobs(QObject):
    """The rules both runners share: generations per key, delivery of current results only, one-line errors.
    Subclasses decide where `_run` happens (`_dispatch`) and hand its outcome to `_deliver` on the GUI thread."""

    started = Signal(object, str)  # key, label: a job began (emitted where jobs run)
    busy = Signal(bool)  # True when the first job is queued, False when the queue runs dry
    progress = Signal(object, int, int)  # key, done, total: long jobs report how far they are

    def __init__(self):
        super().__init__()
        self.workspace = Workspace()
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._latest: dict[Hashable, int] = {}
        self._callbacks: dict[int, tuple[Hashable, Callable | None, Callable | None]] = {}
        self._running_key: Hashable | None = None

    def submit(self, key: Hashable, fn: Callable, *args: Any, label: str = "",
               on_result: Callable[[Any], None] | None = None, on_error: Callable[[str], None] | None = None) -> int:
        """Queue fn(workspace, *args); it supersedes every earlier job for `key`. Returns the job's token."""
        token = next(self._tokens)
        with self._lock:
            self._latest[key] = token  # tokens only grow: this one supersedes the rest
        first = not self._callbacks
        self._callbacks[token] = (key, on_result, on_error)
        if first:
            self.busy.emit(True)
        self._dispatch(_Job(token, key, fn, args, label))
        return token

    def cancel(self, key: Hashable) -> None:
        """Forget `key`'s job: a queued one is skipped, a running one stops at its next check, and no result or
        error of it is delivered."""
        with self._lock:
            self._latest.pop(key, None)
            if self._running_key == key:
                self.workspace.stop.set()

    def interrupt(self, key: Hashable) -> None:
        """Ask `key`'s running job to finish early (long jobs check often); what it returns is still delivered."""
        with self._lock:
            if self._running_key == key:
                self.workspace.stop.set()

    def is_pending(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._latest

    def _dispatch(self, job: _Job) -> None:
        raise NotImplementedError

    def _is_current(self, key: Hashable, token: int) -> bool:
        with self._lock:
            return self._latest.get(key) == token

    def _run(self, job: _Job) -> tuple[bool, Any]:
        """(ok, result or one-line error); a job superseded while queued never runs."""
        if not self._is_current(job.key, job.token):
            return False, None
        with self._lock:
            self._running_key = job.key
            self.workspace.stop.clear()
        self.workspace.report_progress = lambda done, total: self.progress.emit(job.key, done, total)
        self.started.emit(job.key, job.label)
        try:
            return True, job.fn(self.workspace, *job.args)
        except Exception as exc:  # the runner must survive anything a job raises
            return False, one_line(exc)
        finally:
            with self._lock:
                self._running_key = None

    @Slot(int, bool, object)
    def _deliver(self, token: int, ok: bool, payload: Any) -> None:
        key, on_result, on_error = self._callbacks.pop(token)
        if self._is_current(key, token):
            with self._lock:
                del self._latest[key]
            callback = on_result if ok else on_error
            if callback is not None:
                callback(payload)
        if not self._callbacks:
            self.busy.emit(False)


STOP_WAIT_S = 0.5  # how long closing the window waits for the job in progress to see its stop flag
_LINGERING: set = set()  # stopped runners whose job is still finishing


@atexit.register
def _wait_lingering() -> None:
    """At exit, after the window has gone: let a job that could not be interrupted end before Qt is torn down."""
    for runner in list(_LINGERING):
        runner._thread.wait()


class _Worker(QObject):
    """Lives on the runner thread; runs the jobs posted to it in order."""

    finished = Signal(int, bool, object)  # token, ok, result or one-line error

    def __init__(self, runner: Runner):
        super().__init__()
        self._runner = runner

    @Slot(object)
    def run(self, job: _Job) -> None:
        self.finished.emit(job.token, *self._runner._run(job))


class Runner(_Jobs):
    """Call start() once, submit() jobs, stop() before the app exits."""

    _post = Signal(object)

    def __init__(self):
        super().__init__()
        self._thread = QThread()
        self._thread.setObjectName("model-runner")
        self._worker = _Worker(self)
        self._worker.moveToThread(self._thread)
        self._post.connect(self._worker.run, Qt.QueuedConnection)
        self._worker.finished.connect(self._deliver, Qt.QueuedConnection)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait_s: float = STOP_WAIT_S) -> bool:
        """Interrupt the job in progress (its stop flag: an index build, faithfulness curves), drop the queue and
        end the thread, waiting at most `wait_s` for it; True when it has ended. A job that cannot be interrupted
        finishes in the background, unseen, and nothing it returns is delivered: the window never waits for it."""
        with self._lock:
            self._latest.clear()
            self.workspace.stop.set()
        self._thread.quit()
        if self._thread.wait(int(wait_s * 1000)):
            return True
        _LINGERING.add(self)  # never destroyed while its thread runs (Qt aborts on that); see _wait_lingering
        self._thread.finished.connect(lambda: _LINGERING.discard(self))
        return False

    def _dispatch(self, job: _Job) -> None:
        self._post.emit(job)


class SyncRunner(_Jobs):
    """Runs jobs on the calling thread, in submission order. By default each job runs when it is submitted:
    submit() returns after its callbacks, and a job submitted from a callback waits until that callback returns, as
    it would behind the thread's queue. With `defer`, jobs wait until the test runs them (run_next, run_pending), so
    it can choose what is still on its way when a result arrives, as the thread's timing would."""

    def __init__(self, defer: bool = False):
        super().__init__()
        self._queue: deque[_Job] = deque()
        self._draining = False
        self._defer = defer

    def run_next(self) -> bool:
        """Run the oldest queued job and deliver its outcome; False when none was queued."""
        if not self._queue:
            return False
        job = self._queue.popleft()
        self._deliver(job.token, *self._run(job))
        return True

    def run_pending(self) -> None:
        """Run every queued job, and those their callbacks submit, until none is left."""
        if self._draining:
            return
        self._draining = True
        try:
            while self.run_next():
                pass
        except BaseException:
            self._drop_queue()  # a callback raised: leave no job waiting for a drain that will not come
            raise
        finally:
            self._draining = False

    def _dispatch(self, job: _Job) -> None:
        self._queue.append(job)
        if not self._defer:
            self.run_pending()

    def _drop_queue(self) -> None:
        while self._queue:
            self._callbacks.pop(self._queue.popleft().token, None)
        with self._lock:
            self._latest.clear()
        self.busy.emit(False)
