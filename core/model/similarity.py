"""The similarity score's one formula: s = 1 - d / 2 for the Euclidean distance d of two unit embeddings (d in
[0, 2], so s in [0, 1], 1 = identical). Torch-free: it works on floats, numpy arrays and tensors alike, so the
model, the explanation and the numpy similar-case search all score with the same line."""

from __future__ import annotations


def similarity_from_distance(distance):
    return 1.0 - 0.5 * distance


SLOPE = -0.5  # ds / dd of similarity_from_distance, for the closed-form gradient (SiameseModel.pair_gradient)


def distance_from_similarity(similarity):
    """The inverse: d = 2 (1 - s)."""
    return 2.0 * (1.0 - similarity)
