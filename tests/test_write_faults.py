"""Issue 11: reports survive kill -9, Ctrl-C and a concurrent writer. A child process writes a report through the real
writer (core.review.report.write_picture_and_facts) and is stopped at a chosen point: while writing its temporaries, or
between placing the PNG and the JSON. Afterwards there is no report or one complete pair whose JSON names the PNG's
sha256, and (once the next writer has run, for kill -9) no temporaries or lock files."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.io import files

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import os, signal, sys, time
sys.path.insert(0, {root!r})
# Ctrl-C as in a terminal: a job a shell starts in the background inherits SIGINT ignored, and this test must not
# depend on how pytest itself was started.
signal.signal(signal.SIGINT, signal.default_int_handler)
from PIL import Image
from core.io import files
from core.review import report

target, pause_at, ready = sys.argv[1], sys.argv[2], sys.argv[3]
force = len(sys.argv) > 4


def signal_and_wait():
    open(ready, "w").close()
    time.sleep(30)


if pause_at == "temporaries":
    real = files._write_temporary
    def slow(target_path, data):
        name = real(target_path, data)
        if str(target_path).endswith(".json"):  # the PNG's temporary is complete, the JSON's too: stop here
            signal_and_wait()
        return name
    files._write_temporary = slow
elif pause_at == "between renames":
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(".png"):
            signal_and_wait()
    files.os.replace = replace
elif pause_at == "hold":
    real = files._write_temporary
    def slow(target_path, data):
        signal_and_wait() if False else time.sleep(0.8)
        return real(target_path, data)
    files._write_temporary = slow

try:
    report.write_picture_and_facts(target, lambda: Image.new("RGB", (40, 30), (9, 99, 199)), {{"who": os.getpid()}},
                                   overwrite=force)
except FileExistsError as exc:
    print(f"refused: {{exc}}", file=sys.stderr)
    sys.exit(2)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


def _start(tmp_path, pause_at, force=False, name="ready"):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT)))
    ready = tmp_path / name
    argv = ([sys.executable, str(script), str(tmp_path / "out" / "r.png"), pause_at, str(ready)]
            + (["force"] if force else []))
    return subprocess.Popen(argv, stderr=subprocess.PIPE, text=True), ready


def _wait_for(path: Path, process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the child never reached the pause point"
        time.sleep(0.02)


def _state(folder: Path) -> str:
    """'none', 'complete', or a description of what is wrong."""
    png, sidecar = folder / "r.png", folder / "r.json"
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock"))]
    if leftovers:
        return f"leftovers {leftovers}"
    if not png.exists() and not sidecar.exists():
        return "none"
    if not (png.exists() and sidecar.exists()):
        return f"torn: only {'r.png' if png.exists() else 'r.json'}"
    facts = json.loads(sidecar.read_text())
    ok = facts["report_png_sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
    return "complete" if ok else "torn: JSON names another PNG"


def _write_again(folder: Path, force=False) -> None:
    from PIL import Image

    from core.review import report

    report.write_picture_and_facts(folder / "r.png", lambda: Image.new("RGB", (8, 8)), {"who": "next"}, overwrite=force)


@pytest.mark.parametrize("pause_at", ["temporaries", "between renames"])
@pytest.mark.parametrize("old_report", [False, True])
def test_ctrl_c_leaves_no_report_or_the_old_one_and_no_temporaries(tmp_path, pause_at, old_report):
    (tmp_path / "out").mkdir()
    if old_report:
        _write_again(tmp_path / "out")
    process, ready = _start(tmp_path, pause_at, force=old_report)
    _wait_for(ready, process)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    state = _state(tmp_path / "out")
    assert state in ("none", "complete"), state
    if pause_at == "temporaries" and old_report:
        assert json.loads((tmp_path / "out" / "r.json").read_text())["who"] == "next"  # untouched


@pytest.mark.parametrize("pause_at", ["temporaries", "between renames"])
@pytest.mark.parametrize("old_report", [False, True])
def test_kill_9_is_repaired_by_the_next_writer(tmp_path, pause_at, old_report):
    out = tmp_path / "out"
    out.mkdir()
    if old_report:
        _write_again(out)
    process, ready = _start(tmp_path, pause_at, force=old_report)
    _wait_for(ready, process)
    process.kill()
    process.wait(timeout=30)
    if pause_at == "temporaries":  # nothing was placed: a reader still sees the old report or none
        assert (out / "r.json").exists() == old_report
    # the next writer (any process writing this report) removes the temporaries and any torn pair first
    try:
        _write_again(out, force=old_report)
    except FileExistsError:
        assert not old_report and pause_at == "temporaries"
    assert _state(out) == "complete"
    assert json.loads((out / "r.json").read_text())["who"] == "next"


@pytest.mark.parametrize("force", [False, True])
def test_two_concurrent_writers_one_wins_whole(tmp_path, force):
    (tmp_path / "out").mkdir()
    first, _ = _start(tmp_path, "hold", force=force, name="a")
    second, _ = _start(tmp_path, "hold", force=force, name="b")
    codes = sorted([first.wait(timeout=60), second.wait(timeout=60)])
    assert codes == [0, 2], (codes, first.stderr.read(), second.stderr.read())
    assert _state(tmp_path / "out") == "complete"


def test_busy_lock_is_reported_not_waited_for(tmp_path):
    target = tmp_path / "r.png"
    fd = files._claim(tmp_path / ".r.png.lock", target)
    try:
        with pytest.raises(files.Busy, match="another process"):
            files.write_unit([(target, b"x")])
    finally:
        files._release(fd, tmp_path / ".r.png.lock")
    files.write_unit([(target, b"x")])
    assert target.read_bytes() == b"x" and sorted(os.listdir(tmp_path)) == ["r.png"]


def test_symlinked_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, tmp_path / "r.png")
    with pytest.raises(FileExistsError):
        files.write_unit([(tmp_path / "r.png", b"new")])
    files.write_unit([(tmp_path / "r.png", b"new")], overwrite=True)
    assert victim.read_text() == "keep" and (tmp_path / "r.png").read_bytes() == b"new"


def test_a_unit_makes_its_folders_and_a_failed_one_leaves_none(tmp_path):
    """The one home of "create the folder, remove it again if the write fails" (reports, SRs, maps, PACS pulls)."""
    def fails(handle):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        files.write_unit([(tmp_path / "a" / "b" / "r.png", fails)])
    assert os.listdir(tmp_path) == []
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "theirs.txt").write_text("x")
    with pytest.raises(OSError):
        files.write_unit([(tmp_path / "keep" / "r.png", fails)])
    assert os.listdir(tmp_path / "keep") == ["theirs.txt"]
    assert files.write_unit([(tmp_path / "c" / "r.png", b"x")]) == [tmp_path / "c" / "r.png"]
    assert (tmp_path / "c" / "r.png").read_bytes() == b"x"


def test_a_file_that_cannot_be_written_is_named_not_its_temporary(tmp_path, monkeypatch):
    # was "/out/.summary.csv.mzeajw4z.tmp: Permission denied": the random temporary, not the file asked for
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError) as refused:
        files.atomic_write(tmp_path / "plain" / "out.csv", b"data")
    assert str(refused.value) == f"{tmp_path / 'plain' / 'out.csv'}: cannot be written ({tmp_path / 'plain'}: " \
                                 "Not a directory)"

    def denied(**_kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)  # a read-only folder, which does not stop root
    with pytest.raises(PermissionError, match=r"out\.csv: cannot be written \(.*: Permission denied\)$") as denied_:
        files.atomic_write(tmp_path / "out.csv", b"data")
    assert denied_.value.strerror == "Permission denied"  # what the window prints after the file's name
    assert os.listdir(tmp_path) == ["plain"]
