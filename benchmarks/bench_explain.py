"""Cost of a full explanation (score + 4 maps) against a plain forward pass and against the paper's recipe.

    python benchmarks/bench_explain.py [--model PATH] [--repeats 15]

All three are timed end to end from PIL images (preprocessing and map upsampling included), interleaved in
one process so machine noise hits them alike; medians and their ratios are printed.
Targets (issue 2): explanation <= 1.25x plain forward; >= 4x faster than the paper's recipe.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.paper_recipe import paper_recipe_cams  # noqa: E402
from core import explain_pair, load_image, load_model  # noqa: E402
from core.explain.pair import normalise, upsample  # noqa: E402
from core.paths import resources_dir  # noqa: E402


def plain_forward(model, a, b):
    with torch.no_grad():
        batch = torch.cat([model.preprocess(a.image), model.preprocess(b.image)])
        e = model.embed(batch)
        return float(model.score(e[0:1], e[1:2]))


def paper_recipe(model, a, b):
    batch = torch.cat([model.preprocess(a.image), model.preprocess(b.image)])
    cams = paper_recipe_cams(model, batch)
    return [upsample(normalise(np.maximum(cams[k][i], 0)), img.size) for k in cams for i, img in enumerate((a, b))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="weights file (default: the shipped default model)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    model = load_model(args.model)
    samples = sorted((resources_dir() / "samples").glob("*.jpg"))[:2]
    a, b = (load_image(p) for p in samples)
    runs = {"plain forward": lambda: plain_forward(model, a, b),
            "explanation (gradcam)": lambda: explain_pair(model, a, b, "gradcam"),
            "paper recipe": lambda: paper_recipe(model, a, b)}
    for fn in runs.values():  # warm-up
        fn()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(v) * 1000 for name, v in times.items()}
    print(f"model {model.name} ({model.config.architecture}, {model.config.input_size} px), images "
          f"{a.size} and {b.size}, torch threads {torch.get_num_threads()}, {args.repeats} interleaved runs")
    for name, value in med.items():
        print(f"  {name:<24} median {value:8.2f} ms")
    over_forward = med["explanation (gradcam)"] / med["plain forward"]
    speedup = med["paper recipe"] / med["explanation (gradcam)"]
    print(f"explanation / plain forward = {over_forward:.3f}x (target <= 1.25x)")
    print(f"paper recipe / explanation  = {speedup:.2f}x (target >= 4x)")


if __name__ == "__main__":
    main()
