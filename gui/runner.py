"""The workstation's one job thread, and the one place where requests are superseded.

`submit(key, fn, *args, on_result=..., on_error=...)` runs `fn(workspace, *args)` on the runner's thread (the
functions live in gui.tasks). Each key (the view a result feeds: "explain", ("image", 0), ...) has a latest
generation: a queued job whose key has since been submitted again is skipped, and a result or error that is no
longer the latest is dropped here, on the GUI thread, so callers only ever hear about current work. A job's
exception never reaches Qt: it becomes one line for `on_error`, and the runner takes the next job.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from .tasks import Workspace, one_line


@dataclass(frozen=True)
class _Job:
    token: int
    key: Hashable
    fn: Callable
    args: tuple
    label: str


class _Worker(QObject):
    """Lives on the runner thread; runs jobs that are still current when their turn comes."""

    finished = Signal(int, bool, object)  # token, ok, result or one-line error
    started = Signal(object, str)  # key, label

    def __init__(self, runner: "Runner"):
        super().__init__()
        self._runner = runner
        self.workspace = Workspace()

    @Slot(object)
    def run(self, job: _Job) -> None:
        runner = self._runner
        if not runner._is_current(job.key, job.token):
            self.finished.emit(job.token, False, None)  # superseded while queued: never run
            return
        with runner._lock:
            runner._running_key = job.key
            self.workspace.stop.clear()
        self.workspace.report_progress = lambda done, total: runner.progress.emit(job.key, done, total)
        self.started.emit(job.key, job.label)
        try:
            result, ok = job.fn(self.workspace, *job.args), True
        except Exception as exc:  # the runner must survive anything a job raises
            result, ok = one_line(exc), False
        finally:
            with runner._lock:
                runner._running_key = None
        self.finished.emit(job.token, ok, result)


class Runner(QObject):
    """Call start() once, submit() jobs, stop() before the app exits."""

    started = Signal(object, str)  # key, label: a job began (emitted on the runner thread)
    busy = Signal(bool)  # True when the first job is queued, False when the queue runs dry
    progress = Signal(object, int, int)  # key, done, total: long jobs report how far they are
    _post = Signal(object)

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._latest: dict[Hashable, int] = {}
        self._callbacks: dict[int, tuple[Hashable, Callable | None, Callable | None]] = {}
        self._running_key: Hashable | None = None
        self._thread = QThread()
        self._thread.setObjectName("model-runner")
        self._worker = _Worker(self)
        self._worker.moveToThread(self._thread)
        self._post.connect(self._worker.run, Qt.QueuedConnection)
        self._worker.finished.connect(self._finished, Qt.QueuedConnection)
        self._worker.started.connect(self.started, Qt.DirectConnection)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the job in progress, drop the queue, end the thread."""
        with self._lock:
            self._latest.clear()
        self._thread.quit()
        self._thread.wait()

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
        self._post.emit(_Job(token, key, fn, args, label))
        return token

    def cancel(self, key: Hashable) -> None:
        """Forget `key`'s job: a queued one is skipped, a running one stops at its next check, and no result or
        error of it is delivered."""
        with self._lock:
            self._latest.pop(key, None)
            if self._running_key == key:
                self._worker.workspace.stop.set()

    def interrupt(self, key: Hashable) -> None:
        """Ask `key`'s running job to finish early (long jobs check often); what it returns is still delivered."""
        with self._lock:
            if self._running_key == key:
                self._worker.workspace.stop.set()

    def is_pending(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._latest

    def _is_current(self, key: Hashable, token: int) -> bool:
        with self._lock:
            return self._latest.get(key) == token

    @Slot(int, bool, object)
    def _finished(self, token: int, ok: bool, payload: Any) -> None:
        key, on_result, on_error = self._callbacks.pop(token)
        if self._is_current(key, token):
            with self._lock:
                del self._latest[key]
            callback = on_result if ok else on_error
            if callback is not None:
                callback(payload)
        if not self._callbacks:
            self.busy.emit(False)
