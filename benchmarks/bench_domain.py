"""Out-of-domain rates of a model: the share of its own test images flagged, and of every image of other data sets.

    python benchmarks/bench_domain.py MODEL.pt OWN_DATA [OTHER_DATA ...]
        [--cache-dir .cache] [--repeats 201] [--threads 1]

The test split is re-created from the model's metadata (as `main.py calibrate` does); the check is the model's
stored summary, whichever version it has. Also: the median time of the check itself for one pair (its stage
statistics captured, the summary decoded and scored), beyond the forward pass an explanation makes anyway.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core import domain  # noqa: E402
from core.data import load_cache, scan_dataset, split_by_image  # noqa: E402
from core.trust import domain_features, embed_and_features, stage_probe  # noqa: E402
from core.weights import load_model  # noqa: E402


def flagged(model, dataset, cache_dir) -> float:
    summary = model.metadata["domain"]
    stages = [int(s["index"]) for s in summary.get("stages", [])]
    images = load_cache(dataset, model.config.input_size, cache_dir, view=model.config)
    return float(1.0 - domain.check(summary, embed_and_features(model, images, stages, with_embeddings=False)[1]).mean())


def check_ms(model, repeats: int) -> dict:
    """Median ms of one pair's forward pass through the backbone with and without the domain hooks, and of
    domain.check on the captured features."""
    batch = torch.rand(2, 3, model.config.input_size, model.config.input_size)
    times = {"forward": [], "forward_with_hooks": [], "check": []}
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.features(batch)
            t1 = time.perf_counter()
            with stage_probe(model) as stages:
                maps = model.features(batch)
            t2 = time.perf_counter()
            domain.check(model.metadata["domain"], domain_features(maps, stages))
            t3 = time.perf_counter()
            for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[key].append(1000 * value)
    return {key: round(statistics.median(v), 2) for key, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("own_data")
    parser.add_argument("other_data", nargs="*")
    parser.add_argument("--cache-dir", default=".cache")
    parser.add_argument("--repeats", type=int, default=201)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine may be shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model).eval()
    split = model.metadata["split"]
    own = scan_dataset(args.own_data)
    test = own.subset(split_by_image(own, int(split["seed"]), float(split["val_fraction"]),
                                     float(split["test_fraction"]))["test"])
    summary = model.metadata["domain"]
    result = {"model": args.model, "summary_version": summary.get("version", 1),
              "summary_json_bytes": len(json.dumps(summary)),
              "flagged": {f"{Path(args.own_data).name} (test split, {len(test.paths)})":
                          flagged(model, test, args.cache_dir)}}
    for other in args.other_data:
        dataset = scan_dataset(other)
        result["flagged"][f"{Path(other).name} (all, {len(dataset.paths)})"] = flagged(model, dataset, args.cache_dir)
    result["median_ms_per_pair"] = check_ms(model, args.repeats)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
