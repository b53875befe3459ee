"""Runs a parsed headless command: each command's module is imported only when that command runs (torch is not
needed to print --help). Errors a user can cause (core.errors, OSError) end as exit status 2 with one line on
stderr, never a traceback. Anything else is a bug, however it reads: a ValueError from inside numpy or torch is not
the user's input (every bad-input ValueError of core and cli is a core.errors.InputError). It ends as exit status 1
with one line saying so and where its traceback was written; DEBUG_ENV set shows the traceback itself.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from core.errors import SiameseLensError
from core.io.files import first_line, printable


def run_command(args: argparse.Namespace) -> int:
    """Run any command but `gui`; product errors become one line on stderr and exit status 2."""
    _quiet_and_interruptible()
    try:
        return _handler(args.command)(args)
    except BrokenPipeError:  # `main.py explain ... --json | head -1`: the reader has what it wanted; not an error
        _discard_stdout()
        return 141  # as a shell reports a command ended by SIGPIPE
    except (SiameseLensError, OSError) as exc:  # OSError: "file: reason", never "[Errno 2] ..."
        return _fail(first_line(exc, 2000))
    except MemoryError:
        return _fail("out of memory")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")  # writers have already removed their temporaries on the way out
        return 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        return _internal_error(exc, args.command)


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


DEBUG_ENV = "SIAMESE_LENS_DEBUG"  # set (to anything): a bug's traceback on stderr instead of in a file
EXIT_BUG = 1  # as Python's own exit status for an uncaught exception
# Finished, but some items of the input could not be used (batch pairs that failed, CSV rows, unreadable images),
# each named on stderr: apart from 0, so a script notices, and from 1 and 2, since the rest was done.
EXIT_PARTIAL = 3


def _internal_error(exc: Exception, command: str) -> int:
    """One line: a bug, not the input, and the file its traceback went to (in the user cache folder, kept for a
    report); the traceback on stderr after that line only when the file cannot be written."""
    import time
    import traceback

    from core.io.files import atomic_write
    from core.paths import user_cache_dir

    text = "".join(traceback.format_exception(exc))
    what = first_line(exc, 300)
    where = user_cache_dir() / "crashes" / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(where, text.encode("utf-8", "replace"))
    except OSError:
        sys.stderr.write(f"error: internal error, a bug in Siamese Lens, not your input ({type(exc).__name__}: "
                         f"{what}); please report it with this traceback:\n{text}")
        return EXIT_BUG
    sys.stderr.write(f"error: internal error, a bug in Siamese Lens, not your input ({type(exc).__name__}: {what}); "
                     f"please report it with its traceback, written to {printable(where, 500)} "
                     f"({DEBUG_ENV}=1 prints it)\n")
    return EXIT_BUG


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
