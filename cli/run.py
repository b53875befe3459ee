"""Runs a parsed headless command: each command's module is imported only when that command runs (torch is not
needed to print --help). Errors a user can cause end as exit status 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import SiameseLensError
from core.io.files import first_line


def run_command(args: argparse.Namespace) -> int:
    """Run any command but `gui`; product errors become one line on stderr and exit status 2."""
    _quiet_and_interruptible()
    try:
        return _handler(args.command)(args)
    except BrokenPipeError:  # `main.py explain ... --json | head -1`: the reader has what it wanted; not an error
        _discard_stdout()
        return 141  # as a shell reports a command ended by SIGPIPE
    except (SiameseLensError, ValueError, OSError) as exc:  # OSError: "file: reason", never "[Errno 2] ..."
        return _fail(first_line(exc, 2000))
    except MemoryError:
        return _fail("out of memory")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")  # writers have already removed their temporaries on the way out
        return 130


def _handler(command: str):
    from .parser import HANDLERS

    module, name = HANDLERS[command]
    return getattr(importlib.import_module(f"cli.{module}"), name)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what is still buffered raises nothing."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (an embedding application)
        pass


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")  # first_line made it printable: one line, whatever a path holds
    return 2


def _quiet_and_interruptible() -> None:
    """Library warnings (Pillow's decompression bomb, numpy's invalid values) are not the user's to read: the
    checks that matter end as one error line. SIGTERM unwinds like Ctrl-C, so writers clean up either way."""
    import signal
    import warnings

    warnings.simplefilter("ignore")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding application): keep its handler
        pass
