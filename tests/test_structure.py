"""The code's shape (issue #10): small modules, no import cycles, core without Qt, and gui reaching core only
through gui/tasks.py. Read from the sources with ast, so lazy imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "cli", "gui")
MAX_LINES = 300


def _modules() -> dict[str, Path]:
    return {f"{path.parent.name}.{path.stem}" if path.stem != "__init__" else path.parent.name: path
            for package in PACKAGES for path in sorted((ROOT / package).glob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """Project modules that `name` imports anywhere in its source."""
    package = name.split(".")[0] if "." in name or name in PACKAGES else name
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y / from . import x
                base = f"{package}.{base}" if base else package
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {other for other in _imports(name, path) if other in modules and other != name}
            for name, path in modules.items()}


def test_no_module_is_over_300_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_core_imports_no_qt_and_only_gui_tasks_imports_core():
    modules = _modules()
    qt_in_core = [name for name, path in modules.items() if name.startswith("core")
                  and any(i.startswith("PySide6") for i in _imports(name, path))]
    assert qt_in_core == []
    gui_into_core = [name for name, path in modules.items() if name.startswith("gui") and name != "gui.tasks"
                     and any(i == "core" or i.startswith("core.") for i in _imports(name, path))]
    assert gui_into_core == []


def test_the_import_graph_has_no_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
