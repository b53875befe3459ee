"""Calibration of the similarity score: a monotone map s -> P(both images show the same class), and its error.

Platt scaling (a logistic curve in s, Platt 1999) fitted on the validation split: two numbers, monotone by
construction (the slope is kept >= 0), smooth, and hard to overfit on a few hundred pairs, where isotonic
regression's steps would chase noise. Pairs are drawn as training draws them (one same-class and one other-class
partner per image), so the probability is for that balanced mix of pairs, which the README says.
"""

from __future__ import annotations

import math

import numpy as np


def fit_platt(scores, same, iterations: int = 100) -> dict:
    """Maximum-likelihood (a, b) of P(same) = 1 / (1 + exp(-(a s + b))), by Newton's method, with Platt's
    smoothed targets so perfectly separated data still give finite parameters. a is kept >= 0 (monotone)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=np.float64)
    positives, negatives = y.sum(), len(y) - y.sum()
    target = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    a, b = 1.0, 0.0
    x = np.stack([s, np.ones_like(s)], axis=1)
    for _ in range(iterations):
        p = _sigmoid(a * s + b)
        gradient = x.T @ (p - target)
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0:  # no usable signal: a constant base rate
        a, b = 0.0, float(np.log(target.mean() / (1 - target.mean())))
    return {"method": "platt", "a": float(a), "b": float(b)}


def apply(calibration: dict, scores):
    """Calibrated probabilities for scores (array or float); ValueError for a malformed calibration."""
    a, b = float(calibration["a"]), float(calibration["b"])
    if calibration.get("method") != "platt" or not (math.isfinite(a) and math.isfinite(b)) or a < 0:
        raise ValueError("not a monotone Platt calibration")
    return _sigmoid(a * np.asarray(scores, dtype=np.float64) + b)


def expected_calibration_error(probabilities, same, bins: int = 10) -> float:
    """ECE: over equal-width probability bins, the share of pairs in the bin times |mean probability - share of
    same-class pairs|. 0 = the probabilities mean what they say."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(same, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    index = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for k in range(bins):
        members = index == k
        if members.any():
            error += members.mean() * abs(p[members].mean() - y[members].mean())
    return float(error)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
