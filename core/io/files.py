"""File helpers shared across core, with no heavy imports (the GUI thread may use them).

The one home of: hashing a file, a one-line text of an exception, making any text from a file safe to print,
making the folders an output goes into, and the two ways the product writes files: `atomic_write` (one file,
replaced whole) and `write_unit` (several files in one folder that must appear together and never over someone
else's, e.g. a report's PNG and JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
import unicodedata
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - Windows
    import msvcrt
else:  # POSIX: an advisory lock the kernel drops when its holder dies, even by kill -9
    import fcntl


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MB blocks; OSError if it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception's text (its type name if empty), safe to print, at most `limit` chars."""
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:  # "[Errno 28] ..." reads worse than the reason and the file
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    lines = text.splitlines()
    return printable(lines[0] if lines else type(exc).__name__, limit)


def counted(n: int, noun: str) -> str:
    """"1 case", "2 cases": a count with its noun agreeing (a regular plural)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def printable(text, limit: int = 300) -> str:
    """`text` with control, format and unpaired-surrogate characters escaped, clipped to `limit` characters.

    Everything a file can choose (model names, paths, metadata) passes through here before reaching a terminal:
    a newline would forge a line of output, an ANSI escape would rewrite the screen, and a surrogate from a
    non-UTF-8 file name would make the write itself fail.
    """
    text = str(text)
    # For ASCII, isprintable() refuses exactly the control characters (category C): the common case (a weights
    # file's metadata holds thousands of strings) needs no look-up per character.
    if text.isascii() and text.isprintable():
        return text if len(text) <= limit else text[: limit - 1] + "…"
    out = []
    for char in text:
        if unicodedata.category(char)[0] == "C":
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    safe = "".join(out)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def file_problem(path: Path, kind: str) -> str:
    """Why `path` cannot be read as a KIND ("image file", "weights file"): '' if it is a regular file. Checked
    before opening it: a FIFO or a device would block the read forever."""
    try:
        if not path.exists():
            return f"no such {kind}"
        if path.is_dir():
            return f"is a folder, not {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        return "" if stat.S_ISREG(path.stat().st_mode) else "not a regular file"
    except OSError as exc:  # a name too long, a folder one may not enter: no reader would get further
        return f"cannot be read ({exc.strerror or exc})"


def folder_problem(folder) -> str:
    """Why `folder` cannot be written into ('' if it is a folder, or can be made one: every part of it that
    exists is a folder). Checked before any work; make_folders then creates what is missing."""
    for candidate in (Path(folder), *Path(folder).parents):
        if os.path.lexists(candidate):
            return "" if candidate.is_dir() else f"{printable(candidate)} is not a folder"
    return ""


def make_folders(folder) -> list[Path]:
    """Create `folder` and its missing parents; returns those created, outermost first, for remove_folders."""
    folder = Path(folder)
    missing = [path for path in (folder, *folder.parents) if not os.path.lexists(path)][::-1]
    for path in missing:
        path.mkdir(exist_ok=True)
    return missing


def remove_folders(created: list[Path]) -> None:
    """Undo make_folders after a failed write: each created folder that is empty again, innermost first."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:  # not empty (someone else's files): keep it and its parents
            return


def _temporary(target: Path) -> tuple[int, str]:
    # O_EXCL under a random name: never follows or reuses a planted file. The shared prefix and suffix let a
    # later writer of the same target recognise (and remove) what a killed run left behind.
    try:
        return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:  # named after the file asked for, not the temporary's random name
        named = type(exc)(f"{printable(target)}: cannot be written ({printable(target.parent)}: "
                          f"{exc.strerror or exc})")
        named.strerror = exc.strerror  # the bare reason, for callers that name the file themselves (the window)
        raise named from None


