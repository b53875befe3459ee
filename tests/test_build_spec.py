"""build.spec and the project's PyInstaller hooks, checked without running a build (CI builds afterwards)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOK = runpy.run_path(str(ROOT / "hooks" / "hook-torchvision.py"))
extension_modules = HOOK["extension_modules"]
# What each torchvision wheel ships inside the package (from the wheels' file lists): 0.29 renamed its operator
# library, which is why a hard-coded name breaks the binary.
TORCHVISION_LAYOUTS = {
    "0.28": (["_C.so", "image.so"], ["torchvision._C", "torchvision.image"]),
    "0.29": (["_C_stable.so", "image_stable.so"], ["torchvision._C_stable", "torchvision.image_stable"]),
}


@pytest.mark.parametrize("version", sorted(TORCHVISION_LAYOUTS))
def test_hook_finds_each_torchvision_releases_extension_modules(tmp_path, version):
    files, expected = TORCHVISION_LAYOUTS[version]
    package = tmp_path / "torchvision"
    (package / "io").mkdir(parents=True)
    for name in [*files, "__init__.py", "io/__init__.py", "io/image.py"]:
        (package / name).touch()
    assert extension_modules("torchvision", package) == expected


def test_hook_handles_tagged_suffixes_and_subpackages_but_not_plain_libraries(tmp_path):
    tagged = importlib.machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so
    package = tmp_path / "pkg"
    (package / "ops").mkdir(parents=True)
    for name in [f"ops/_ext{tagged}", "libpng16.so.16", "jpeg8.dll", "not-a-module.so", "__init__.py"]:
        (package / name).touch()
    found = extension_modules("pkg", package)
    assert "pkg.ops._ext" in found
    assert not any(name.startswith(("pkg.libpng16", "pkg.jpeg8", "pkg.not")) for name in found)


def test_hook_resolves_the_installed_torchvision():
    names = HOOK["hiddenimports"]
    assert names, "no compiled extension module found in the installed torchvision"
    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader), name
    assert HOOK["module_collection_mode"] == "pyz+py"


def test_spec_ships_models_and_resources_but_never_checkpoints(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    for name in ["skin.pt", "skin.json", "skin.checkpoint.pt", "skin.checkpoint.json"]:
        (tmp_path / "weights" / name).touch()
    calls = _run_spec(tmp_path, monkeypatch)
    datas = calls["Analysis"]["datas"]
    assert (str(tmp_path / "resources"), "resources") in datas
    assert sorted(Path(src).name for src, dest in datas if dest == "weights") == ["skin.json", "skin.pt"]


def test_spec_builds_one_folder_app_with_project_hooks_and_all_project_modules(tmp_path, monkeypatch):
    calls = _run_spec(tmp_path, monkeypatch)
    analysis = calls["Analysis"]
    assert analysis["hookspath"] == [str(tmp_path / "hooks")]
    assert {"cli.selftest", "cli.parser", "core.explain.pair", "gui.app"} <= set(analysis["hiddenimports"])
    assert "triton" in analysis["excludes"] and "PySide6.QtWebEngineCore" in analysis["excludes"]
    # Nothing the app imports may be excluded.
    assert not {"torch", "torchvision", "PySide6.QtWidgets", "PySide6.QtGui", "cv2", "PIL"} & set(analysis["excludes"])
    assert calls["EXE"]["name"] == calls["COLLECT"]["name"] == "SiameseLens"
    assert calls["EXE"]["exclude_binaries"] is True  # one folder, not one file
    assert calls["EXE"]["console"] is True  # --selftest and --version print to stdout


def test_spec_builds_the_cpu_flavour_by_default(tmp_path, monkeypatch):
    calls = _run_spec(tmp_path, monkeypatch)
    analysis = calls["Analysis"]
    assert analysis["runtime_hooks"] == [str(tmp_path / "hooks" / "rthook_cpu_flavour.py")]
    assert {"nvidia", "cuda"} <= set(analysis["excludes"])
    assert _recorded_flavour(analysis) == "cpu"
    # CUDA libraries (and PyInstaller's top-level links to them) leave the bundle; the rest stays.
    assert [entry[0] for entry in calls["COLLECT"]["binaries"]] == ["torch/lib/libc10.so"]
    assert [entry[0] for entry in calls["COLLECT"]["datas"]] == ["resources/icon.png"]


@pytest.mark.parametrize("argv, env", [(["--flavour", "cuda"], None), ([], "cuda"), (["--flavour", "cuda"], "cpu")])
def test_spec_builds_the_cuda_flavour_on_request(tmp_path, monkeypatch, argv, env):
    calls = _run_spec(tmp_path, monkeypatch, argv=argv, env=env)
    analysis = calls["Analysis"]
    assert analysis["runtime_hooks"] == []
    assert not {"nvidia", "cuda"} & set(analysis["excludes"])
    assert _recorded_flavour(analysis) == "cuda"
    assert len(calls["COLLECT"]["binaries"]) == 3 and len(calls["COLLECT"]["datas"]) == 2


@pytest.mark.parametrize("argv, env", [(["--flavour", "rocm"], None), ([], "gpu")])
def test_spec_rejects_an_unknown_flavour(tmp_path, monkeypatch, argv, env):
    with pytest.raises(SystemExit) as exit_info:
        _run_spec(tmp_path, monkeypatch, argv=argv, env=env)
    assert exit_info.value.code == 2


def _recorded_flavour(analysis) -> str:
    """The flavour the spec records for core.model.device: the build_flavour.txt it ships at the bundle's top."""
    sources = [src for src, dest in analysis["datas"] if dest == "." and Path(src).name == "build_flavour.txt"]
    assert len(sources) == 1
    return Path(sources[0]).read_text().strip()


