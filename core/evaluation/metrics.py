"""Pair-verification metrics on similarity scores (higher score = more similar), in plain numpy."""

from __future__ import annotations

import numpy as np

BOOTSTRAP_ROUNDS = 2000  # the 2.5th and 97.5th percentiles move by under 0.002 between seeds at this count


def roc_auc(scores, same) -> float:
    """Area under the ROC curve via the Mann-Whitney statistic (ties count one half)."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same).astype(bool)
    n_pos, n_neg = int(same.sum()), int((~same).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + ends + 1) / 2.0)[inverse]  # tied scores share their average rank
    return float((ranks[same].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_interval(scores, same, groups, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of roc_auc, resampling `groups` with replacement: a pair's first image,
    since the two pairs drawn for one image (make_pairs) share it and are not independent draws."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same).astype(bool)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.cumsum(counts) - counts
    offsets = np.arange(counts.max())
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        picked = rng.integers(len(counts), size=len(counts))
        slots = starts[picked][:, None] + offsets[None, :]
        rows = order[slots[offsets[None, :] < counts[picked][:, None]]]
        values.append(roc_auc(scores[rows], same[rows]))
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def roc_curve(scores, same) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds), thresholds decreasing; predict 'same' if score >= t."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same).astype(bool)
    thresholds = np.unique(scores)[::-1]
    pos, neg = max(int(same.sum()), 1), max(int((~same).sum()), 1)
    tpr = np.array([((scores >= t) & same).sum() / pos for t in thresholds])
    fpr = np.array([((scores >= t) & ~same).sum() / neg for t in thresholds])
    return np.concatenate(([0.0], fpr)), np.concatenate(([0.0], tpr)), np.concatenate(([np.inf], thresholds))


def best_balanced_threshold(scores, same) -> tuple[float, float]:
    """The threshold maximising balanced accuracy, halfway to the next lower score; (threshold, balanced acc).

    Any threshold in (next lower score, best score] predicts the same; the midpoint is the most robust choice.
    """
    fpr, tpr, thresholds = roc_curve(scores, same)
    balanced = (tpr + 1.0 - fpr) / 2.0
    best = int(np.argmax(balanced[1:])) + 1
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else thresholds[best] - 1e-3
    return float((thresholds[best] + lower) / 2.0), float(balanced[best])


def confusion(scores, same, threshold: float) -> dict:
    """Counts with 'similar' as the positive decision."""
    predicted = np.asarray(scores) >= threshold
    same = np.asarray(same).astype(bool)
    return {
        "true_similar": int((predicted & same).sum()),
        "false_similar": int((predicted & ~same).sum()),
        "true_different": int((~predicted & ~same).sum()),
        "false_different": int((~predicted & same).sum()),
    }


def accuracy(scores, same, threshold: float) -> float:
    same = np.asarray(same).astype(bool)
    return float(((np.asarray(scores) >= threshold) == same).mean()) if len(same) else float("nan")
