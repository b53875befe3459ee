"""Out-of-domain check: are an image's features far from those of every image the model was trained on?

The features are the model's pooled backbone features (core.trust.domain_features). The summary a
model stores is a seeded subsample of the training images' features (rounded to 3 decimals: under 1 MB of JSON) and a threshold: the 99th percentile, over the validation images, of the mean distance to their k
nearest training embeddings. An image above it is farther from the training data than 99 % of in-domain images
the model never saw, so its score is an extrapolation. The same subsample gives the nearest-neighbour distances of
distinct training images, from which a pair "close enough to be the same image content" is derived.
"""

from __future__ import annotations

import numpy as np

K = 5
SUBSAMPLE = 300  # x 512 features: the summary stays under 1 MB per copy (file + sidecar)
PERCENTILE = 99.0
# Embedding distance below which a pair may be the same content (s >= 0.99); contrastive training packs images of
# one class this close too, so the features must agree as well (see duplicate_distance in summarise).
DEFAULT_DUPLICATE_DISTANCE = 0.02


def knn_score(reference: np.ndarray, queries: np.ndarray, k: int = K, exclude_self: bool = False) -> np.ndarray:
    """Mean Euclidean distance from each query to its k nearest reference rows."""
    reference = np.asarray(reference, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    squared = (queries ** 2).sum(1)[:, None] + (reference ** 2).sum(1)[None, :] - 2.0 * queries @ reference.T
    distances = np.sqrt(np.maximum(squared, 0.0))
    if exclude_self:
        np.fill_diagonal(distances, np.inf)
    k = max(1, min(k, distances.shape[1] - int(exclude_self)))
    return np.sort(distances, axis=1)[:, :k].mean(1)


def summarise(train_embeddings: np.ndarray, val_embeddings: np.ndarray, seed: int = 0) -> dict:
    """The compact summary stored in a model's metadata (see the module docstring)."""
    train = np.asarray(train_embeddings, dtype=np.float32)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(train), min(SUBSAMPLE, len(train)), replace=False))
    reference = np.round(train[pick].astype(np.float64), 3)  # float64: JSON writes 0.123, not 0.12300000339
    val_scores = knn_score(reference, val_embeddings)
    nearest = knn_score(reference, reference, k=1, exclude_self=True)
    return {
        "k": K,
        "percentile": PERCENTILE,
        "threshold": float(np.percentile(val_scores, PERCENTILE)),
        "val_score_percentiles": {str(q): float(np.percentile(val_scores, q)) for q in (50, 90, 95, 99)},
        # feature distance of "the same content": a quarter of the typical distance from a training image to its
        # nearest other one (a resampled copy measured at a sixth of it; a few near-duplicates in the data fall below)
        "duplicate_distance": float(0.25 * np.median(nearest)),
        "embeddings": reference.tolist(),
    }


def check(summary: dict, embeddings: np.ndarray) -> np.ndarray:
    """Boolean per row: inside the domain. ValueError for a malformed summary."""
    reference = np.asarray(summary["embeddings"], dtype=np.float32)
    queries = np.asarray(embeddings, dtype=np.float32)
    if reference.ndim != 2 or queries.ndim != 2 or reference.shape[1] != queries.shape[1] or len(reference) == 0:
        raise ValueError("domain summary does not match the model's embeddings")
    return knn_score(reference, queries, int(summary.get("k", K))) <= float(summary["threshold"])