def _run_spec(root: Path, monkeypatch, argv=(), env=None) -> dict:
    """Execute build.spec with PyInstaller's build classes replaced by recorders; their keyword arguments by class.

    argv: what follows `--` on PyInstaller's command line; env: SIAMESE_LENS_FLAVOUR (None: unset)."""
    calls: dict = {}
    monkeypatch.setattr("sys.argv", [str(ROOT / "build.spec"), *argv])
    if env is None:
        monkeypatch.delenv("SIAMESE_LENS_FLAVOUR", raising=False)
    else:
        monkeypatch.setenv("SIAMESE_LENS_FLAVOUR", env)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))  # the spec puts hooks/ on it
    monkeypatch.delitem(__import__("sys").modules, "cpu_flavour", raising=False)
    if not (root / "hooks").exists():
        (root / "hooks").symlink_to(ROOT / "hooks")

    fake = root / "fake.so"
    fake.write_bytes(b"not an ELF file")
    found = {  # what an Analysis of a CUDA build of torch finds, in miniature
        "binaries": [("torch/lib/libc10.so", str(fake), "BINARY"), ("torch/lib/libtorch_cuda.so", str(fake), "BINARY"),
                     ("nvidia/cu13/lib/libcublas.so.13", str(fake), "BINARY")],
        "datas": [("resources/icon.png", str(fake), "DATA"),
                  ("libcublas.so.13", "nvidia/cu13/lib/libcublas.so.13", "SYMLINK")],
    }

    def recorder(kind):
        class Recorded:
            def __init__(self, *args, **kwargs):
                calls[kind] = kwargs
                self.pure, self.scripts = [], []
                self.binaries, self.datas = ((list(found["binaries"]), list(found["datas"])) if kind == "Analysis"
                                             else ([], []))
                if kind == "COLLECT":
                    calls[kind] = {**kwargs, "binaries": args[1], "datas": args[2]}

        return Recorded

    names = {kind: recorder(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT")}
    monkeypatch.syspath_prepend(str(ROOT))
    code = compile((ROOT / "build.spec").read_text(), str(ROOT / "build.spec"), "exec")
    exec(code, {"SPECPATH": str(root), "workpath": str(root / "work"), "__name__": "__main__", **names})
    return calls
