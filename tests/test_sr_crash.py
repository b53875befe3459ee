"""A report, its sidecar and the measurement SR asked for with it are one unit (leftover of issues #32/#34): `explain`
and `followup` with `--report R --sr S.dcm --force` over earlier files, when the SR cannot be written (its folder is
full or unwritable, or highdicom raises), leave the earlier report, sidecar and SR byte-identical, nothing beside
them, and say one line naming the SR, exit 2. The next run then replaces all three."""

from __future__ import annotations

import errno
from pathlib import Path

import highdicom as hd
import pytest

from core.io import files
from tests.dicom_visits import write_visits


def _run(command, tmp_path, weights, note) -> int:
    from main import main

    visits = sorted(str(path) for path in (tmp_path / "visits").iterdir())
    command, *maps = command.split()  # "explain --out": the maps too, a third unit around the other two
    fast = ["--first-map"] if command == "explain" else []  # what is written is the point, not its refinement
    return main([command, *visits, "--model", str(weights), "--device", "cpu", "--note", note, "--force", *fast,
                 *(["--out", str(tmp_path / "maps")] if maps else []),
                 "--report", str(tmp_path / "reports" / "r.png"), "--sr", str(tmp_path / "sr" / "measurements.dcm")])


def _contents(tmp_path) -> dict[str, bytes]:
    """Every file of the output folders, by name: temporaries and lock files would show up here too."""
    return {str(path.relative_to(tmp_path)): path.read_bytes() for folder in ("maps", "reports", "sr")
            if (tmp_path / folder).exists() for path in sorted((tmp_path / folder).iterdir())}


def _sr_folder_full(monkeypatch):
    real = files._write_temporary

    def write(target: Path, data):
        if target.suffix == ".dcm":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(target, data)

    monkeypatch.setattr(files, "_write_temporary", write)
    return "No space left on device"


def _highdicom_raises(monkeypatch):
    def broken(*_args, **_kwargs):
        raise AttributeError("'Dataset' object has no attribute 'ContentSequence'")

    monkeypatch.setattr(hd.sr, "Comprehensive3DSR", broken)
    return "ContentSequence"


@pytest.mark.parametrize("fault", [_sr_folder_full, _highdicom_raises])
@pytest.mark.parametrize("command", ["explain", "explain --out", "followup"])
def test_a_failed_sr_after_force_leaves_the_earlier_report_sidecar_and_sr(tmp_path, weights, capsys, monkeypatch,
                                                                          command, fault):
    (tmp_path / "visits").mkdir()
    write_visits(tmp_path / "visits")
    assert _run(command, tmp_path, weights, "the earlier run") == 0, capsys.readouterr().err
    before = _contents(tmp_path)
    assert {"reports/r.png", "reports/r.json", "sr/measurements.dcm"} <= set(before)
    assert len(before) == (3 + 8 if "--out" in command else 3)  # the maps: a .npy and a .png per layer and image
    capsys.readouterr()
    reason = fault(monkeypatch)
    assert _run(command, tmp_path, weights, "the run whose SR fails") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "measurements.dcm" in err and reason in err, err
    assert ".tmp" not in err and "Traceback" not in err
    assert _contents(tmp_path) == before  # same names, same bytes, nothing beside them
    monkeypatch.undo()
    assert _run(command, tmp_path, weights, "the next run") == 0, capsys.readouterr().err
    after = _contents(tmp_path)
    assert set(after) == set(before) and b"the next run" in after["reports/r.json"]
    assert after["sr/measurements.dcm"] != before["sr/measurements.dcm"]
