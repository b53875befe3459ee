"""PyInstaller runtime hook of the cpu flavour (build.spec adds it only there): torch reports a CPU-only build.

In the cpu flavour torch's CUDA libraries are replaced by stubs (hooks/cpu_flavour.py), but `torch._C` still says
it was compiled with CUDA, cuDNN and distributed support, and torch acts on that at import: it registers CUDA
kernel overrides (torch._native, gated on torch.backends.cuda.is_built()), and initialises torch.distributed,
which constructs an NCCL options object in libtorch_cuda. A stub can do neither.

So right after `torch._C` is loaded, before torch reads it, this hook makes it describe what the bundle is, the
way a build made without CUDA and distributed support does: the `_has_cuda`-style flags are False, and the entry
points torch probes with hasattr() are gone: `_cuda_getDeviceCount` (torch.cuda.is_available() is then False
without touching any CUDA library, and a CUDA request fails with torch's own "Torch not compiled with CUDA
enabled") and `_c10d_init`/`_rpc_init`/... (torch.distributed.is_available() is False). The app uses none of them.
"""

import sys

CPU_ONLY_FLAGS = ("_has_cuda", "_has_cudnn", "_has_cusparselt", "_has_magma")
# What torch probes with hasattr() to tell whether it was built with CUDA or distributed support.
ABSENT_IN_CPU_BUILDS = ("_cuda_getDeviceCount", "_c10d_init", "_rpc_init", "_dist_autograd_init",
                        "_faulty_agent_init")


def describe_cpu_only_build(module) -> None:
    for name in CPU_ONLY_FLAGS:
        if hasattr(module, name):
            setattr(module, name, False)
    for name in ABSENT_IN_CPU_BUILDS:
        if hasattr(module, name):
            delattr(module, name)


class _TorchAsCpuOnlyBuild:
    """Meta path finder that lets the regular finders load torch._C, then edits it (once)."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != "torch._C":
            return None
        for finder in sys.meta_path:
            if finder is cls or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_as_cpu_only_build(module):
            exec_module(module)
            describe_cpu_only_build(module)
            if cls in sys.meta_path:
                sys.meta_path.remove(cls)

        spec.loader.exec_module = exec_as_cpu_only_build
        return spec


sys.meta_path.insert(0, _TorchAsCpuOnlyBuild)
