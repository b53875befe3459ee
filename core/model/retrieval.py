"""Nearest cases of a query among a gallery's embeddings, and the retrieval metrics of a model.

Embeddings are unit length, so the nearest cases are those of largest cosine; the similarity shown is the
model's own score s = 1 - d/2 with d = sqrt(2 - 2 cos). Exact search with numpy is fast enough up to
EXACT_LIMIT gallery images (about 20 ms a query at 100k on 2 cores); above it a faiss HNSW graph (approximate,
recall@10 > 0.99) answers in about a millisecond, behind the same interface.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from core.model.similarity import similarity_from_distance

EXACT_LIMIT = 100_000
CHUNK = 16_384  # gallery rows per matrix product: bounded memory for any gallery size
HNSW_LINKS = 32
HNSW_SEARCH_DEPTH = 128  # candidates kept while searching: recall@10 above 0.99 on the tests' random data


class Searcher:
    """k-nearest search over a fixed gallery of unit embeddings; built once, queried many times.

    backend: "numpy", "faiss", or "auto" (faiss above EXACT_LIMIT gallery rows when it is installed).
    """

    def __init__(self, gallery: np.ndarray, backend: str = "auto"):
        self.gallery = np.ascontiguousarray(gallery, dtype=np.float32)
        if backend == "auto":
            backend = "faiss" if len(self.gallery) > EXACT_LIMIT and _faiss() is not None else "numpy"
        self.backend = backend
        self._faiss_index = _faiss_index(self.gallery) if backend == "faiss" else None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices (Q, k'), similarities (Q, k')) of each query's k nearest rows, best first;
        k' = min(k, gallery size)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(int(k), len(self.gallery))
        if k <= 0:
            return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
        if self._faiss_index is not None:
            cosine, index = self._faiss_index.search(queries, k)
        else:
            cosine, index = _numpy_search(self.gallery, queries, k)
        return index.astype(np.int64), similarity_from_cosine(cosine)


def nearest(gallery: np.ndarray, queries: np.ndarray, k: int, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """One-off search: Searcher(gallery, backend).search(queries, k)."""
    return Searcher(gallery, backend).search(queries, k)


def similarity_from_cosine(cosine: np.ndarray) -> np.ndarray:
    distance = np.sqrt(np.clip(2.0 - 2.0 * cosine, 0.0, 4.0))
    return similarity_from_distance(distance).astype(np.float32)


def vote(labels: list) -> tuple[str | None, int]:
    """Majority label among the hits (ties: the label of the nearer hit) and its count."""
    known = [label for label in labels if label is not None]
    if not known:
        return None, 0
    counts = Counter(known)
    top = max(counts.values())
    winner = next(label for label in known if counts[label] == top)
    return winner, top


def retrieval_metrics(gallery: np.ndarray, gallery_labels, queries: np.ndarray, query_labels, knn: int = 5) -> dict:
    """precision@1, precision@5, mean average precision (over the whole ranked gallery) and k-NN majority-vote
    label accuracy, for labelled queries against a labelled gallery."""
    gallery_labels, query_labels = np.asarray(gallery_labels), np.asarray(query_labels)
    order, _ = nearest(gallery, queries, len(gallery), backend="numpy")
    relevant = gallery_labels[order] == query_labels[:, None]  # (Q, N) in rank order
    ranks = np.arange(1, relevant.shape[1] + 1)
    hits = np.cumsum(relevant, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (relevant * hits / ranks).sum(axis=1) / relevant.sum(axis=1)
    votes = [vote(list(gallery_labels[row[:knn]]))[0] for row in order]
    return {
        "queries": int(len(queries)), "gallery": int(len(gallery)),
        "precision_at_1": float(relevant[:, :1].mean()),
        "precision_at_5": float(relevant[:, :5].mean()),
        "mean_average_precision": float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan"),
        f"knn{knn}_accuracy": float(np.mean([v == q for v, q in zip(votes, query_labels, strict=True)])),
    }


def _numpy_search(gallery, queries, k):
    best_cos = np.full((len(queries), 0), -np.inf, np.float32)
    best_idx = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(gallery), CHUNK):
        cos = queries @ gallery[start:start + CHUNK].T
        take = min(k, cos.shape[1])
        part = np.argpartition(-cos, take - 1, axis=1)[:, :take]
        best_cos = np.concatenate([best_cos, np.take_along_axis(cos, part, axis=1)], axis=1)
        best_idx = np.concatenate([best_idx, part + start], axis=1)
        keep = np.argsort(-best_cos, axis=1, kind="stable")[:, :k]
        best_cos, best_idx = np.take_along_axis(best_cos, keep, axis=1), np.take_along_axis(best_idx, keep, axis=1)
    return best_cos, best_idx


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _faiss_index(gallery: np.ndarray):
    faiss = _faiss()
    if faiss is None:
        raise RuntimeError("faiss is not installed (pip install faiss-cpu)")
    # A graph index: a query visits a few thousand rows instead of all of them. Measured here, faiss's flat
    # (exact) index is no faster than numpy for one query at 100k rows, so only the graph earns the dependency.
    index = faiss.IndexHNSWFlat(gallery.shape[1], HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    index.hnsw.efSearch = HNSW_SEARCH_DEPTH
    index.add(gallery)
    return index
