"""The default map is an exact decomposition: each image's cells add up to the score minus the decision threshold,
so the factual map minus the counterfactual map is the score's own bookkeeping, not an approximation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from core.explain.methods import Evidence, contributions, decomposition_cells, for_the_decision
from core.explain.pair import explain_pair
from core.model import tta
from core.model.network import ModelConfig, SiameseModel


def _pair_pass(model, seed: int):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.no_grad():
        activations = model.features(tta.expand(inputs, model.config.tta))
        embeddings = model.embed(inputs)
        similarity = float(model.score(embeddings[0:1], embeddings[1:2])[0])
    return inputs, activations, similarity


@pytest.mark.parametrize("views", ["none", "hflip"])
def test_each_images_cells_sum_to_the_score_minus_the_threshold(tiny_model, views):
    model = copy.deepcopy(tiny_model)
    model.config.tta = views
    for seed in range(3):
        _inputs, activations, similarity = _pair_pass(model, seed)
        cells = decomposition_cells(model, activations, similarity)
        assert cells.shape == (2, *activations.shape[-2:])
        assert np.allclose(cells.reshape(2, -1).sum(axis=1), similarity - model.threshold, atol=1e-5)


def test_factual_minus_counterfactual_is_the_oriented_decomposition(tiny_model):
    inputs, activations, similarity = _pair_pass(tiny_model, 7)
    decision = tiny_model.decide(similarity)
    sign = for_the_decision(decision)
    factual, counterfactual = contributions(Evidence(activations, torch.zeros_like(activations), sign, tiny_model,
                                                     inputs, similarity))
    assert (factual >= 0).all() and (counterfactual >= 0).all()
    net = (factual - counterfactual).double().reshape(2, -1).sum(dim=1).numpy()
    assert np.allclose(net, sign * (similarity - tiny_model.threshold), atol=1e-5)


def test_a_cell_that_carries_the_score_tops_the_map():
    """A head that reads one channel only, lit at one cell of image 1: that cell is image 1's top contribution."""
    torch.manual_seed(0)
    model = SiameseModel(ModelConfig(input_size=64), metadata={"name": "probe"}).eval().requires_grad_(False)
    channels = model.head[1].in_features
    activations = torch.full((2, channels, 4, 4), 0.1)
    activations[0, 0, 1, 2] = 5.0
    activations[1, 0] = 1.0
    with torch.no_grad():
        embeddings = model.embed_from_features(activations)
        similarity = float(model.score(embeddings[0:1], embeddings[1:2])[0])
    cells = decomposition_cells(model, activations, similarity)
    assert np.allclose(cells.reshape(2, -1).sum(axis=1), similarity - model.threshold, atol=1e-5)
    spread = np.abs(cells[0] - np.median(cells[0]))
    assert np.unravel_index(spread.argmax(), spread.shape) == (1, 2)


def test_explain_pair_draws_the_default_method(tiny_model, image_pair):
    from core.explain.methods import method_for
    from core.io.images import load_image
    from core.vocabulary import DEFAULT_METHOD

    a, b = load_image(image_pair[0]), load_image(image_pair[1])
    result = explain_pair(tiny_model, a, b)
    assert result.method == method_for(DEFAULT_METHOD, tiny_model).name == "gradcam"  # no explainer head: Grad-CAM
    assert all(m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1 for m in result.factual)
