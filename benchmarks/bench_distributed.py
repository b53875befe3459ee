"""Training throughput of 1 process against N under torchrun, on a subset of a real data set.

    python benchmarks/bench_distributed.py --threads 2                                  # 1 process, 2 threads
    torchrun --nproc_per_node 2 benchmarks/bench_distributed.py --threads 1             # 2 processes, 1 thread each

Trains resnet18 for a few short epochs on the first --per-class images of each class (symlinked into --work, decoded
once into its cache) and prints, from rank 0, the training images per second of each epoch: global batches 2..B
over the time between them, so neither the first batch's warm-up nor validation counts. DDP keeps the ranks in
step, so rank 0's pace is the run's.
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

from core.io.image_files import is_image_file  # noqa: E402
from core.training.distributed import environment  # noqa: E402
from core.training.train import TrainOptions, train  # noqa: E402


def subset(source: Path, target: Path, per_class: int) -> Path:
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / folder.name).mkdir(parents=True, exist_ok=True)
        for path in sorted(p for p in folder.iterdir() if is_image_file(p))[:per_class]:
            link = target / folder.name / path.name
            if not link.exists():
                try:
                    link.symlink_to(path.resolve())
                except FileExistsError:  # another rank made it first
                    pass
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/flowers")
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default="/tmp/siamese-lens-bench-distributed")
    args = parser.parse_args()
    work = Path(args.work)
    data = subset(Path(args.data), work / "data", args.per_class)
    group = environment()
    ticks: dict[int, list[float]] = {}

    def progress(p: dict) -> None:
        if not p["done"]:
            ticks.setdefault(p["epoch"], []).append(time.perf_counter())

    result = train(TrainOptions(data_dir=str(data), out=str(work / f"m{group.world}.pt"), input_size=args.size,
                                epochs=args.epochs, patience=args.epochs, batch_size=args.batch_size,
                                device="cpu", threads=args.threads, cache_dir=str(work / "cache"),
                                val_fraction=0.1, test_fraction=0.1), progress=progress)
    if group.leader:
        rates = [(len(t) - 1) * args.batch_size / (t[-1] - t[0]) for t in ticks.values() if len(t) > 1]
        print(json.dumps({"processes": group.world, "threads_each": args.threads, "size": args.size,
                          "global_batch": args.batch_size, "val_auc": round(result.best_val_auc, 3),
                          "images_per_s": [round(r, 1) for r in rates], "median": round(statistics.median(rates), 1),
                          "torch": torch.__version__}))


if __name__ == "__main__":
    main()
