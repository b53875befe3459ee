"""Blur integrated gradients of the pair score: completeness (the attributions add up to what the path changes),
pooling that keeps the total, stopping between chunks, and the registry's oriented maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import Stopped
from core.explain.hiding import BLUR_SIGMA, blur
from core.explain.integrated import CHUNK_STEPS, integrated_cells, integrated_pixels, pooled
from core.explain.methods import Evidence, get_method


def _pair(size: int) -> torch.Tensor:
    """Two different images with edges (so the blurred pair scores differently from the pair)."""
    torch.manual_seed(3)
    images = torch.zeros(2, 3, size, size)
    images[0, 0, size // 4:size // 2, size // 4:3 * size // 4] = 2.0
    images[1, 2, size // 2:, : size // 3] = 2.0
    return images + 0.3 * torch.randn(2, 3, size, size)


def _score_gap(model, inputs) -> float:
    """s(pair) - s(blurred pair): what the attributions must add up to."""
    with torch.no_grad():
        e = model.embed(inputs)
        b = model.embed(blur(inputs, BLUR_SIGMA * inputs.shape[-1]))
        return float(model.score(e[0:1], e[1:2]) - model.score(b[0:1], b[1:2]))


def test_attributions_add_up_to_the_score_change_within_a_shrinking_riemann_error(tiny_model):
    inputs = _pair(tiny_model.config.input_size)
    gap = _score_gap(tiny_model, inputs)
    assert abs(gap) > 1e-3  # the test would be empty if blurring did not move the score
    errors = [abs(float(integrated_pixels(tiny_model, inputs, steps).sum()) - gap) for steps in (2, 8, 64)]
    assert errors[2] < 0.02 * abs(gap) + 1e-5
    assert errors[2] < errors[0]


def test_pooling_keeps_each_images_total():
    pixels = torch.randn(2, 64, 64)
    cells = pooled(pixels, 16)
    assert cells.shape == (2, 16, 16)
    assert torch.allclose(cells.sum(dim=(1, 2)), pixels.sum(dim=(1, 2)), atol=1e-3)


def test_stops_between_chunks_and_reports_progress(tiny_model):
    inputs = _pair(tiny_model.config.input_size)
    seen: list[float] = []
    cells = integrated_cells(tiny_model, inputs, grid=8, steps=2 * CHUNK_STEPS, progress=seen.append)
    assert cells.shape == (2, 8, 8) and seen == [0.5, 1.0]
    with pytest.raises(Stopped):
        integrated_cells(tiny_model, inputs, steps=2 * CHUNK_STEPS, should_stop=lambda: len(seen) > 2,
                         progress=seen.append)
    assert len(seen) == 3  # one chunk ran, then it stopped


def test_the_registry_method_orients_factual_and_counterfactual_by_the_decision(tiny_model):
    inputs = _pair(tiny_model.config.input_size)
    gap = _score_gap(tiny_model, inputs)
    method = get_method("integrated")
    for decision in ("similar", "different"):
        sign = method.sign(decision)
        evidence = Evidence(torch.zeros(1), torch.zeros(1), sign, tiny_model, inputs, 0.5)
        factual, counter = method.cams(evidence)
        assert (factual >= 0).all() and (counter >= 0).all()
        net = float(factual.sum() - counter.sum())
        assert net == pytest.approx(sign * gap, abs=0.05 * abs(gap) + 1e-4)  # 16 steps: a small Riemann error


def test_the_refinement_replaces_only_the_default_maps(trained_shapes, shapes_dir):
    """core.explain.refine: the first (Grad-CAM) maps of a pair become coalition-gradient maps of the same
    sizes; score, decision and the check's random-map resolution (signed_cams) stay; a stop leaves nothing."""
    from core.explain.pair import explain_pair, explained_images
    from core.explain.refine import REFINED_METHOD, refined, refines
    from core.io.images import load_image
    from core.model.weights import load_model

    model = load_model(trained_shapes[1])
    pair = [load_image(p) for p in sorted((shapes_dir / "red_circles").glob("*.png"))[:2]]
    first = explain_pair(model, *pair)
    assert refines(first) and not refines(explain_pair(model, *pair, method="attention"))
    images = [image.image for image in explained_images(pair, first)]
    better = refined(model, images, first)
    assert better.method == REFINED_METHOD and not refines(better)
    assert (better.similarity, better.decision, better.signed_cams) == (first.similarity, first.decision,
                                                                        first.signed_cams)
    for new, old in zip(better.factual, first.factual, strict=True):
        assert new.shape == old.shape and 0 < new.max() <= 1 and not np.allclose(new, old)
    with pytest.raises(Stopped):
        refined(model, images, first, should_stop=lambda: True)


def test_only_the_default_maps_of_a_pair_whose_maps_are_shown_are_refined():
    """A pair not assessed (an image outside the domain) withholds its maps: refining them would be work no one
    sees, and its arrival would reset the reviewer's "show anyway"; a method the reviewer chose stays theirs."""
    from types import SimpleNamespace

    from core.explain.refine import refines
    from core.vocabulary import DEFAULT_METHOD

    def pair(**fields):
        return SimpleNamespace(**{"method": DEFAULT_METHOD, "same_content": False, "verdict": "similar",
                                  "in_domain": (True, True), **fields})

    assert refines(pair())
    assert not refines(pair(verdict="not assessed", in_domain=(True, False)))
    assert refines(pair(verdict="not assessed", in_domain=None))  # no domain summary: the maps are shown
    assert not refines(pair(method="attention"))
    assert not refines(pair(same_content=True))
