"""The cpu flavour's build-time stubs (hooks/cpu_flavour.py) and runtime hook (hooks/rthook_cpu_flavour.py).

The stub tests build a tiny stand-in for a CUDA library and a "kept" library that links it, with the same C
compiler and binutils the build uses, then load the kept library against the generated stub in a subprocess."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hooks"))
import cpu_flavour  # noqa: E402

needs_toolchain = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("cc", "nm", "objdump")),
                                     reason="needs a C compiler and binutils, as the cpu flavour's build does")

# A fake CUDA runtime: versioned like the real one, with a function torch calls on every CPU run
# (cudaGetDeviceCount), one only CUDA work calls (cudaMalloc), a data table, and its own copy of a libc function.
FAKE_CUDART = """
int cudaGetDeviceCount(int *count) { *count = 4; return 0; }
int cudaMalloc(void **ptr, unsigned long size) { return 0; }
int cuda_table[8] = {1, 2, 3, 4, 5, 6, 7, 8};
unsigned long strlen(const char *s) { return 999; }
"""
# A kept library (think libtorch_cpu.so) that links it and uses all four.
KEPT = """
#include <stdio.h>
int cudaGetDeviceCount(int *count);
int cudaMalloc(void **ptr, unsigned long size);
extern int cuda_table[8];
unsigned long strlen(const char *s);
int devices(void) { int n = -1; int rc = cudaGetDeviceCount(&n); return rc * 100 + n; }
int allocate(void) { void *p; return cudaMalloc(&p, 16); }
int table(void) { return cuda_table[3]; }
unsigned long length(void) { return strlen("four"); }
"""


def _cc(*args):
    subprocess.run(["cc", "-shared", "-fPIC", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def fake_libraries(tmp_path):
    """A real fake cudart (so.13, versioned) and a kept library linking it, both built from source."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "cudart.c").write_text(FAKE_CUDART)
    (real / "cudart.map").write_text("libcudart.so.13 { global: cudaGetDeviceCount; cudaMalloc; cuda_table; "
                                     "strlen; local: *; };\n")
    cudart = real / "libcudart.so.13"
    _cc("-Wl,-soname,libcudart.so.13", f"-Wl,--version-script={real / 'cudart.map'}", "-o", cudart, real / "cudart.c")
    (real / "kept.c").write_text(KEPT)
    kept = real / "libkept.so"
    _cc("-o", kept, real / "kept.c", f"-L{real}", "-l:libcudart.so.13", "-Wl,--no-as-needed")
    return kept, cudart


