"""Runtime and development requirements are split: a user's install carries no test, lint or build tool."""
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_TOOLS = {"pytest", "pytest-qt", "hypothesis", "ruff", "mypy", "pyinstaller"}
# The distribution that provides each third-party module the app imports.
DISTRIBUTION = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "PIL": "pillow",
                "cv2": "opencv-python-headless", "PySide6": "pyside6-essentials", "faiss": "faiss-cpu",
                "pydicom": "pydicom", "reportlab": "reportlab", "highdicom": "highdicom",
                "dicomweb_client": "dicomweb-client", "requests": "requests"}
# Imported only when present (core/pacs/connection.py: the OS keyring is one optional source of PACS credentials).
OPTIONAL = {"keyring"}


def _names(path: Path) -> tuple[set[str], list[str]]:
    names, includes = set(), []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            includes.append(line[2:].strip())
        elif line:
            names.add(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower())
    return names, includes


def _runtime_imports() -> set[str]:
    """Top-level third-party modules imported by the app's own code (core, cli, gui, main.py)."""
    files = [ROOT / "main.py"] + [p for part in ("core", "cli", "gui") for p in (ROOT / part).rglob("*.py")]
    modules = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    local = {"core", "cli", "gui"}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in local}


def test_runtime_requirements_hold_no_development_tool():
    runtime, includes = _names(ROOT / "requirements.txt")
    assert not runtime & DEV_TOOLS, f"development tools in requirements.txt: {sorted(runtime & DEV_TOOLS)}"
    assert not includes


def test_development_requirements_add_the_tools_to_the_runtime():
    dev, includes = _names(ROOT / "requirements-dev.txt")
    assert includes == ["requirements.txt"]
    assert DEV_TOOLS <= dev, f"missing from requirements-dev.txt: {sorted(DEV_TOOLS - dev)}"


def test_every_module_the_app_imports_is_a_runtime_requirement():
    runtime, _ = _names(ROOT / "requirements.txt")
    imported = _runtime_imports() - OPTIONAL
    unknown = imported - DISTRIBUTION.keys()
    assert not unknown, f"third-party imports with no known distribution: {sorted(unknown)}"
    missing = {DISTRIBUTION[m] for m in imported} - runtime
    assert not missing, f"imported by the app but not in requirements.txt: {sorted(missing)}"


def test_ci_installs_both_files():
    ci = (ROOT / ".ci" / "run").read_text()
    runtime, dev = ci.find("-r requirements.txt"), ci.find("-r requirements-dev.txt")
    assert 0 <= runtime < dev < ci.find("pytest"), "CI must install the runtime, then the development tools, then test"
