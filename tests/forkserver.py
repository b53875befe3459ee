"""Runs `main.py` command lines as real child processes, fast: a server process imports the product once (torch
included, but runs no torch op, so forking is safe) and forks one child per command. Each child has its own exit
status, stdout/stderr files, working folder and time limit, exactly as `python main.py ...` would, minus the
seconds of importing torch. An uncaught exception prints its traceback, as the interpreter would.

Protocol (lines of JSON on stdin/stdout): {"argv", "cwd", "timeout"} -> {"rc", "stdout", "stderr", "timed_out"}.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(argv: list[str], cwd: str, out: str, err: str) -> None:
    os.chdir(cwd)
    for fd, name in ((1, out), (2, err)):
        handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(handle, fd)
        os.close(handle)
    sys.stdin = open(os.devnull)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 1
    try:
        from main import main

        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve() -> None:
    sys.path.insert(0, ROOT)
    import cli.parser  # noqa: F401  the heavy imports, once
    import cli.run  # noqa: F401
    import core.io.images  # noqa: F401
    import core.review.report  # noqa: F401
    try:
        import core.explain.pair  # noqa: F401
        import core.model.weights  # noqa: F401
    except Exception:  # a module mid-edit elsewhere: the children import (and report) it themselves
        pass
    for line in sys.stdin:
        request = json.loads(line)
        out, err = os.path.join(request["cwd"], ".fs-out"), os.path.join(request["cwd"], ".fs-err")
        out, err = request.get("out", out), request.get("err", err)
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request["cwd"], out, err)
        deadline = time.monotonic() + request["timeout"]
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        with open(out, errors="replace") as handle:
            stdout = handle.read()
        with open(err, errors="replace") as handle:
            stderr = handle.read()
        os.unlink(out)
        os.unlink(err)
        reply = {"rc": os.waitstatus_to_exitcode(status), "stdout": stdout, "stderr": stderr, "timed_out": timed_out}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


class ForkServer:
    """Client side: ForkServer().run(argv, cwd, timeout) -> dict; close() when done."""

    def __init__(self):
        import subprocess

        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONDONTWRITEBYTECODE="1")
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)

    def run(self, argv: list[str], cwd, timeout: float = 60.0, scratch=None) -> dict:
        # stdout/stderr files live outside the case's folder, so "nothing left behind" sees only the command's doing
        scratch = str(scratch or cwd)
        request = {"argv": [str(a) if not isinstance(a, bytes) else os.fsdecode(a) for a in argv], "cwd": str(cwd),
                   "timeout": timeout, "out": os.path.join(scratch, ".fs-out"), "err": os.path.join(scratch, ".fs-err")}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


if __name__ == "__main__":
    serve()
