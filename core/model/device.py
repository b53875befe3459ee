"""Where the model runs: 'auto' picks CUDA when present, else the CPU.

The app ships in two flavours (build.spec): `cuda`, and `cpu`, the default, which carries no CUDA library at all.
A frozen bundle records its flavour in FLAVOUR_FILE; in the cpu flavour 'auto' means the CPU, the device menu
offers Auto and CPU only, and a CUDA request is refused with a message that says why, without asking torch.
Importing this module does not import torch (the window reads `device_choices()` while it starts; main.py sets the
threads' wait policy with it before anything loads torch).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.errors import InputError
from core.vocabulary import DEVICES

FLAVOUR_FILE = "build_flavour.txt"  # written into the bundle's top folder (sys._MEIPASS) by build.spec
CPU_BUILD = ("this is the CPU build of Siamese Lens, which carries no CUDA libraries; "
             "run on the CPU, or use the cuda build for an NVIDIA GPU")
AUTO_CPU = (("Auto", "auto"), ("CPU", "cpu"))


def build_flavour() -> str | None:
    """'cpu' or 'cuda' in a frozen bundle (as build.spec recorded it), None when running from source."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not bundle:
        return None
    try:
        return (Path(bundle) / FLAVOUR_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def cuda_unsupported() -> str | None:
    """Why this installation can never run on CUDA, or None when it may (torch then decides at run time)."""
    return CPU_BUILD if build_flavour() == "cpu" else None


def device_choices() -> tuple[tuple[str, str], ...]:
    """(label, value) pairs for the device menu: Auto and CPU, plus CUDA unless this build cannot have it."""
    return AUTO_CPU if cuda_unsupported() else (*AUTO_CPU, ("CUDA", "cuda"))


def resolve_device(name: str):
    """'auto', 'cpu' or 'cuda' -> a torch.device; InputError (one line) if CUDA is asked for but absent."""
    import torch

    if name not in DEVICES:
        raise InputError(f"unknown device {name!r}; choose {', '.join(DEVICES)}")
    reason = cuda_unsupported()
    if name == "auto":
        return torch.device("cuda" if reason is None and torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if reason is not None:
            raise InputError(f"CUDA was requested but {reason}")
        if not torch.cuda.is_available():
            raise InputError("CUDA was requested but no CUDA device is available")
    return torch.device(name)


def torch_device(device):
    """load_model's `device`: 'auto', 'cpu' or 'cuda' (resolve_device), or a torch.device or its name ('cuda:1');
    InputError (one line) for a name torch does not know or a CUDA device that is absent, never torch's own
    "Expected one of cpu, cuda, ipu, ..." or "Found no NVIDIA driver on your system"."""
    import torch

    if isinstance(device, str) and device in DEVICES:
        return resolve_device(device)
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; choose {', '.join(DEVICES)} or a torch device") from None
    if chosen.type == "cuda":
        resolve_device("cuda")  # raises if CUDA is absent
    return chosen


def let_idle_threads_sleep() -> None:
    """By default OpenMP's idle worker threads spin between and after torch's parallel regions, and a pair is many
    short ones. On a machine whose cores are busy with anything else (measured on two cores beside one other busy
    process: explain_pair 1.1-1.4 s instead of 64 ms at torch's default two threads; docs/benchmarks.md), each
    region then waits for a thread that lost its core. Sleeping idle threads cost a wake-up per region. OpenMP reads
    the policy once, when torch loads it: set before the first import of torch only (an embedding process keeps its
    own), and a user's own setting wins."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
