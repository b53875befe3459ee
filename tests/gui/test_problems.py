"""The problems model (gui.models.problems), without Qt: the latest problem per source, withdrawn by that source's next
success or by dismissing them all, and a change event only when what is shown changes."""

from __future__ import annotations

import ast
from pathlib import Path

import gui.models.problems
from gui.models.problems import Problems


def _watched() -> tuple[Problems, list]:
    problems, events = Problems(), []
    problems.on_change(events.append)
    return problems, events


def test_the_latest_problem_per_source_shows_the_most_recent_last():
    problems, events = _watched()
    problems.report("image 1", "a.png: no such file")
    problems.report("export", "Report not saved: disk full")
    problems.report("image 1", "b.png: no such file")  # replaces a.png's, and is now the newest
    assert problems.texts() == ["Report not saved: disk full", "b.png: no such file"]
    assert events == [["a.png: no such file"], ["a.png: no such file", "Report not saved: disk full"],
                      ["Report not saved: disk full", "b.png: no such file"]]


def test_a_success_withdraws_only_its_own_source_and_only_a_real_change_is_announced():
    problems, events = _watched()
    problems.report("model", "Model not changed: broken.pt")
    problems.report("crop", "Crop of image 1 not applied: too small")
    events.clear()
    problems.clear("explain")  # nothing of it shown: no event
    problems.clear("crop")
    assert problems.texts() == ["Model not changed: broken.pt"] and events == [["Model not changed: broken.pt"]]


def test_dismiss_clears_everything_once():
    problems, events = _watched()
    problems.dismiss()
    assert events == []
    problems.report("drop", "Drop one or two images at a time (3 were dropped)")
    problems.dismiss()
    problems.dismiss()
    assert problems.texts() == [] and events[-1] == [] and len(events) == 2


def test_the_model_imports_no_qt():
    tree = ast.parse(Path(gui.models.problems.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.startswith("PySide6") for name in imported)