def _call(kept: Path, library_dir: Path, function: str, restype: str = "c_int"):
    """Load `kept` with library_dir on the loader path in a fresh process, call `function`; the CompletedProcess."""
    code = textwrap.dedent(f"""
        import ctypes
        lib = ctypes.CDLL({str(kept)!r}, mode=ctypes.RTLD_GLOBAL | 2)  # RTLD_NOW, as Python loads extensions
        fn = getattr(lib, {function!r})
        fn.restype = ctypes.{restype}
        print(fn())
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"LD_LIBRARY_PATH": str(library_dir), "PATH": "/usr/bin:/bin"})


@needs_toolchain
def test_kept_library_loads_against_the_stub_and_gets_no_device(fake_libraries, tmp_path):
    kept, cudart = fake_libraries
    real_call = _call(kept, cudart.parent, "devices")
    assert real_call.stdout.strip() == "4"  # the fake "real" library reports devices

    stubs = cpu_flavour.plan_stubs({"torch/lib/libkept.so": str(kept)},
                                   {"nvidia/cu13/lib/libcudart.so.13": str(cudart)})
    assert [(stub.soname, stub.dest_dir) for stub in stubs] == [("libcudart.so.13", "torch/lib")]
    stub = stubs[0]
    assert set(stub.functions) == {"cudaGetDeviceCount", "cudaMalloc"}  # not strlen: libc's, by its version
    assert set(stub.objects) == {"cuda_table"} and stub.objects["cuda_table"][0] == 32
    assert stub.versions == {"libcudart.so.13"}
    library = cpu_flavour.compile_stub(stub, tmp_path / "out")
    assert library == tmp_path / "out" / "torch" / "lib" / "libcudart.so.13"
    assert cpu_flavour.is_stub(str(library)) and not cpu_flavour.is_stub(str(cudart))
    assert library.stat().st_size < 64 * 1024

    # cudaGetDeviceCount answers "no device" (cudaErrorNoDevice = 100, count 0) like the real runtime without a GPU.
    for function, expected in (("devices", "10000"), ("table", "0"), ("length", "4")):
        done = _call(kept, library.parent, function, "c_ulong" if function == "length" else "c_int")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected, function


@needs_toolchain
def test_a_cuda_only_function_stops_with_a_message_naming_it(fake_libraries, tmp_path):
    kept, cudart = fake_libraries
    stub = cpu_flavour.plan_stubs({"k/libkept.so": str(kept)}, {"k/libcudart.so.13": str(cudart)})[0]
    library = cpu_flavour.compile_stub(stub, tmp_path / "out")
    done = _call(kept, library.parent, "allocate")
    assert done.returncode != 0
    assert "cudaMalloc" in done.stderr and "CPU build of Siamese Lens" in done.stderr


@needs_toolchain
def test_lean_binaries_drops_cuda_libraries_and_adds_stubs_where_the_loader_looks(fake_libraries, tmp_path):
    kept, cudart = fake_libraries
    unrelated = tmp_path / "real" / "libcublasLt.so.13"
    shutil.copy(cudart, unrelated)
    toc = [("torch/lib/libkept.so", str(kept), "BINARY"),
           ("nvidia/cu13/lib/libcudart.so.13", str(cudart), "BINARY"),
           ("nvidia/cu13/lib/libcublasLt.so.13", str(unrelated), "BINARY")]
    binaries, report = cpu_flavour.lean_binaries(toc, tmp_path / "work", log=lambda line: None)
    assert report["dropped"] == ["nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cu13/lib/libcudart.so.13"]
    dests = {dest: src for dest, src, _kind in binaries}
    assert set(dests) == {"torch/lib/libkept.so", "torch/lib/libcudart.so.13"}  # no stub for what nothing links
    assert cpu_flavour.is_stub(dests["torch/lib/libcudart.so.13"])
    datas = [("libcudart.so.13", "nvidia/cu13/lib/libcudart.so.13", "SYMLINK"),
             ("libcublasLt.so.13", "nvidia/cu13/lib/libcublasLt.so.13", "SYMLINK"),
             ("nvidia/cu13/include/cuda.h", "/x/cuda.h", "DATA"),
             ("cuda_bindings-13.5.0.dist-info/METADATA", "/x/METADATA", "DATA"),
             ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
             ("resources/icon.png", "/x/icon.png", "DATA")]
    assert cpu_flavour.lean_datas(datas, report) == [
        ("libcudart.so.13", "torch/lib/libcudart.so.13", "SYMLINK"),
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("resources/icon.png", "/x/icon.png", "DATA")]


@pytest.mark.parametrize("dest, cuda", [
    ("torch/lib/libtorch_cuda.so", True), ("torch/lib/libtorch_cuda_linalg.so", True),
    ("torch/lib/libc10_cuda.so", True), ("nvidia/cudnn/lib/libcudnn_ops.so.9", True),
    ("torchvision.libs/libnvjpeg.36e11081.so.13", True), ("libcudart.so.13", True),
    ("cuda/bindings/driver.cpython-311-x86_64-linux-gnu.so", True),
    ("torch/lib/libtorch_cpu.so", False), ("torch/lib/libtorch_python.so", False), ("torch/lib/libc10.so", False),
    ("torch/lib/libtorch_global_deps.so", False), ("PySide6/Qt/lib/libicudata.so.73", False),
    ("torchvision.libs/libjpeg.67fb65bd.so.8", False), ("cv2/cv2.abi3.so", False),
])
def test_cuda_libraries_are_told_apart_from_the_rest(dest, cuda):
    assert cpu_flavour.is_cuda_library(dest) is cuda


def test_runtime_hook_makes_torch_report_a_cpu_only_build(tmp_path):
    """Against a stand-in `torch` package, in a fresh interpreter: the hook edits torch._C as it is imported."""
    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("from torch import _C\n"
                                         "seen_at_import = _C._has_cuda, hasattr(_C, '_c10d_init')\n")
    (package / "_C.py").write_text("_has_cuda = _has_cudnn = True\n_has_mkldnn = True\n"
                                   "def _cuda_getDeviceCount(): return 1\ndef _c10d_init(): return True\n"
                                   "def _rpc_init(): return True\n")
    code = textwrap.dedent(f"""
        import runpy, sys
        sys.path.insert(0, {str(tmp_path)!r})
        runpy.run_path({str(ROOT / "hooks" / "rthook_cpu_flavour.py")!r})
        import torch
        from torch import _C
        print(torch.seen_at_import, _C._has_cuda, _C._has_cudnn, _C._has_mkldnn,
              hasattr(_C, "_cuda_getDeviceCount"), hasattr(_C, "_c10d_init"), hasattr(_C, "_rpc_init"),
              any(getattr(f, "__name__", "") == "_TorchAsCpuOnlyBuild" for f in sys.meta_path))
    """)
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(False,", "False)", "False", "False", "True", "False", "False", "False", "False"]


def test_runtime_hook_leaves_other_modules_alone():
    hook = runpy.run_path(str(ROOT / "hooks" / "rthook_cpu_flavour.py"))
    finder = hook["_TorchAsCpuOnlyBuild"]
    try:
        assert finder.find_spec("numpy") is None and finder.find_spec("torch._C_flatbuffer") is None
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
