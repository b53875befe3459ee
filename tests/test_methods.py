"""The methods earn their place: a registry of callables, pairwise distinct maps, and Adebayo et al.'s sanity check."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from core.explain.methods import METHODS, REGISTRY, get_method
from core.explain.pair import explain_pair
from core.io.images import load_image
from core.model.weights import load_model


def test_registry_implements_the_vocabulary_methods_with_one_line_of_help():
    from core import vocabulary

    assert tuple(REGISTRY) == vocabulary.METHODS  # every name the CLI and GUI offer has a callable, in their order
    for method in REGISTRY.values():
        assert callable(method.cams) and callable(method.sign)
        assert method.help and "\n" not in method.help and len(method.help) < 200
    with pytest.raises(ValueError, match="unknown method"):
        get_method("lime")


def _pearson(a, b) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _spearman(a, b) -> float:
    rank = lambda x: np.argsort(np.argsort(x.ravel(), kind="stable"), kind="stable")  # noqa: E731
    return _pearson(rank(a), rank(b))


@pytest.fixture(scope="module")
def model_and_pair(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    model = load_model(weights)
    paths = sorted((shapes_dir / "red_circles").glob("*.png"))
    return model, (load_image(paths[3]), load_image(paths[7]))  # a fixed same-class pair


def test_every_two_methods_draw_different_maps(model_and_pair):
    """On a fixed pair, each two methods' factual maps differ (Pearson r < 0.9 on at least one image)."""
    model, pair = model_and_pair
    explained = {m: explain_pair(model, *pair, method=m) for m in METHODS}
    maps = {m: e.factual for m, e in explained.items() if e.method == m}
    assert set(explained) - set(maps) == {"amortised"}  # no head in this model: Grad-CAM (tests/test_amortised.py)
    for a, b in itertools.combinations(maps, 2):
        r = [_pearson(maps[a][i], maps[b][i]) for i in (0, 1)]
        assert min(r) < 0.9, f"{a} and {b} draw the same maps (r = {r})"


def _randomise(module: torch.nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    for child in module.modules():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()


@pytest.mark.parametrize("method", METHODS)
def test_maps_depend_on_the_trained_weights(model_and_pair, shapes_dir, method):
    """Adebayo et al. 2018: re-initialising the head and the last backbone stage changes the maps (Spearman rank
    correlation < 0.5 with the trained model's, averaged over a few pairs), so they explain the model, not edges."""
    model, _ = model_and_pair
    randomised = copy.deepcopy(model)
    _randomise(randomised.head, 1)
    _randomise(randomised.features[-1], 2)
    randomised.eval()
    paths = sorted(p for p in shapes_dir.rglob("*.png"))
    rng = np.random.default_rng(0)
    correlations = []
    for i, j in rng.choice(len(paths), (6, 2), replace=False):
        pair = load_image(paths[i]), load_image(paths[j])
        trained = explain_pair(model, *pair, method=method).factual
        random = explain_pair(randomised, *pair, method=method).factual
        correlations += [_spearman(trained[k], random[k]) for k in (0, 1)]
    assert np.mean(correlations) < 0.5, correlations
