"""PyInstaller hook for torchvision, replacing pyinstaller-hooks-contrib's (a project hook takes precedence).

torchvision registers its native operators (torchvision::nms, roi_align, ...) from compiled extension modules it
loads indirectly, so PyInstaller's import analysis misses them. The contrib hook hard-codes `torchvision._C`, but
torchvision 0.29 ships `_C_stable` and `image_stable` instead, and `import torchvision` in the binary then dies
with "operator torchvision::nms does not exist". Rather than chase each release's names, collect every compiled
extension module the installed torchvision actually contains.
"""

import importlib.machinery
import importlib.util
from pathlib import Path


def extension_modules(package: str, package_dir=None) -> list[str]:
    """Dotted names of every compiled extension module (.so / .pyd with an import suffix) inside `package`.

    Files not named like a module (libpng16.so.16, jpeg8.dll) are plain libraries, left to binary dependency analysis.
    """
    if package_dir is None:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return []
        package_dir = next(iter(spec.submodule_search_locations))
    root = Path(package_dir)
    # Longest first, so "_C.cpython-311-x86_64-linux-gnu.so" loses its whole tag rather than just ".so".
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    names = set()
    for path in root.rglob("*"):
        suffix = next((s for s in suffixes if path.name.endswith(s)), None)
        if suffix is None or not path.is_file():
            continue
        parts = [*path.relative_to(root).parent.parts, path.name[: -len(suffix)]]
        if all(part.isidentifier() for part in parts):
            names.add(".".join([package, *parts]))
    return sorted(names)


hiddenimports = extension_modules("torchvision")

# As in the contrib hook: keep the .py sources next to the bytecode, which TorchScript needs to compile functions.
module_collection_mode = "pyz+py"
