"""The `cpu` flavour of the bundle: torch's CUDA libraries left out, and the few the kept libraries link replaced by
stand-in stubs built at build time.

The package index serves torch for Linux only as a CUDA build. Its CPU code (libtorch_cpu.so, libtorch_python.so)
is the same as in a CPU-only build, but it links CUDA libraries by name (libtorch_cuda.so, libc10_cuda.so,
libcudart.so.13, libcupti.so.13, libcudnn.so.9, ...), so the dynamic loader refuses to start without them, and
those are 3.4 GB (libtorch_cuda.so 0.5 GB, the NVIDIA wheels 2.9 GB). build.spec therefore drops every CUDA
library from the analysis, and for each one that a kept library still names in its DT_NEEDED entries builds a
stub with the same soname that defines exactly the symbols the kept libraries import from it (found with binutils'
nm/objdump, which PyInstaller itself needs on Linux) and compiles it with the C compiler (`cc`).

A stub never does CUDA work. Load-time registration of CUDA kernels (`__cudaRegister*`) is a no-op, a few queries
answer "no device" as CUDA itself does on a machine without a GPU (ANSWERS_NO_DEVICE, EXACT_STUBS), one getter
hands out a scratch slot (RETURNS_SLOT), and every other function stops the process with a message naming it,
rather than crash somewhere later: the runtime hook (rthook_cpu_flavour.py) makes torch believe it was built
without CUDA, so none is called on the CPU. Data symbols are zero-filled objects of the original size; C++
type_info objects get their mangled name, which pybind11 hashes when torch registers its Python classes.
SIAMESE_LENS_STUB_TRACE=1 prints each stub call that does not stop the process.

Only this module knows about CUDA library names; build.spec calls `lean_binaries()` on the analysis' binaries.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

# Basenames of CUDA libraries, as torch, torchvision (auditwheel adds an 8-hex-digit hash) and NVIDIA's wheels
# name them. Anything under a top-level nvidia/ folder (NVIDIA's wheels) or cuda/ (cuda-python bindings) goes too.
CUDA_LIBRARY = re.compile(
    r"^lib(torch_cuda\w*|torch_nvshmem|c10_cuda|caffe2_nvrtc|cuda|cudart|cublas\w*|cudnn\w*|cufft\w*|cufile\w*"
    r"|curand|cusolver\w*|cusparse\w*|cupti|nccl|nvrtc\w*|nvJitLink|nvjitlink|nvshmem\w*|nvToolsExt|nvtx\w*"
    r"|nvjpeg|nvperf\w*|nvblas|nvidia-ml)(\.[0-9a-f]{8})?\.so(\.[0-9.]+)?$")
CUDA_FOLDERS = ("nvidia", "cuda")
# Python packages that exist only to ship or drive CUDA libraries (NVIDIA's wheels, cuda-python).
CUDA_PACKAGES = ["nvidia", "cuda", "cuda.bindings", "cuda.pathfinder"]
# Stubs of libraries that lived in an NVIDIA wheel folder go next to torch's own libraries, whose RUNPATH has
# $ORIGIN: the loader finds them there without any search path of ours.
STUB_FOLDER_FOR_WHEELS = "torch/lib"
# A string every stub carries, so a check can tell a stub from a real CUDA library by its content.
STUB_MARKER = "siamese-lens-cuda-stub"

# Functions whose honest answer on a machine without CUDA is 0: how many devices (c10::cuda::device_count(), asked
# by torch.cuda when it counts devices) and the CUDA runtime's "last error" (none).
ANSWERS_NO_DEVICE = {
    "_ZN3c104cuda12device_countEv",  # c10::cuda::device_count()
    "cudaGetLastError", "cudaPeekAtLastError",
}
# CUDA runtime calls with an out-parameter, answered as the real runtime does on a machine without a GPU or driver.
EXACT_STUBS = {
    # 100: cudaErrorNoDevice
    "cudaGetDeviceCount": "int {c}(int *count) {{ trace(\"{name}\"); if (count) *count = 0; return 100; }}",
    "cudaDriverGetVersion": "int {c}(int *version) {{ trace(\"{name}\"); if (version) *version = 0; return 0; }}",
}
# Getters of a process-wide slot that torch fills in while `import torch` registers its Python bindings, e.g.
# `*c10d::get_gil_checker() = &acquire_gil;`: they return a pointer to a zeroed static buffer of the stub, which
# nothing reads back on a CPU-only run.
RETURNS_SLOT = {
    "_ZN4c10d15get_gil_checkerEv",  # c10d::get_gil_checker()
}

DATA_TYPES = set("BbDdRrVvuGgSs")  # nm's letters for data symbols; anything else is taken for a function


class StubBuildError(RuntimeError):
    """The cpu flavour cannot be built here (no C compiler or binutils, or a stub failed to compile)."""


@dataclass
class Stub:
    soname: str  # file name the loader looks for, e.g. libcudart.so.13
    dest_dir: str  # bundle folder it goes to, e.g. torch/lib
    replaces: str  # bundle path of the library it stands in for
    functions: dict = field(default_factory=dict)  # name -> version node or None
    objects: dict = field(default_factory=dict)  # name -> (size, version node or None)
    versions: set = field(default_factory=set)  # version nodes the kept libraries require from it


def is_cuda_library(dest: str) -> bool:
    """True for a bundle path (PyInstaller's destination name) that is a CUDA library or lies in a CUDA folder."""
    path = PurePosixPath(dest.replace(os.sep, "/"))
    return (len(path.parts) > 1 and path.parts[0] in CUDA_FOLDERS) or bool(CUDA_LIBRARY.match(path.name))


def is_cuda_data(dest: str) -> bool:
    """True for a data file of a CUDA package: in an nvidia/ or cuda/ folder, or their wheels' metadata."""
    top = PurePosixPath(dest.replace(os.sep, "/")).parts[0]
    return top in CUDA_FOLDERS or bool(re.match(r"^(nvidia|cuda)[-_].*\.dist-info$", top))


def stub_destination(dest: str) -> str:
    """Bundle folder for the stub of the library at `dest`: its own folder, except NVIDIA wheel folders."""
    path = PurePosixPath(dest.replace(os.sep, "/"))
    return STUB_FOLDER_FOR_WHEELS if path.parts[0] in CUDA_FOLDERS else str(path.parent)


# --- reading ELF files with binutils ---------------------------------------------------------------------------

def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError as exc:
        raise StubBuildError(f"{cmd[0]} not found: the cpu flavour needs binutils (nm, objdump) and a C compiler; "
                             "install them (Debian/Ubuntu: apt install gcc binutils) "
                             "or build the cuda flavour") from exc
    except subprocess.CalledProcessError as exc:
        raise StubBuildError(f"{' '.join(cmd)} failed: {exc.stderr.strip()[:300]}") from exc


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def needed_and_version_refs(path: str) -> tuple[list[str], dict[str, str]]:
    """DT_NEEDED names, and {version node: file it is required from} of an ELF file (objdump -p)."""
    needed, refs, current = [], {}, None
    for line in _run("objdump", "-p", path).splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "NEEDED":
            needed.append(words[1])
        elif line.startswith("  required from "):
            current = line.strip()[len("required from "):].rstrip(":")
        elif current and len(words) == 4 and words[0].startswith("0x"):
            refs[words[3]] = current
        elif not line.startswith(" "):
            current = None
    return needed, refs


def undefined_symbols(path: str) -> dict[str, str | None]:
    """{name: version node or None} of the dynamic symbols an ELF file imports (weak ones too)."""
    found = {}
    for line in _run("nm", "-D", "--undefined-only", path).splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("U", "w", "v"):
            name, _, version = words[1].partition("@")
            found[name] = version or None
    return found


def defined_symbols(path: str) -> dict[str, tuple[str, int, str | None]]:
    """{name: (nm type letter, size, version node or None)} of the dynamic symbols an ELF file exports."""
    found = {}
    for line in _run("nm", "-D", "-S", "--defined-only", path).splitlines():
        words = line.split()
        if len(words) == 4:
            _addr, size, kind, symbol = words
        elif len(words) == 3:
            _addr, kind, symbol = words
            size = "0"
        else:
            continue
        name, _, version = symbol.partition("@@") if "@@" in symbol else symbol.partition("@")
        if name not in found or "@@" in symbol:
            found[name] = (kind, int(size, 16), version or None)
    return found


# --- choosing and writing stubs --------------------------------------------------------------------------------

def plan_stubs(kept: dict[str, str], dropped: dict[str, str]) -> list[Stub]:
    """Stubs for the dropped libraries that kept ones need. kept/dropped: {bundle path: source path} of ELF files.

    A dropped library gets a stub when a kept library names it in DT_NEEDED. The stub defines a symbol when a kept
    library imports it, the dropped library defines it and no kept library does; versioned imports are matched by
    the file their version node is required from, so a library that also exports copies of libstdc++ symbols (like
    libcufile) does not capture them. A symbol that only a dropped library without a stub defines (it was loaded
    as a dependency of another dropped library, like libtorch_nvshmem by libtorch_cuda) goes to the stub of a
    library that needed it. StubBuildError if a kept library would be left with an unresolved import."""
    by_name = {PurePosixPath(dest).name: dest for dest in dropped}
    dropped_needed = {dest: needed_and_version_refs(src)[0] for dest, src in dropped.items()}
    exported = {dest: defined_symbols(src) for dest, src in dropped.items()}
    kept_defined: set[str] = set()
    imports = []  # (needed names, version refs, undefined symbols) per kept library
    for src in kept.values():
        needed, refs = needed_and_version_refs(src)
        kept_defined.update(defined_symbols(src))
        imports.append((needed, refs, undefined_symbols(src)))
    stubs: dict[str, Stub] = {}
    for needed, _refs, _undefined in imports:
        for name in needed:
            if name in by_name and name not in stubs:
                stubs[name] = Stub(name, stub_destination(by_name[name]), by_name[name])

    def home(name: str) -> tuple[Stub, str] | None:
        """The stub an unversioned symbol goes to, and the dropped library whose definition it copies."""
        owners = [dest for dest in sorted(dropped) if name in exported[dest]]
        for dest in owners:
            soname = PurePosixPath(dest).name
            if soname in stubs:
                return stubs[soname], dest
        for dest in owners:
            for stub in stubs.values():
                if PurePosixPath(dest).name in dropped_needed[stub.replaces]:
                    return stub, dest
        return None

    for _needed, refs, undefined in imports:
        for version, file in refs.items():
            if file in stubs:
                stubs[file].versions.add(version)
        for name, version in undefined.items():
            if version is not None:
                stub = stubs.get(refs.get(version))
                if stub is None or name not in exported[stub.replaces]:
                    continue  # another library's symbol (e.g. GLIBCXX_3.4 from libstdc++)
                source = stub.replaces
            elif name in kept_defined:
                continue
            else:
                found = home(name)
                if found is None:
                    if any(name in symbols for symbols in exported.values()):
                        raise StubBuildError(f"{name}: imported by a kept library, defined only by a left-out CUDA "
                                             "library that no stub can stand in for")
                    continue  # defined by a system library, or a weak import left unresolved as before
                stub, source = found
            kind, size, own_version = exported[source][name]
            version = version or (own_version if source == stub.replaces else None)
            if kind in DATA_TYPES:
                stub.objects[name] = (max(size, 8), version)
            else:
                stub.functions[name] = version
            if version:
                stub.versions.add(version)
    return sorted(stubs.values(), key=lambda stub: (stub.dest_dir, stub.soname))


def stub_source(stub: Stub) -> tuple[str, str]:
    """(C source, linker version script) of a stub."""
    lines = [
        f"/* Stand-in for {stub.soname} in the cpu flavour of Siamese Lens (generated by hooks/cpu_flavour.py). */",
        "#include <stdio.h>",
        "#include <stdlib.h>",
        f'static const char siamese_lens_cuda_stub[] = "{STUB_MARKER} {stub.soname}";',
        "static void *slot[512];",
        "static void trace(const char *name) {",
        '    if (getenv("SIAMESE_LENS_STUB_TRACE")) fprintf(stderr, "%s: %s\\n", siamese_lens_cuda_stub, name);',
        "}",
        "static long no_device(const char *name) { trace(name); return 0; }",
        "static void no_cuda(const char *name) {",
        '    fprintf(stderr, "%s: %s was called, but this is the CPU build of Siamese Lens, which has no CUDA; '
        'build the cuda flavour (SIAMESE_LENS_FLAVOUR=cuda) to use an NVIDIA GPU\\n", siamese_lens_cuda_stub, name);',
        "    abort();",
        "}",
    ]
    for index, name in enumerate(sorted(stub.functions)):
        if name in EXACT_STUBS:
            lines.append(f'int f{index}() __asm__("{name}");')
            lines.append(EXACT_STUBS[name].format(c=f"f{index}", name=name))
            continue
        if name in RETURNS_SLOT:
            body = f'no_device("{name}"); return (long)slot;'
        elif name in ANSWERS_NO_DEVICE or name.startswith("__cuda"):
            body = f'return no_device("{name}");'
        else:
            body = f'no_cuda("{name}"); return 0;'
        lines.append(f'long f{index}(void) __asm__("{name}");')
        lines.append(f"long f{index}(void) {{ {body} }}")
    for index, (name, (size, _version)) in enumerate(sorted(stub.objects.items())):
        if name.startswith("_ZTI") and size >= 16:
            # A type_info: vtable pointer (never used: no object of this type is ever made), then its mangled name.
            lines.append(f'struct {{ void *vtable; const char *name; char rest[{size - 16}]; }} o{index} '
                         f'__asm__("{name}") __attribute__((aligned(16))) = {{0, "{name[4:]}"}};')
        else:
            lines.append(f'char o{index}[{size}] __asm__("{name}") __attribute__((aligned(16))) = {{0}};')
    nodes: dict[str | None, list[str]] = {}
    for name, version in stub.functions.items():
        nodes.setdefault(version, []).append(name)
    for name, (_size, version) in stub.objects.items():
        nodes.setdefault(version, []).append(name)
    named = sorted(version for version in set(nodes) | stub.versions if version)
    script = []
    for position, version in enumerate(named):
        symbols = sorted(nodes.get(version, []))
        if position == 0:
            symbols = sorted(symbols + nodes.get(None, []))
        script.append(f"{version} {{\n  global:\n" + "".join(f"    {s};\n" for s in symbols)
                      + ("  local: *;\n" if position == 0 else "") + "};")
    return "\n".join(lines) + "\n", "\n".join(script) + "\n"


def compile_stub(stub: Stub, out_dir: Path, cc: str | None = None) -> Path:
    """Compile one stub into out_dir/<dest_dir>/<soname>; its path."""
    cc = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise StubBuildError("no C compiler (cc/gcc) found: the cpu flavour builds small stand-in libraries with it; "
                             "install one (Debian/Ubuntu: apt install gcc) or build the cuda flavour")
    source, script = stub_source(stub)
    folder = out_dir / stub.dest_dir
    folder.mkdir(parents=True, exist_ok=True)
    c_file, map_file, lib = folder / f"{stub.soname}.c", folder / f"{stub.soname}.map", folder / stub.soname
    c_file.write_text(source)
    cmd = [cc, "-shared", "-fPIC", "-O1", "-s", f"-Wl,-soname,{stub.soname}", "-o", str(lib), str(c_file)]
    if script.strip():
        map_file.write_text(script)
        cmd.insert(-1, f"-Wl,--version-script={map_file}")
    _run(*cmd)
    return lib


def lean_binaries(binaries, work_dir: Path, log=print):
    """Split PyInstaller's binaries TOC for the cpu flavour.

    binaries: iterable of (dest, src, typecode). Returns (kept entries + stub entries, report) where report is a
    dict: dropped (bundle paths), stubs ({bundle path: [replaced path, n functions, n objects]}), dropped_mb."""
    entries = list(binaries)
    dropped = {dest: src for dest, src, kind in entries if kind != "SYMLINK" and is_cuda_library(dest)}
    kept = {dest: src for dest, src, kind in entries
            if kind != "SYMLINK" and dest not in dropped and is_elf(src)}
    stubs = plan_stubs(kept, {dest: src for dest, src in dropped.items() if is_elf(src)})
    stub_dir = work_dir / "cuda-stubs"
    shutil.rmtree(stub_dir, ignore_errors=True)
    result = [entry for entry in entries if entry[0] not in dropped
              and not (entry[2] == "SYMLINK" and (is_cuda_library(entry[0]) or is_cuda_library(entry[1])))]
    report = {"dropped": sorted(dropped), "stubs": {}, "dropped_mb": round(
        sum(os.path.getsize(src) for src in dropped.values()) / 2**20)}
    for stub in stubs:
        lib = compile_stub(stub, stub_dir)
        dest = f"{stub.dest_dir}/{stub.soname}"
        result.append((dest, str(lib), "BINARY"))
        report["stubs"][dest] = [stub.replaces, len(stub.functions), len(stub.objects)]
    log(f"cpu flavour: left out {len(dropped)} CUDA libraries ({report['dropped_mb']} MB); "
        f"{len(stubs)} stubs stand in for those still linked: " + ", ".join(sorted(report["stubs"])))
    return result, report


def lean_datas(datas, report):
    """The analysis' datas for the cpu flavour: no CUDA package files; PyInstaller's top-level symlinks to CUDA
    libraries (it lists them with the datas) point to their stubs instead, or go when the library has none."""
    stub_for = {replaced: dest for dest, (replaced, *_counts) in report["stubs"].items()}
    result = []
    for dest, src, kind in datas:
        if kind == "SYMLINK" and (is_cuda_library(dest) or is_cuda_library(src)):
            if src in stub_for:
                result.append((dest, stub_for[src], kind))
        elif not is_cuda_data(dest):
            result.append((dest, src, kind))
    return result


def is_stub(path: str) -> bool:
    """True if the file at `path` is one of our stubs (it carries STUB_MARKER)."""
    try:
        with open(path, "rb") as handle:
            return STUB_MARKER.encode() in handle.read(1 << 20)
    except OSError:
        return False

