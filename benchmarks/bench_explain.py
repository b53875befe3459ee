"""Cost of the first map: explain_pair (score, four maps, the trust checks) against a plain forward pass.

    python benchmarks/bench_explain.py [--model PATH] [--repeats 15]
    python benchmarks/bench_explain.py DATA --model weights/skin.pt [--pairs 8] [--repeats 3] [--threads 1] \
        [--methods gradcam,amortised] [--breakdown] [--side 3000]

Without DATA: the two bundled samples, end to end from LoadedImages, against the paper's recipe too
(targets of issue 2: explanation <= 1.25x plain forward; >= 4x faster than the paper's recipe).

With DATA: --pairs pairs of the model's own test split (benchmarks/bench_explanations.split_pairs), each timed
--repeats times, the forward pass and explain_pair with each of --methods (default: Grad-CAM and the amortised first
map, which needs a model with an explainer) interleaved so machine noise hits all alike; per pair the ratio of the
medians, then the median over pairs (issue 35's target: <= 1.1x). "Forward" is what a score alone costs
from the same LoadedImages: model_view (the automatic lesion crop), input_tensor, model.embed under no_grad and
model.score. --breakdown adds, on the same pairs and interleaved with the same forward pass, what explain_pair
spends beyond it: its own phases (timings_ms: preprocessing, the whole-image view of the domain check among it, the
pass with gradients and hooks, everything after it) and parts of them: the whole view with the stage features,
the domain check, the maps' resizing, each as a fraction of the forward pass. --side N enlarges every image to N px
on its longer side first (bicubic, in a temporary folder): the data sets' images are small (224 px skin), a
camera's are not.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.paper_recipe import paper_recipe_cams  # noqa: E402
from core import explain_pair, load_image, load_model  # noqa: E402
from core.explain.pair import image_maps, model_view, normalise, upsample  # noqa: E402
from core.paths import resources_dir  # noqa: E402
from core.trust import checks, domain_view  # noqa: E402


def plain_forward(model, images) -> float:
    """The score alone, from the same LoadedImages and with the same preprocessing as explain_pair."""
    views = [model_view(model, image)[0] for image in images]
    with torch.no_grad():
        e = model.embed(torch.cat([model.input_tensor(v) for v in views]))
        return float(model.score(e[0:1], e[1:2]))


def paper_recipe(model, a, b):
    batch = torch.cat([model.preprocess(a.image), model.preprocess(b.image)])
    cams = paper_recipe_cams(model, batch)
    return [upsample(normalise(np.maximum(cams[k][i], 0)), img.size) for k in cams for i, img in enumerate((a, b))]


def interleaved(runs: dict, repeats: int) -> dict:
    """Median seconds of each callable of `runs`, called in turn `repeats` times (after one warm-up call each)."""
    for fn in runs.values():
        fn()
    times: dict = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def samples(model, repeats: int) -> None:
    a, b = (load_image(p) for p in sorted((resources_dir() / "samples").glob("*.jpg"))[:2])
    med = interleaved({"plain forward": lambda: plain_forward(model, (a, b)),
                       "explanation (gradcam)": lambda: explain_pair(model, a, b, "gradcam"),
                       "paper recipe": lambda: paper_recipe(model, a, b)}, repeats)
    print(f"model {model.name} ({model.config.architecture}, {model.config.input_size} px), images "
          f"{a.size} and {b.size}, torch threads {torch.get_num_threads()}, {repeats} interleaved runs")
    for name, value in med.items():
        print(f"  {name:<24} median {value * 1000:8.2f} ms")
    print(f"explanation / plain forward = {med['explanation (gradcam)'] / med['plain forward']:.3f}x (target <= 1.25x)")
    print(f"paper recipe / explanation  = {med['paper recipe'] / med['explanation (gradcam)']:.2f}x (target >= 4x)")


def after_pass_parts(model, images) -> dict:
    """Callables for the forward pass's preprocessing (to set explain_pair's phases against) and for the parts of
    explain_pair that the breakdown names: the out-of-domain check's inputs (the whole-image view, which
    explain_pair takes before its pass, among them) and verdict, and the resizing of one set of maps."""
    explanation = explain_pair(model, images[0], images[1], "gradcam")
    views = [model_view(model, image)[0] for image in images]
    activations = torch.cat([model.input_tensor(v) for v in views])
    with torch.no_grad(), checks.stage_probe(model) as stages:
        activations = model.features(activations)
    features = domain_view.features_of(model, images, activations, stages)
    cams = np.stack(explanation.signed_cams).clip(min=0)
    sizes = [v.size for v in views]
    return {"forward's preprocessing": lambda: torch.cat([model.input_tensor(model_view(model, image)[0])
                                                          for image in images]),
            "whole view + stage features": lambda: domain_view.features_of(model, images, activations, stages),
            "domain check": lambda: checks.in_domain(model, features),
            "maps to image size (x2)": lambda: (image_maps(cams, sizes), image_maps(cams, sizes))}


def enlarged(path: Path, side: int, folder: Path):
    """The image at `path` resized (bicubic) to `side` px on its longer side, saved as PNG and loaded: what a
    camera's full-size photograph costs where the data set only has small ones."""
    with Image.open(path) as image:
        factor = side / max(image.size)
        big = image.convert("RGB").resize((round(image.width * factor), round(image.height * factor)),
                                          Image.Resampling.BICUBIC)
    out = folder / f"{len(list(folder.iterdir()))}.png"
    big.save(out)
    return load_image(out)


