"""k-NN probe of a backbone on a labelled folder-per-class data set: how well its features alone separate the
classes, with no head and no training, so that self-supervised pretraining (core.training.pretrain) shows its progress
before any fine-tuning. Works on any weights file, a trained Siamese model included.

Every image is represented by the model's trunk (`features`) and pooling, L2-normalised, at the model's input size
and view (lesion crop, colour constancy), as its embeddings are; the head and test-time views are not used.
Reported per data set:
- leave-one-out k-NN accuracy: each image's class by majority vote of its k most cosine-similar other images
  (k = 20; a tie goes to the class of the nearer neighbour), beside the majority class's share (always guessing
  the most common class scores that);
- pair AUC: ROC AUC of the cosine similarity on the Livieris pairs core.data.datasets.make_pairs draws (seeded),
  0.5 = chance.
Every image of the folder is used, those a trained model has seen included: for a trained model the probe is
optimistic (`evaluate` measures it on unseen images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.data.datasets import Dataset, load_cache, make_pairs, scan_dataset
from core.evaluation.evaluate import embed_cached
from core.evaluation.metrics import roc_auc
from core.vocabulary import PRETRAINING_DEFAULTS

PROBE_K = PRETRAINING_DEFAULTS["probe_k"]
PROBE_PAIR_SEED = 303
QUERY_CHUNK = 1024  # rows of the similarity matrix at a time: memory stays O(chunk x N)


@dataclass
class ProbeSet:
    """A labelled data set decoded once at a model's input size and view, to probe again and again."""

    name: str
    labels: np.ndarray
    images: torch.Tensor  # uint8 (N, 3, S, S)


def load_probe_set(data, view, cache_dir=None) -> ProbeSet:
    """The images of a data set (a core.data.datasets.Dataset, or the folder DATA_DIR/<class>/) at `view`'s (a
    ModelConfig's) input size and preprocessing."""
    dataset = data if isinstance(data, Dataset) else scan_dataset(data)
    images = load_cache(dataset, view.input_size, cache_dir, view=view)
    return ProbeSet(dataset.root.resolve().name, dataset.labels, images)


def backbone_features(model, images: torch.Tensor) -> torch.Tensor:
    """(N, C) unit-length pooled trunk features of a uint8 image tensor; batched, no grad, in eval mode."""
    def pooled(x):
        return F.normalize(model.pool(model.features(x)).flatten(1), dim=1)

    return embed_cached(model, images, embed=pooled)


@torch.no_grad()
def knn_accuracy(features: torch.Tensor, labels, k: int = PROBE_K) -> float:
    """Leave-one-out k-NN accuracy of unit-length features with cosine similarity (see the module's text)."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    n, classes = len(labels), int(labels.max()) + 1
    k = min(k, n - 1)
    if k < 1:
        return float("nan")
    ranks = torch.arange(k).expand(min(QUERY_CHUNK, n), k)
    correct = 0
    for start in range(0, n, QUERY_CHUNK):
        rows = torch.arange(start, min(start + QUERY_CHUNK, n))
        similarity = features[rows] @ features.T
        similarity[torch.arange(len(rows)), rows] = -float("inf")  # never its own neighbour
        neighbours = labels[similarity.topk(k, dim=1).indices]  # (B, k), nearest first
        votes = F.one_hot(neighbours, classes).sum(dim=1)
        first = torch.full((len(rows), classes), k).scatter_reduce(1, neighbours, ranks[:len(rows)], "amin")
        predicted = (votes * (k + 1) + (k - first)).argmax(dim=1)  # most votes, then the nearer class
        correct += int((predicted == labels[rows]).sum())
    return correct / n


def pair_auc(features: torch.Tensor, labels, seed: int = PROBE_PAIR_SEED) -> tuple[float, int]:
    """(ROC AUC of cosine similarity on the seeded Livieris pairs, number of pairs)."""
    pairs = make_pairs(np.asarray(labels), np.random.default_rng(seed))
    index = torch.as_tensor(pairs)
    cosine = (features[index[:, 0]] * features[index[:, 1]]).sum(dim=1).double().numpy()
    return roc_auc(cosine, pairs[:, 2]), len(pairs)


def probe(model, probe_set: ProbeSet, k: int = PROBE_K, seed: int = PROBE_PAIR_SEED) -> dict:
    """The probe of `model`'s backbone on one data set, as JSON-ready numbers (None: undefined)."""
    features = backbone_features(model, probe_set.images)
    auc, pairs = pair_auc(features, probe_set.labels, seed)
    counts = np.bincount(probe_set.labels)
    return {"data_set": probe_set.name, "images": int(len(probe_set.labels)), "classes": int((counts > 0).sum()),
            "k": min(k, len(probe_set.labels) - 1),
            "knn_accuracy": _defined(knn_accuracy(features, probe_set.labels, k)),
            "majority_share": float(counts.max() / counts.sum()), "pair_auc": _defined(auc), "pairs": int(pairs)}


def _defined(value: float) -> float | None:
    """None for an undefined rate (no pair of one kind, too few images): JSON has no NaN."""
    return float(value) if np.isfinite(value) else None


def probe_folders(model, data_dirs, cache_dir=None, k: int = PROBE_K) -> list[dict]:
    """probe() of each folder-per-class data set, in the order given."""
    return [probe(model, load_probe_set(d, model.config, cache_dir), k) for d in data_dirs]
