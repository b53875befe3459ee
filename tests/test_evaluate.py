from itertools import product

import numpy as np
import pytest
import torch

from core.data import make_pairs, scan_dataset
from core.evaluate import EVAL_PAIR_SEED, evaluate_dataset
from core.images import load_image
from core.metrics import best_balanced_threshold, roc_auc
from core.weights import load_model


def brute_force_auc(scores, same):
    pos, neg = scores[same], scores[~same]
    return np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg)])


def test_auc_matches_mann_whitney_by_hand():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 2)  # with ties
    same = rng.random(300) < scores
    assert roc_auc(scores, same) == pytest.approx(brute_force_auc(scores, same), abs=1e-12)


def test_best_threshold_separates_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    threshold, balanced = best_balanced_threshold(scores, np.array([0, 0, 0, 1, 1]))
    assert 0.3 < threshold < 0.7 and balanced == 1.0


def test_evaluation_auc_matches_a_hand_computed_value(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    model = load_model(weights)
    result = evaluate_dataset(model, shapes_dir, include_seen=True)
    dataset = scan_dataset(shapes_dir)
    pairs = make_pairs(dataset.labels, np.random.default_rng(EVAL_PAIR_SEED))
    with torch.no_grad():
        embeddings = torch.cat([model.embed(model.preprocess(load_image(p).image)) for p in dataset.paths])
    scores = model.score(embeddings[pairs[:, 0]], embeddings[pairs[:, 1]]).numpy()
    same = pairs[:, 2] == 1
    assert result.pairs == len(pairs)
    assert result.auc == pytest.approx(brute_force_auc(scores, same), abs=1e-3)
    assert result.accuracy == pytest.approx(np.mean((scores >= model.threshold) == same), abs=0.01)


def test_evaluation_leaves_out_images_the_model_was_trained_on(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    model = load_model(weights)
    split = model.metadata["split"]
    result = evaluate_dataset(model, shapes_dir)
    assert result.excluded_seen == split["train"] + split["val"]
    assert result.images == split["test"]
    assert result.auc == pytest.approx(model.metadata["test_metrics"]["auc"], abs=0.1)