def pairs_ratio(model, data: Path, count: int, repeats: int, breakdown: bool, side: int | None,
                methods: list[str]) -> None:
    from benchmarks.bench_explanations import split_pairs

    folder = Path(tempfile.mkdtemp(prefix="bench_explain_"))
    try:
        chosen = [(p1, p2) for p1, p2, _same in split_pairs(model, data, "test", count)]
        pairs = [tuple(enlarged(p, side, folder) if side else load_image(p) for p in pair) for pair in chosen]
        timed(model, data, pairs, repeats, breakdown, side, methods)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def timed(model, data: Path, pairs, repeats: int, breakdown: bool, side: int | None, methods: list[str]) -> None:
    ratios: dict = {m: [] for m in methods}
    forward_ms: list = []
    explain_ms: dict = {m: [] for m in methods}
    parts: dict = {}
    for images in pairs:
        phases: dict = {"preprocess": [], "model": [], "maps": []}

        def explained(method, images=images, phases=phases):
            timed = explain_pair(model, images[0], images[1], method).timings_ms
            if method == methods[0]:  # the breakdown is the first method's
                for name in phases:
                    phases[name].append(timed[name])

        runs = {"forward": lambda images=images: plain_forward(model, images),
                **{m: (lambda m=m: explained(m)) for m in methods}}
        if breakdown:
            runs.update(after_pass_parts(model, images))
        med = interleaved(runs, repeats)
        forward_ms.append(med["forward"] * 1000)
        for m in methods:
            ratios[m].append(med[m] / med["forward"])
            explain_ms[m].append(med[m] * 1000)
        if breakdown:
            for name, values in phases.items():
                # the first call is the warm-up
                parts.setdefault(f"explain_pair's {name}", []).append(statistics.median(values[1:]) / 1000
                                                                        / med["forward"])
            for name in runs:
                if name != "forward" and name not in methods:
                    parts.setdefault(name, []).append(med[name] / med["forward"])
    print(f"model {model.name} ({model.config.architecture}, {model.config.input_size} px), {len(pairs)} test pairs "
          f"of {data}{f' enlarged to {side} px' if side else ''}, {repeats} interleaved repeats each, torch threads "
          f"{torch.get_num_threads()}")
    print(f"  forward pass of the pair  median {statistics.median(forward_ms):8.2f} ms")
    for m in methods:
        print(f"  explain_pair ({m}){' ' * max(0, 12 - len(m))} median {statistics.median(explain_ms[m]):8.2f} ms")
    for m in methods:
        print(f"explain_pair ({m}) / forward = {statistics.median(ratios[m]):.3f}x (median over pairs; "
              f"range {min(ratios[m]):.3f}-{max(ratios[m]):.3f}; target <= 1.1x)")
    for name, values in parts.items():
        print(f"  {name:<30} {statistics.median(values):6.3f} x forward (median over pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, help="data folder (<class>/<image>): time its test pairs")
    parser.add_argument("--model", help="weights file (default: the shipped default model)")
    parser.add_argument("--pairs", type=int, default=8, help="with DATA: test pairs to time")
    parser.add_argument("--repeats", type=int, help="interleaved repeats (default: 15 without DATA, 3 with)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--breakdown", action="store_true", help="with DATA: where explain_pair's extra time goes")
    parser.add_argument("--side", type=int, help="with DATA: enlarge each image to this many px on its longer side")
    parser.add_argument("--methods", default="gradcam,amortised", help="with DATA: the first maps timed")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    if args.data is None:
        samples(model, args.repeats or 15)
    else:
        methods = args.methods.split(",")
        if "amortised" in methods and model.explainer is None:
            raise SystemExit(f"{args.model}: no amortised explainer in this model (main.py explainer trains one)")
        pairs_ratio(model, args.data, args.pairs, args.repeats or 3, args.breakdown, args.side, methods)


if __name__ == "__main__":
    main()
