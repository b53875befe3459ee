"""Issue 31: a crash mid-export leaves the previous files intact. An export over an earlier one (maps, report and
sidecar of the same names, overwrite confirmed) that raises, or is killed with SIGKILL, while its maps are drawn or
its report rendered leaves every earlier file byte-identical (core.review.outputs writes them all under temporary
names and renames them into place only at the end); the next export then replaces them whole, leaving no
temporaries."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.explain import overlay
from core.review import outputs, report_layout
from tests.test_report import pair  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parent.parent


def _export(tmp_path, pair, **options):  # noqa: F811
    plan = outputs.plan_outputs(tmp_path / "maps", tmp_path / "reports" / "r.png", overwrite=True)
    return outputs.write_outputs(plan, *pair, **options).files


def _contents(tmp_path) -> dict[str, bytes]:
    """Every file under the two output folders, by name: temporaries and lock files would show up here too."""
    return {str(path.relative_to(tmp_path)): path.read_bytes()
            for folder in ("maps", "reports") for path in sorted((tmp_path / folder).iterdir())}


def _fail_while_drawing_the_third_map(monkeypatch):
    real, calls = overlay.write_overlay_png, []

    def draw(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("out of memory drawing an overlay")
        return real(*args, **kwargs)

    monkeypatch.setattr(overlay, "write_overlay_png", draw)


def _fail_rendering_the_report(monkeypatch):
    def render(*_args):
        raise RuntimeError("the report's layout failed")

    monkeypatch.setattr(report_layout, "render", render)


def _interrupt_the_report_writer(monkeypatch):
    def write_report_files(*_args):
        raise KeyboardInterrupt  # Ctrl-C once every map is written (to its temporary)

    monkeypatch.setattr(outputs, "write_report_files", write_report_files)


@pytest.mark.parametrize("fault", [_fail_while_drawing_the_third_map, _fail_rendering_the_report,
                                   _interrupt_the_report_writer])
def test_an_export_that_fails_midway_leaves_the_previous_files_byte_identical(tmp_path, pair, monkeypatch,  # noqa: F811
                                                                              fault):
    files = _export(tmp_path, pair, note="the earlier export")
    before = _contents(tmp_path)
    assert len(files) == 10 and set(before) == {str(f.relative_to(tmp_path)) for f in files}
    fault(monkeypatch)
    with pytest.raises((MemoryError, RuntimeError, KeyboardInterrupt)):
        _export(tmp_path, pair, note="the export that fails")
    assert _contents(tmp_path) == before  # same names, same bytes, nothing beside them
    monkeypatch.undo()
    _export(tmp_path, pair, note="the next export")
    after = _contents(tmp_path)
    assert set(after) == set(before) and b"the next export" in after["reports/r.json"]


CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from core.review import outputs, report_layout
from tests.test_report import _explanation, ModelInfo, from_pil
from PIL import Image

tmp, ready = sys.argv[1], sys.argv[2]


def slow_render(*_args):
    open(ready, "w").close()  # every map is written to its temporary; the report is being laid out
    time.sleep(60)


report_layout.render = slow_render
image1 = from_pil(Image.new("RGB", (300, 100), (200, 180, 160)), crop=(10, 0, 200, 100), path="/data/a.jpg")
image2 = from_pil(Image.new("RGB", (80, 160), (90, 120, 200)), path="/data/b.png")
info = ModelInfo(name="skin-v1", architecture="resnet18", input_size=128, threshold=0.5, sha256="ab" * 32,
                 path="weights/skin.pt", metadata={{"test_metrics": {{"accuracy": 0.91, "auc": 0.95}}}})
plan = outputs.plan_outputs(tmp + "/maps", tmp + "/reports/r.png", overwrite=True)
outputs.write_outputs(plan, _explanation(image1.size, image2.size), (image1, image2), info, note="killed")
"""


def test_an_export_killed_with_sigkill_while_rendering_leaves_the_previous_files(tmp_path, pair):  # noqa: F811
    _export(tmp_path, pair, note="the earlier export")
    before = _contents(tmp_path)
    script, ready = tmp_path / "child.py", tmp_path / "ready"
    script.write_text(CHILD.format(root=str(ROOT)))
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(ready)], stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never reached the report"
            time.sleep(0.02)
        assert any(p.name.endswith(".tmp") for p in (tmp_path / "maps").iterdir())  # its maps are drawn
        child.kill()  # SIGKILL: no handler, no cleanup
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    survivors = {name: data for name, data in _contents(tmp_path).items() if not name.endswith((".tmp", ".lock"))}
    assert survivors == before  # what a reader sees: the earlier export, whole
    _export(tmp_path, pair, note="the next export")  # the next writer removes what the killed one left
    after = _contents(tmp_path)
    assert set(after) == set(before) and b"the next export" in after["reports/r.json"]
