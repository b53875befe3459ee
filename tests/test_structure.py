"""The code's shape (issues #10, #25): core in sub-packages by concept with one-way import rules between them, no
import cycles, core without Qt, and gui reaching core only through gui/jobs/tasks.py. Read from the sources with ast,
so lazy imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "cli", "gui")
# core's layers, lowest first: a module may import its own package and the packages before it, never after.
# "base" is core's top-level modules (errors, vocabulary, version, paths): the names every layer shares.
LAYERS = ("base", "io", "model", "data", "trust", "explain", "followup", "evaluation", "training", "review",
          "pacs")
BASE = {"core", "core.errors", "core.vocabulary", "core.version", "core.paths"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Project modules and packages that `name` imports anywhere in its source."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y / from . import x
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {other for other in _imports(name, path) if other in modules and other != name}
            for name, path in modules.items()}


def _layer(module: str) -> str:
    return "base" if module in BASE else module.split(".")[1]


def test_core_is_base_modules_and_the_layer_packages():
    core = {name for name in _modules() if name.startswith("core")}
    assert {_layer(name) for name in core} == set(LAYERS)
    packages = {name for name in core if name not in BASE and name.count(".") == 1}
    assert packages == {f"core.{layer}" for layer in LAYERS[1:]}  # no loose module beside the packages
    assert all(name.count(".") <= 2 for name in core)  # one level of packages


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{name} -> {other}" for name, others in graph.items() if name.startswith("core.")
                  for other in others if other.startswith("core")
                  and LAYERS.index(_layer(other)) > LAYERS.index(_layer(name)))


def test_core_layers_import_only_downwards():
    assert _upward(_graph()) == []


def test_the_layer_rule_catches_a_lazy_upward_import(tmp_path):
    module = tmp_path / "network.py"
    module.write_text("def f():\n    from core.review.report import write_report\n", encoding="utf-8")
    imports = _imports("core.model.network", module)
    assert "core.review.report" in imports
    assert _upward({"core.model.network": imports & {"core.review.report"}}) == [
        "core.model.network -> core.review.report"]
    assert _upward({"core.review.report": {"core.model.network", "core.errors"}}) == []


def test_core_modules_do_not_take_the_public_api_from_the_core_package():
    """core/__init__.py hands out names of upper layers (explain_pair, load_model) by import_module strings the layer
    rule cannot see: inside core, `from core import X` is for modules only."""
    modules = _modules()
    through_api = sorted(f"{name}: from core import {alias.name}" for name, path in modules.items()
                         if name.startswith("core.")
                         for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                         if isinstance(node, ast.ImportFrom) and node.module == "core" and not node.level
                         for alias in node.names if f"core.{alias.name}" not in modules)
    assert through_api == []


def test_core_imports_no_qt_and_only_gui_tasks_imports_core():
    modules = _modules()
    qt_in_core = [name for name, path in modules.items() if name.startswith("core")
                  and any(i.startswith("PySide6") for i in _imports(name, path))]
    assert qt_in_core == []
    gui_into_core = [name for name, path in modules.items() if name.startswith("gui") and name != "gui.jobs.tasks"
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


# gui (issue #31): packages by role. Models hold state and emit events, presenters act on them through `...View`
# protocols, views are widgets, jobs are the runner and the tasks it runs; gui/app.py composes them.
GUI_ROLES = ("models", "presenters", "views", "jobs")
GUI_MAY_IMPORT = {"models": {"models", "jobs"}, "presenters": {"presenters", "models", "jobs"},
                  "views": {"views", "models", "jobs"}, "jobs": {"jobs"}}
NO_QT_DISPLAY = ("PySide6.QtWidgets", "PySide6.QtGui")  # models and presenters: testable without a screen


def _gui_role(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "gui" else None


def test_gui_is_the_app_and_four_packages_by_role():
    gui = {name for name in _modules() if name.startswith("gui")}
    loose = sorted(name for name in gui if name.count(".") == 1 and name.split(".")[1] not in GUI_ROLES + ("app",))
    assert loose == []
    assert {_gui_role(name) for name in gui} - {None} == set(GUI_ROLES)


def _gui_role_violations(graph: dict[str, set[str]], sources: dict[str, str]) -> list[str]:
    found = []
    for name, others in graph.items():
        role = _gui_role(name)
        if role is None:
            continue
        found += [f"{name} -> {other}" for other in others
                  if _gui_role(other) is not None and _gui_role(other) not in GUI_MAY_IMPORT[role]]
        if role in ("models", "presenters"):
            found += [f"{name} -> {qt}" for qt in NO_QT_DISPLAY if any(i.startswith(qt) for i in others)]
        if role == "views":
            tree = ast.parse(sources[name])
            models = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                      and (node.module or "").startswith(("models", "gui.models")) for alias in node.names}
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "submit":
                    found.append(f"{name} submits a job (line {node.lineno})")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in models \
                        and node.func.id[:1].isupper():
                    found.append(f"{name} creates a model: {node.func.id} (line {node.lineno})")
    return sorted(found)


def test_gui_packages_import_by_role_and_views_neither_create_models_nor_submit_jobs():
    modules = _modules()
    graph = {name: _imports(name, path) for name, path in modules.items() if name.startswith("gui")}
    sources = {name: modules[name].read_text(encoding="utf-8") for name in graph}
    assert _gui_role_violations(graph, sources) == []


def test_the_gui_role_rule_catches_a_view_that_builds_a_model_and_submits_a_job():
    source = ("from ..models.session import ReviewSession\n"
              "def build(runner):\n    ReviewSession(runner).runner.submit('x', print)\n")
    graph = {"gui.views.w": {"gui.models.session", "gui.presenters.commands"},
             "gui.models.m": {"PySide6.QtWidgets", "gui.views.window"}}
    assert _gui_role_violations(graph, {"gui.views.w": source, "gui.models.m": ""}) == [
        "gui.models.m -> PySide6.QtWidgets", "gui.models.m -> gui.views.window",
        "gui.views.w -> gui.presenters.commands", "gui.views.w creates a model: ReviewSession (line 3)",
        "gui.views.w submits a job (line 3)"]


def test_one_definition_of_an_image_file():
    """Which suffixes make an image file is said once, in core/io/image_files.py (issue #33: three definitions had
    drifted apart, and galleries skipped DICOM)."""
    home = ROOT / "core" / "io" / "image_files.py"
    elsewhere = []
    sources = [ROOT / "main.py", *(p for package in (*PACKAGES, "benchmarks") for p in (ROOT / package).rglob("*.py"))]
    for path in sources:
        if path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    ".jpeg" in node.value.lower() or ".tiff" in node.value.lower()):
                elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert elsewhere == []


def _hashes_a_file(function: ast.AST) -> bool:
    """Whether a function both starts a sha256 and opens or reads a file: hashing a file's bytes by itself."""
    calls = [node.func for node in ast.walk(function) if isinstance(node, ast.Call)]
    names = {call.id if isinstance(call, ast.Name) else call.attr for call in calls
             if isinstance(call, (ast.Name, ast.Attribute))}
    return "sha256" in names and bool(names & {"open", "read_bytes"})


def test_one_home_for_hashing_a_file():
    """A file's sha256 is core.io.files.file_sha256 (a leftover of issue #34: the one-off pairs' store read and
    hashed files by itself)."""
    home = ROOT / "core" / "io" / "files.py"
    elsewhere = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                 for package in (*PACKAGES, "benchmarks") for path in sorted((ROOT / package).rglob("*.py"))
                 if path != home for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _hashes_a_file(node)]
    assert elsewhere == []


def test_the_file_hash_rule_catches_a_block_reader():
    source = ("import hashlib\ndef key(path):\n    digest = hashlib.sha256()\n"
              "    with open(path, 'rb') as f:\n        digest.update(f.read())\n    return digest.hexdigest()\n"
              "def of_bytes(data):\n    return hashlib.sha256(data).hexdigest()\n")
    functions = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)]
    assert [_hashes_a_file(function) for function in functions] == [True, False]
