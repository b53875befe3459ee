"""What a lighter amortised explainer would cost: its call in explain_pair's path, against the shipped head.

    python benchmarks/bench_head_cost.py DATA --model weights/skin.pt [--pairs 8] [--repeats 12] [--threads 1]

Cost only, nothing trained or saved: each candidate is core.model.explainer_head.ExplainerHead with random weights
(same input scaling and layout; its numbers are noise, its cost is not), at other widths, or with the 3 x 3
convolutions of `out` made depthwise-separable (a depthwise 3 x 3, then a pointwise 1 x 1). On --pairs test pairs
of the model's own split, each head is called right after a first pass of the pair (the caches as explain_pair
leaves them), interleaved with the plain forward pass of benchmarks/bench_explain.py, --repeats times; per head the
median over pairs of its time and of the time it saves against the shipped head, also as a fraction of the forward
pass: subtracted from bench_explain.py's amortised ratio, the ratio that head would give (issue 35, session 14).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.bench_explain import plain_forward  # noqa: E402
from benchmarks.bench_explanations import split_pairs  # noqa: E402
from core import load_image, load_model  # noqa: E402
from core.explain.methods import grad_cam  # noqa: E402
from core.explain.pair import first_pass, model_view  # noqa: E402
from core.model.explainer_head import ExplainerHead, early_channels  # noqa: E402


def candidate(model, width: int, separable: bool = False) -> ExplainerHead:
    torch.manual_seed(0)
    head = ExplainerHead(int(model.explainer.scale.shape[1]), early_channels(model.features), width)
    if separable:
        inner = 2 * width + 1
        head.out[0] = nn.Sequential(nn.Conv2d(inner, inner, 3, padding=1, groups=inner), nn.Conv2d(inner, width, 1))
        head.out[2] = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, groups=width), nn.Conv2d(width, 1, 1))
    return head.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="data folder (<class>/<image>): its test pairs")
    parser.add_argument("--model", required=True, help="weights file with an amortised explainer")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    if model.explainer is None:
        raise SystemExit(f"{args.model}: no amortised explainer in this model (main.py explainer trains one)")
    width = model.config.explainer_width
    shipped = f"shipped (width {width})"
    heads = {shipped: model.explainer, f"width {width}, random": candidate(model, width),
             f"width {width}, separable": candidate(model, width, True), "width 16": candidate(model, 16),
             "width 16, separable": candidate(model, 16, True), "width 8": candidate(model, 8)}
    spent: dict = {name: [] for name in heads}
    saved: dict = {name: [] for name in heads}
    forward: list = []
    for path1, path2, _same in split_pairs(model, args.data, "test", args.pairs):
        images = (load_image(path1), load_image(path2))
        batch = torch.cat([model.input_tensor(model_view(model, image)[0]) for image in images])
        passed = first_pass(model, batch, early=True)

        def call(head, batch=batch, passed=passed) -> float:
            first_pass(model, batch, early=True)
            started = time.perf_counter()
            with torch.no_grad():
                head(passed.activations, passed.grads, passed.early, grad_cam(passed.activations, passed.grads))
            return time.perf_counter() - started

        times: dict = {name: [] for name in heads}
        forwards = []
        for head in heads.values():
            call(head)
        for _ in range(args.repeats):
            started = time.perf_counter()
            plain_forward(model, images)
            forwards.append(time.perf_counter() - started)
            for name, head in heads.items():
                times[name].append(call(head))
        forward.append(statistics.median(forwards) * 1000)
        for name in heads:
            spent[name].append(statistics.median(times[name]) * 1000)
            saved[name].append((statistics.median(times[shipped]) - statistics.median(times[name])) * 1000)
    base = statistics.median(forward)
    print(f"model {model.name}, {len(forward)} test pairs of {args.data}, {args.repeats} interleaved repeats each, "
          f"torch threads {torch.get_num_threads()}; forward pass of the pair median {base:.1f} ms")
    for name, head in heads.items():
        params = sum(p.numel() for p in head.parameters())
        gain = statistics.median(saved[name])
        print(f"  {name:<22} {params:7d} parameters  head {statistics.median(spent[name]):5.2f} ms  "
              f"saves {gain:+5.2f} ms = {gain / base:+.3f}x of the forward pass")


if __name__ == "__main__":
    main()
