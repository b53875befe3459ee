"""Every QSettings key is spelled once, in gui/models/settings.py (Key, layer_key, colormap_key): a key typed anywhere
else would silently read or write a different setting the day one spelling changes."""

from __future__ import annotations

import ast
from pathlib import Path

from gui.models.settings import Key, colormap_key, layer_key

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "gui" / "models" / "settings.py"
KEYS = {value for name, value in vars(Key).items() if not name.startswith("_")}
PREFIXES = (layer_key(0, "", "").split("/")[0] + "/", colormap_key(""))  # "layers/", "view/colormap/"


def _key_literals(path: Path) -> list[str]:
    """String literals (f-string pieces too) that are, or begin, a stored key."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and (node.value in KEYS or node.value.startswith(PREFIXES))]


def test_no_module_but_the_settings_store_spells_a_key():
    folders = ("gui", "cli", "core", "tests", "benchmarks")
    sources = [path for folder in folders for path in (ROOT / folder).rglob("*.py")]
    found = {str(path.relative_to(ROOT)): hits for path in sources + [ROOT / "main.py"]
             if path != STORE and (hits := _key_literals(path))}
    assert found == {}


def test_the_check_finds_a_spelled_key(tmp_path):
    module = tmp_path / "straggler.py"
    layers = PREFIXES[0]
    module.write_text(f'settings.value("{Key.GALLERY}")\nsettings.value(f"{layers}{{slot}}/factual/visible")\n',
                      encoding="utf-8")  # built from the store, so that this file spells no key itself
    assert _key_literals(module) == [Key.GALLERY, layers]
