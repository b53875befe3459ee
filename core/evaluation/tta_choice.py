"""Choosing a model's test-time augmentation (core.model.tta) on its validation split: `main.py calibrate --tta`."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from core.data.datasets import load_cache, make_pairs
from core.errors import InputError
from core.evaluation.evaluate import EVAL_PAIR_SEED, embed_cached, score_pairs, summarise
from core.evaluation.metrics import best_balanced_threshold, roc_auc
from core.vocabulary import TTA_MODES

# A mode must raise the validation AUC by at least this much over no TTA to be worth its cost (8 views cost
# about 8x the forward pass); below it, the pair AUC's own noise on a few hundred pairs is larger.
MIN_GAIN = 0.005


def tune(model, dataset, splits: dict, cache_dir=None, mode: str = "auto") -> dict:
    """Set model.config.tta (`mode`, or with "auto" the mode with the best validation AUC if it gains MIN_GAIN
    over none), then its threshold on validation and its test metrics, as training does. Returns what was
    measured per mode (validation AUC, milliseconds per pair) and the choice."""
    if mode != "auto" and mode not in TTA_MODES:
        raise InputError(f"unknown test-time augmentation {mode!r}; choose auto or one of {', '.join(TTA_MODES)}")

    def scores(name: str) -> tuple[Callable[[], tuple[np.ndarray, np.ndarray]], torch.Tensor]:
        subset = dataset.subset(splits[name])
        images = load_cache(subset, model.config.input_size, cache_dir, view=model.config)
        pairs = make_pairs(subset.labels, np.random.default_rng(EVAL_PAIR_SEED))
        return lambda: (score_pairs(model, embed_cached(model, images), pairs), pairs[:, 2]), images

    val, val_images = scores("val")
    candidates = TTA_MODES if mode == "auto" else tuple(dict.fromkeys(("none", mode)))
    measured = {}
    for candidate in candidates:
        model.config.tta = candidate
        measured[candidate] = {"val_auc": round(roc_auc(*val()), 4),
                               "ms_per_pair": round(pair_milliseconds(model, val_images[:2]), 1)}
    if mode == "auto":
        base = measured["none"]["val_auc"]
        best = max(candidates, key=lambda c: measured[c]["val_auc"])
        mode = best if measured[best]["val_auc"] - base >= MIN_GAIN else "none"
    model.config.tta = mode
    val_scores, val_same = val()
    model.config.threshold, _ = best_balanced_threshold(val_scores, val_same)  # on validation, never on test
    test, test_images = scores("test")
    result = summarise(*test(), model.config.threshold, len(test_images))
    model.metadata["test_metrics"] = {"accuracy": result.accuracy, "auc": result.auc, "pairs": result.pairs}
    model.metadata["val_auc"] = measured[mode]["val_auc"]
    model.metadata["tta"] = {"chosen": mode, "min_gain": MIN_GAIN, "measured": measured}
    return {"chosen": mode, "measured": measured, "threshold": model.config.threshold, "test_auc": result.auc}


def pair_milliseconds(model, images, repeats: int = 5) -> float:
    """Median wall time of embedding a pair (uint8 (2, 3, S, S)) and scoring it, with the model's TTA."""
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            e = embed_cached(model, images)
            model.score(e[0:1], e[1:2])
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times[1:])  # the first run warms up
