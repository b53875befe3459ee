"""The coalition path of core.explain.integrated: on a score linear in each image (an exactly solvable game) the
antithetic masks give every cell exactly its Shapley value, so the cells add up to s(pair) - s(blurred pair), for
any even number of steps; the model sees only cells either sharp or blurred; the masks are seeded, complementary
and rising, and the path stops between chunks like the straight one."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from core.errors import Stopped
from core.explain.hiding import BLUR_SIGMA, blur
from core.explain.integrated import CHUNK_STEPS, coalitions, integrated_pixels, pooled


class BilinearModel:
    """embed: a fixed linear map of the image; score: the dot product of the two embeddings. The game "restore
    these cells" is then c + a.m1 + b.m2 + m1.A.m2 in the cells' masks: multilinear, its Shapley values known."""

    def __init__(self, size: int, dim: int = 5):
        generator = torch.Generator().manual_seed(7)
        self.weight = torch.randn(dim, 3 * size * size, generator=generator) / size

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1) @ self.weight.T

    def score(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return (first * second).sum(dim=-1)


def _pair(size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    images = torch.zeros(2, 3, size, size)
    images[0, 0, : size // 2, : size // 2] = 2.0
    images[1, 1, size // 2:, size // 4:] = 2.0
    return images + 0.5 * torch.randn(2, 3, size, size, generator=generator)


def _game(model, inputs: torch.Tensor, grid: int):
    """The value of every coalition of cells (one mask per image) and the exact Shapley value of each cell."""
    baseline = blur(inputs, BLUR_SIGMA * inputs.shape[-1])
    cell = inputs.shape[-1] // grid
    players = [(n, i, j) for n in range(2) for i in range(grid) for j in range(grid)]

    def value(coalition) -> float:
        mask = torch.zeros(2, 1, grid, grid)
        for n, i, j in coalition:
            mask[n, 0, i, j] = 1.0
        full = mask.repeat_interleave(cell, 2).repeat_interleave(cell, 3)
        e = model.embed(baseline + full * (inputs - baseline))
        return float(model.score(e[0:1], e[1:2]))

    count = len(players)
    shapley = torch.zeros(2, grid, grid)
    for player in players:
        others = [p for p in players if p != player]
        for size in range(count):
            weight = math.factorial(size) * math.factorial(count - size - 1) / math.factorial(count)
            for subset in itertools.combinations(others, size):
                shapley[player] += weight * (value(subset + (player,)) - value(subset))
    return value(()), value(tuple(players)), shapley


def test_on_a_solvable_game_the_cells_are_the_exact_shapley_values_for_any_even_steps():
    """For a game linear in each image's cells every antithetic pair of masks averages the other image's state to
    one half, so even two steps give each cell its Shapley value, and the cells add up to the whole change."""
    size, grid = 8, 2
    model, inputs = BilinearModel(size), _pair(size)
    empty, full, shapley = _game(model, inputs, grid)
    assert abs(full - empty) > 1e-2 and float(shapley.abs().min()) > 1e-3  # a game with something to share
    for steps in (2, 8):
        cells = pooled(integrated_pixels(model, inputs, steps, path=coalitions(grid)), grid)
        assert float(cells.sum()) == pytest.approx(full - empty, rel=1e-4)
        assert torch.allclose(cells, shapley, atol=1e-4 * float(shapley.abs().max()))


class SpyModel(BilinearModel):
    """Records every image the path makes the model look at."""

    def __init__(self, size: int):
        super().__init__(size)
        self.seen: list[torch.Tensor] = []

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        self.seen.append(images.detach().clone())
        return super().embed(images)


def test_the_model_sees_only_mixtures_a_deletion_test_can_make():
    """Each cell of each image the coalition path scores is either the image or its blurred copy (what deletion
    and insertion show the model), unlike the straight path's uniformly half-blurred pairs."""
    size, grid = 16, 4
    inputs = _pair(size)
    baseline = blur(inputs, BLUR_SIGMA * size)
    spy = SpyModel(size)
    integrated_pixels(spy, inputs, 8, path=coalitions(grid))
    points = torch.cat(spy.seen).view(-1, 2, 3, size, size)
    sharp = (points - inputs).abs().amax(dim=2) < 1e-5
    blurred = (points - baseline).abs().amax(dim=2) < 1e-5
    assert bool((sharp | blurred).all())
    assert bool(sharp.any()) and bool(blurred.any())
    spy.seen.clear()
    integrated_pixels(spy, inputs, 8)  # the straight path: none of its points is such a mixture
    points = torch.cat(spy.seen).view(-1, 2, 3, size, size)
    assert not bool((((points - inputs).abs().amax(dim=2) < 1e-5)
                     | ((points - baseline).abs().amax(dim=2) < 1e-5)).all())


def test_masks_are_seeded_binary_complementary_and_rise():
    inputs = torch.zeros(2, 3, 16, 16)
    weights = coalitions(grid=4)(8, inputs)
    assert weights.shape == (8, 2, 1, 16, 16)
    assert set(weights.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(weights[:4] + weights[4:], torch.ones_like(weights[:4]))  # antithetic pairs
    assert torch.equal(weights, coalitions(grid=4)(8, inputs))  # one pair, one map
    assert not torch.equal(weights, coalitions(grid=4, seed=1)(8, inputs))
    shares = weights.mean(dim=(1, 2, 3, 4))
    assert float(shares[0]) < 0.5 < float(shares[4])  # few cells restored early, most late
    with pytest.raises(ValueError, match="odd"):
        coalitions(grid=4)(7, inputs)


def test_the_low_half_is_the_first_half_of_the_same_seeds_path():
    """`low`: the masks of restored shares below 1/2 of a path twice as long, the very masks that path starts with
    (so the full map minus the low half's is the high half's, core.training.explainer's insertion weight)."""
    inputs = torch.zeros(2, 3, 16, 16)
    low = coalitions(grid=4, low=True)(4, inputs)
    assert torch.equal(low, coalitions(grid=4)(8, inputs)[:4])
    assert float(low.mean()) < 0.35  # shares (k + 0.5) / 8: a quarter of the cells restored on average
    assert not torch.equal(low, coalitions(grid=4, seed=1, low=True)(4, inputs))


def test_the_coalition_path_stops_between_chunks(tiny_model):
    inputs = _pair(tiny_model.config.input_size)
    seen: list[float] = []
    with pytest.raises(Stopped):
        integrated_pixels(tiny_model, inputs, 2 * CHUNK_STEPS, should_stop=lambda: len(seen) > 0,
                          progress=seen.append, path=coalitions())
    assert seen == [0.5]
