"""`--selftest`: prove an installation works end to end, headless, in one command.

Loads the default model, explains the first two bundled sample images, checks the result is usable and prints
one JSON line. It is the smoke test CI runs against the frozen binary, so it touches exactly what a bundle can
get wrong (weights and resources found via core.paths, torch/torchvision native code, OpenCV) and never Qt:
it must pass on a machine with no display and prove nothing about the GUI, which --screenshot covers.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

from core.explain.timing import elapsed_ms
from core.io.files import first_line
from core.io.image_files import is_image_file
from core.paths import resources_dir
from core.version import APP_NAME, __version__

EXIT_FAILED = 1


class SelftestFailure(Exception):
    """A check of the selftest did not hold; the message says which."""


def run_selftest_command(_args) -> int:
    """The `selftest` command (it takes no options)."""
    return run_selftest()


def run_selftest() -> int:
    """Run the selftest: JSON summary on stdout and 0, or one line on stderr and EXIT_FAILED."""
    try:
        summary = selftest()
    except Exception as exc:  # noqa: BLE001 - any failure of a smoke test is a failed smoke test, reported in one line
        sys.stderr.write(f"{APP_NAME} selftest FAILED: {type(exc).__name__}: {first_line(exc, 300)}\n")
        return EXIT_FAILED
    print(json.dumps(summary, sort_keys=True))
    return 0


def selftest() -> dict:
    """Explain the bundled sample pair with the default model; the summary, or SelftestFailure."""
    import torch

    from core import explain_pair, load_image, load_model

    # Until trained weights ship, load_model() falls back to a randomly initialised model; a fixed seed makes the
    # smoke test deterministic (same numbers from source and from the binary) instead of passing by chance.
    torch.manual_seed(0)
    first, second = sample_pair()
    start = time.perf_counter()
    model = load_model()
    loaded = time.perf_counter()
    explanation = explain_pair(model, load_image(first), load_image(second))
    explained = time.perf_counter()

    if not (math.isfinite(explanation.similarity) and 0.0 <= explanation.similarity <= 1.0):
        raise SelftestFailure(f"similarity {explanation.similarity!r} is not a finite number in [0, 1]")
    maps = {
        "factual_1": explanation.factual[0],
        "factual_2": explanation.factual[1],
        "counterfactual_1": explanation.counterfactual[0],
        "counterfactual_2": explanation.counterfactual[1],
    }
    stats = {name: check_map(name, cam) for name, cam in maps.items()}
    for image in ("1", "2"):
        # One of the two may legitimately be empty (no evidence against the decision); both empty is a failure.
        if stats[f"factual_{image}"]["max"] <= 0 and stats[f"counterfactual_{image}"]["max"] <= 0:
            raise SelftestFailure(f"image {image}: factual and counterfactual maps are both all zeros")
    return {
        "app": APP_NAME,
        "version": __version__,
        "frozen": bool(getattr(sys, "frozen", False)),
        "model": model.name,
        "untrained": bool(model.metadata.get("untrained", False)),
        "sha256": model.metadata.get("sha256") or None,
        "device": str(model.device),
        "samples": [first.name, second.name],
        "similarity": round(explanation.similarity, 6),
        "decision": explanation.decision,
        "verdict": explanation.verdict,
        "threshold": explanation.threshold,
        "method": explanation.method,
        "maps": stats,
        "timings_ms": {
            "load_model": elapsed_ms(start, loaded),
            "explain": elapsed_ms(loaded, explained),
            "explain_breakdown": explanation.timings_ms,
            "total": elapsed_ms(start, explained),
        },
    }


def sample_pair():
    """The first two bundled sample images (sorted by name), found through core.paths, never the cwd."""
    folder = resources_dir() / "samples"
    found = sorted(path for path in folder.iterdir() if is_image_file(path)) if folder.is_dir() else []
    if len(found) < 2:
        raise SelftestFailure(f"{folder}: expected at least two sample images, found {len(found)}")
    return found[0], found[1]


def check_map(name: str, cam) -> dict:
    """Shape and value range of one map; SelftestFailure if it has no pixels or holds NaN/inf."""
    if cam.ndim != 2 or cam.size == 0:
        raise SelftestFailure(f"map {name} is empty (shape {cam.shape})")
    if not np.isfinite(cam).all():
        raise SelftestFailure(f"map {name} holds NaN or infinite values")
    top = float(cam.max())
    return {"shape": list(cam.shape), "min": round(float(cam.min()), 6), "max": round(top, 6),
            "mean": round(float(cam.mean()), 6)}