def _write_temporary(target: Path, data) -> str:
    fd, tmp = _temporary(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; reports, maps and weights are meant to be shared
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def atomic_write(path, data_or_writer) -> None:
    """Replace `path` whole: readers see the old file or the new one, never a part. `data_or_writer` is bytes or
    a function writing to a binary handle. Nothing is left behind on any failure, Ctrl-C included."""
    path = Path(path)
    tmp = _write_temporary(path, data_or_writer)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


class Busy(FileExistsError):
    """Another process is writing the same files right now."""


def write_unit(items: list[tuple[Path, object]], overwrite: bool = False, before_renames=None) -> list[Path]:
    """Write several files (bytes, or a function writing to a binary handle) of one folder as one unit: all of
    them or none, never over an existing one unless `overwrite`, never beside a concurrent writer of the same unit.
    The folder and its missing parents are created first (make_folders) and removed again, when empty, if the
    unit fails (remove_folders): a failed write leaves no folder behind either.

    Every file is written under a temporary name first and renamed into place only when all are written, so a
    failure or a kill before the renames leaves the previous files byte-identical. `before_renames`, if given,
    is called once the temporaries are written and before the first rename: the writing of a second unit (in
    another folder) nests there, and the two units' renames then follow the slow work of both. If it raises,
    nothing of this unit is placed. It returns the files it placed (or None): if this unit's renames then fail,
    they are removed too, so the nested units are all placed or none. Returns the files placed: this unit's,
    then the nested ones.

    A lock file (.NAME.lock beside the first file, held with flock so a dead holder frees it) makes the
    existence check and the renames one step against every other writer. Before the renames the lock file
    records the unit (a journal): a writer killed between two renames leaves it filled in, and the next writer
    of that unit removes the torn files, so a reader finds either no files or one consistent set. Temporaries of
    a killed writer are removed by the next one. Raises FileExistsError (a file exists, or Busy) and OSError.
    """
    created = make_folders(Path(items[0][0]).parent)
    try:
        return _write_unit(items, overwrite, before_renames)
    except BaseException:
        remove_folders(created)  # after the unit released its lock file, so an emptied folder can go
        raise


def _write_unit(items: list[tuple[Path, object]], overwrite: bool, before_renames) -> list[Path]:
    targets = [Path(t) for t, _ in items]
    folder = targets[0].parent
    if any(t.parent != folder for t in targets):
        raise ValueError("write_unit: every file of a unit must be in one folder")
    lock_path = folder / f".{targets[0].name}.lock"
    lock = _claim(lock_path, targets[0])
    temps: dict[Path, str] = {}
    placed: list[Path] = []
    nested: list[Path] = []
    try:
        _recover(lock, folder, targets)
        if not overwrite:
            for target in targets:
                if os.path.lexists(target):  # a dangling symlink counts: it is not ours to replace
                    raise FileExistsError(f"{target}: already exists (confirm, or use --force, to overwrite)")
        for target, data in items:
            temps[target] = _write_temporary(target, data)
        if before_renames is not None:
            nested = [Path(path) for path in before_renames() or ()]
        _journal(lock, {"targets": [t.name for t in targets], "temps": [Path(p).name for p in temps.values()]})
        for target in targets:
            os.replace(temps[target], target)  # replaces a symlink itself, never the file it points to
            placed.append(target)
        _sync_folder(folder)
        _journal(lock, None)
        return [*targets, *nested]
    except BaseException:
        # A temporary that is gone was renamed into place (Ctrl-C may land just after os.replace returned). Once
        # one file is placed, the others (old versions, when overwriting) no longer belong with it: remove all.
        if placed or any(not os.path.lexists(tmp) for tmp in temps.values()):
            for target in targets:
                _unlink(target)
        for path in nested:  # placed by a nested unit just before this one's renames failed: all or none
            _unlink(path)
        # every temporary of these targets, not just those recorded: Ctrl-C can land between creating one and
        # recording it, and under the lock no other writer's temporaries can be there
        _remove_temporaries(folder, targets)
        try:
            _journal(lock, None)
        except OSError:
            pass
        raise
    finally:
        _release(lock, lock_path)


def _claim(lock_path: Path, target: Path) -> int:
    for _ in range(20):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            raise Busy(f"{target}: another process is writing it right now") from None
        try:
            current = os.stat(lock_path, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
            return fd
        os.close(fd)  # the previous holder removed the file we locked: lock the one there now
    raise Busy(f"{target}: another process is writing it right now")


def _lock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _release(fd: int, lock_path: Path) -> None:
    try:
        os.unlink(lock_path)  # while still held: a waiter that opened it re-checks and takes a fresh one
    except OSError:
        pass
    os.close(fd)


def _journal(fd: int, record: dict | None) -> None:
    os.ftruncate(fd, 0)
    if record is not None:
        os.lseek(fd, 0, os.SEEK_SET)  # lseek/write, not pwrite: Windows has no pwrite
        os.write(fd, json.dumps(record).encode())
    os.fsync(fd)


def _recover(fd: int, folder: Path, targets: list[Path]) -> None:
    """Undo what a writer killed mid-commit left, then remove the temporaries of any killed writer."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 1 << 16)
    if raw:
        try:
            record = json.loads(raw)
            names, temp_names = list(record["targets"]), list(record["temps"])
        except (ValueError, KeyError, TypeError):
            names, temp_names = [t.name for t in targets], []
        if any((folder / name).exists() for name in temp_names) or not temp_names:
            for name in names:  # torn: some files were renamed, some not
                if "/" not in name and name not in ("", ".", ".."):
                    _unlink(folder / name)
        _journal(fd, None)
    _remove_temporaries(folder, targets)


def _remove_temporaries(folder: Path, targets: list[Path]) -> None:
    for target in targets:
        for stale in folder.glob(f".{_glob_escape(target.name)}.*.tmp"):
            _unlink(stale)


def settle(targets: list[Path]) -> None:
    """Repair what a killed writer of this unit left (a torn set, temporaries), so that checking whether the
    files exist answers for the last complete unit. Cheap when there is nothing to repair (no lock file)."""
    targets = [Path(t) for t in targets]
    lock_path = targets[0].parent / f".{targets[0].name}.lock"
    if not os.path.lexists(lock_path):
        return
    lock = _claim(lock_path, targets[0])
    try:
        _recover(lock, targets[0].parent, targets)
    finally:
        _release(lock, lock_path)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _sync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
