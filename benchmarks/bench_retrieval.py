"""Similar-case retrieval: query latency on synthetic galleries, and index build throughput on real images.

    python benchmarks/bench_retrieval.py [--gallery ../shared/data/skin] [--images 256] [--repeats 21]

Latency: one query's k=10 nearest among 2,500 and 100,000 random unit embeddings (128-d), exact search with numpy and
with a faiss HNSW graph (each searcher built once, as a session reuses it), median of interleaved runs. Throughput:
`build_index` on the first N images of a gallery folder with the default model (lesion finding, preprocessing and
embedding included), written to a temporary folder, never into the gallery.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.model.retrieval import Searcher  # noqa: E402
from core.model.weights import load_model  # noqa: E402
from core.review.gallery import build_index, scan_gallery  # noqa: E402


def latency(size: int, repeats: int, rng) -> dict:
    gallery = rng.normal(size=(size, 128)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    query = gallery[rng.integers(size)][None] + 0.01
    searchers = {backend: Searcher(gallery, backend) for backend in ("numpy", "faiss")}
    times = {backend: [] for backend in searchers}
    for _ in range(repeats):
        for backend, searcher in searchers.items():
            t0 = time.perf_counter()
            searcher.search(query, 10)
            times[backend].append(time.perf_counter() - t0)
    return {backend: statistics.median(v) * 1000 for backend, v in times.items()}


def throughput(gallery: Path, images: int) -> tuple[float, int]:
    model = load_model(None)
    files = scan_gallery(gallery)[:images]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "gallery"
        for path, label in files:
            target = root / (label or "") / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path.resolve())
        t0 = time.perf_counter()
        _, counts = build_index(model, root, out=Path(tmp) / "index")
        return counts["embedded"] / (time.perf_counter() - t0), counts["embedded"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", default=str(Path(__file__).resolve().parent.parent.parent / "shared/data/skin"))
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"torch threads {torch.get_num_threads()}, {args.repeats} interleaved runs, k = 10, 128-d embeddings")
    for size in (2_500, 100_000):
        med = latency(size, args.repeats, rng)
        print(f"  query among {size:>7,}: numpy median {med['numpy']:7.2f} ms, faiss median {med['faiss']:7.2f} ms")
    rate, count = throughput(Path(args.gallery), args.images)
    print(f"  index build: {count} images of {args.gallery} at {rate:.1f} images/s (default model)")


if __name__ == "__main__":
    main()
