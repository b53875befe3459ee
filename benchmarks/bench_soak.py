"""Soak: many pairs through the GUI's model runner and through `batch`; memory and file descriptors must not grow.

Target (issue 11): RSS growth <= 50 MB after warm-up and no file-descriptor growth over 1,000 pairs. The runner path
posts explain jobs (gui.jobs.tasks.explain) to gui.jobs.runner.Runner on its thread (as the session does) and waits
for each result; the batch path runs core.review.batch.run_batch on a CSV of the same number of pairs, with reports.

    python benchmarks/bench_soak.py [--pairs 1000] [--warmup 100] [--model weights/skin.pt]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def make_images(folder: Path, count: int) -> list[str]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"img{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (180, 240, 3), dtype=np.uint8)).save(path, quality=85)
        paths.append(str(path))
    return paths


def pair_of(n: int, count: int) -> tuple[int, int]:
    """The n-th pair: all distinct for n < count**2 (batch scores a pair listed twice only once)."""
    return n % count, (n // count + n + 1) % count


def soak_runner(model_path, images: list[str], pairs: int, warmup: int) -> tuple[float, float, int, int, float]:
    from PySide6.QtCore import QCoreApplication, QEventLoop

    from core.io.images import load_image
    from gui.jobs import tasks
    from gui.jobs.runner import Runner

    app = QCoreApplication.instance() or QCoreApplication([])
    runner = Runner()
    results = {}
    loop = QEventLoop()

    def done(n, value):
        results[n] = value
        loop.quit()

    runner.start()
    runner.submit("model", tasks.load_model, model_path, "cpu", on_result=lambda ready: done(0, ready),
                  on_error=lambda message: done(0, RuntimeError(message)))
    loop.exec()
    loaded = [load_image(p) for p in images]
    started = time.perf_counter()
    base_rss = base_fds = None
    for n in range(1, pairs + 1):
        first, second = pair_of(n, len(loaded))
        pair = (loaded[first], loaded[second])
        runner.submit("explain", tasks.explain, pair, (None, None), "gradcam", on_result=lambda r, n=n: done(n, r),
                      on_error=lambda message, n=n: done(n, RuntimeError(message)))
        loop.exec()
        if isinstance(results.pop(n), Exception):
            raise SystemExit(f"pair {n} failed")
        if n == warmup:
            base_rss, base_fds = rss_mb(), open_fds()
    seconds = time.perf_counter() - started
    end_rss, end_fds = rss_mb(), open_fds()
    runner.stop()
    del app
    return base_rss, end_rss, base_fds, end_fds, seconds


def soak_batch(model_path, images: list[str], pairs: int, warmup: int, folder: Path):
    from core.model.weights import load_model
    from core.review.batch import run_batch

    model = load_model(model_path)
    csv_path = folder / "pairs.csv"

    def write_csv(first: int, last: int) -> None:
        with open(csv_path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image1", "image2", "case_id"])
            for n in range(first, last + 1):
                first, second = pair_of(n, len(images))
                writer.writerow([images[first], images[second], f"case{n}"])

    out = folder / "batch"
    write_csv(1, warmup)  # warm-up run, then the whole list: the first `warmup` pairs are skipped as done
    run_batch(model, csv_path, out, report=True)
    base_rss, base_fds = rss_mb(), open_fds()
    write_csv(1, pairs)
    started = time.perf_counter()
    counts = run_batch(model, csv_path, out, report=True)
    seconds = time.perf_counter() - started
    if counts["failed"]:
        raise SystemExit(f"batch: {counts['failed']} pairs failed")
    return base_rss, rss_mb(), base_fds, open_fds(), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--model", default=str(ROOT / "weights" / "skin.pt"))
    parser.add_argument("--budget-mb", type=float, default=50.0)
    parser.add_argument("--only", choices=("runner", "batch"), help="one path only")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        images = make_images(Path(tmp), 50)
        for label, run in (("runner", lambda: soak_runner(args.model, images, args.pairs, args.warmup)),
                           ("batch --report",
                            lambda: soak_batch(args.model, images, args.pairs, args.warmup, Path(tmp)))):
            if args.only and not label.startswith(args.only):
                continue
            base_rss, end_rss, base_fds, end_fds, seconds = run()
            growth = end_rss - base_rss
            good = growth <= args.budget_mb and end_fds <= base_fds
            ok &= good
            print(f"{label:15s} {args.pairs} pairs in {seconds:6.1f} s: RSS {base_rss:.0f} -> {end_rss:.0f} MB "
                  f"(+{growth:.1f} MB after {args.warmup} warm-up pairs), fds {base_fds} -> {end_fds}  "
                  f"{'ok' if good else 'OVER BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
