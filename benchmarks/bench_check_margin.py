"""How far apart two random maps' deletion and insertion AUCs fall: why the per-pair check judges against several.

    python benchmarks/bench_check_margin.py ../shared/data/skin ../shared/data/flowers --pairs 40

A map no better than a random one beats a single random map by about as much as one random map beats another, so
the window and the reports judge a map against three (core.explain.faithfulness.RANDOM_SEEDS) and call it faithful
only when it beats each of them (core.trust.checks.check_verdict); their median gap also sets how still the curves
must be for the check to say it cannot tell (core.trust.checks.FLAT). Reported: the percentiles of
|AUC(random a) - AUC(random b)|, deletion and insertion pooled, measured with the product's own blur and fractions,
on each model's validation pairs (benchmarks/bench_explanations.split_pairs), with random seeds 11-14 (the
product's are 0-2, the independent judge's 101-105).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench_explanations import random_maps, split_pairs  # noqa: E402
from core.explain.faithfulness import FRACTIONS, auc, perturbed_scores  # noqa: E402
from core.explain.pair import explain_pair, model_view  # noqa: E402
from core.io.images import load_image  # noqa: E402
from core.model.weights import load_model  # noqa: E402

SEEDS = (11, 12, 13, 14)  # apart from the product's (core.explain.faithfulness.RANDOM_SEEDS) and the judge's (101-105)


def spreads(model, data: str, count: int) -> list[float]:
    out = []
    for p1, p2, _same in split_pairs(model, data, "val", count):
        images = [load_image(p1), load_image(p2)]
        first = explain_pair(model, *images)
        explained = (lambda s: s) if first.decision == "similar" else (lambda s: 1.0 - s)
        views = [model_view(model, image)[0] for image in images]
        inputs = torch.cat([model.input_tensor(view) for view in views])
        shape = first.signed_cams[0].shape
        maps = [random_maps(shape, [view.size for view in views], seed) for seed in SEEDS]
        curves = perturbed_scores(model, inputs, maps, FRACTIONS)
        for mode in ("deletion", "insertion"):
            areas = [auc(explained(c[mode]), FRACTIONS) for c in curves]
            out += [abs(a - b) for a, b in itertools.combinations(areas, 2)]
    return out


def data_parser(description: str) -> argparse.ArgumentParser:
    """The arguments both check benchmarks take: data folders, a model for each, the pairs sampled from each."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data", nargs="+")
    parser.add_argument("--weights", nargs="*", help="one per data folder (default weights/<folder name>.pt)")
    parser.add_argument("--pairs", type=int, default=40)
    return parser


def models(args):
    """(data folder, weights path) for each data folder of data_parser's arguments."""
    for k, data in enumerate(args.data):
        yield data, args.weights[k] if args.weights else f"weights/{Path(data).name}.pt"


def main(argv=None) -> int:
    args = data_parser(__doc__.split("\n")[0]).parse_args(argv)
    torch.manual_seed(0)
    report, pooled = {}, []
    for data, weights in models(args):
        values = spreads(load_model(weights), data, args.pairs)
        pooled += values
        report[weights] = {f"p{q}": round(float(np.percentile(values, q)), 4) for q in (50, 75, 90, 95)}
    report["pooled"] = {f"p{q}": round(float(np.percentile(pooled, q)), 4) for q in (50, 75, 90, 95)}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
