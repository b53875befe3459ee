"""Blur integrated gradients of the pair score (Sundararajan et al. 2017 with a blurred baseline, as in Xu et al.
2020's "Attribution in Scale and Space"): how much each input pixel of either image moves the score on the way
from the blurred pair to the pair.

The path is a straight line in input space from both images blurred (core.explain.hiding, the same blur that
deletion and occlusion hide under) to both images as they are; along it the gradient of the score w.r.t. the
input pixels is averaged (midpoint rule, STEPS points) and multiplied by the path's difference. Summed over
channels, each image's pixel attributions add up, together, to s(pair) - s(blurred pair), up to the Riemann error
of the rule (completeness; tests/test_integrated.py). Unlike Grad-CAM it asks the whole network, not the last
stage's linearisation, and unlike occlusion it costs STEPS pair passes with gradients, not 128 image passes.
Batched CHUNK_STEPS steps at a time so that a caller running it in the background can stop between chunks.

The path is the part that varies (a callable giving each step's weights on the difference): `straight` is
integrated gradients; `coalitions` visits random mixtures instead, each cell of either image restored (sharp) or
hidden (blurred) at random, with the share restored rising along the steps, and the gradients there are summed the
same way. That is a first-order, sampled estimate of each cell's Shapley value in the game "restore these cells"
(Owen 1972's multilinear extension): the mixed images a deletion or insertion test visits, instead of the
uniformly half-blurred pair on the straight line. Each random mask is paired with its complement (antithetic): for
a score linear in each image every cell then gets exactly its Shapley value, and the cells add up to s(pair) -
s(blurred pair) (tests/test_coalitions.py).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from core.errors import Stopped
from core.explain.hiding import BLUR_SIGMA, blur

STEPS = 16
CHUNK_STEPS = 4  # 8 image passes with gradients a chunk
GRID = 16  # cells per side the pixel attributions are pooled to (chosen on validation, docs/explanations.md)
COALITION_SEED = 0  # the same pair gets the same map, run after run

# (steps, inputs (2, 3, S, S)) -> weights on the path's difference, one per step, broadcastable to (steps, 2, 3, S, S)
Path = Callable[[int, torch.Tensor], torch.Tensor]


def straight(steps: int, inputs: torch.Tensor) -> torch.Tensor:
    """Integrated gradients' path: both images blurred a uniform share less at each step (midpoint rule)."""
    return ((torch.arange(steps, dtype=inputs.dtype, device=inputs.device) + 0.5) / steps).view(-1, 1, 1, 1, 1)


def coalitions(grid: int = GRID, seed: int = COALITION_SEED, low: bool = False) -> Path:
    """A path through random coalitions of grid x grid cells per image: at step k each cell is restored with
    probability (k + 0.5) / steps for the first half of the steps, and the second half are the complements of the
    first half's masks (antithetic pairs, restored shares rising from 1/2 to 1). Seeded: one pair, one map.
    `low`: only the first half of a path twice as long, `steps` masks with restored shares below 1/2 (the same
    masks as that path's, so its map minus this one's is the high half's: docs/explanations.md, session 15)."""
    def weights(steps: int, inputs: torch.Tensor) -> torch.Tensor:
        total = 2 * steps if low else steps
        if total % 2:
            raise ValueError(f"coalition steps come in complementary pairs; {steps} is odd")
        half = total // 2
        generator = torch.Generator().manual_seed(seed)
        draws = torch.rand(half, 2, 1, grid, grid, generator=generator)
        shares = ((torch.arange(half) + 0.5) / total).view(-1, 1, 1, 1, 1)
        below = (draws < shares).float()
        masks = (below if low else torch.cat([below, 1.0 - below])).view(steps * 2, 1, grid, grid)
        size = inputs.shape[-2:]
        return F.interpolate(masks, size=size, mode="nearest").view(steps, 2, 1, *size).to(inputs)
    return weights


def path_of(method: str) -> Path:
    """The path of the registry's input-gradient methods (core.explain.methods), by name: "integrated" or
    "coalition"; one place, so a method and the refinement that names it cannot walk different paths."""
    paths: dict[str, Callable[[], Path]] = {"integrated": lambda: straight, "coalition": coalitions}
    return paths[method]()


def integrated_pixels(model, inputs: torch.Tensor, steps: int = STEPS,
                      should_stop: Callable[[], bool] | None = None,
                      progress: Callable[[float], None] | None = None, path: Path = straight) -> torch.Tensor:
    """(2, S, S) attributions of the similarity s to each pixel of the pair's normalised `inputs` (2, 3, S, S),
    channels summed, along `path` from the blurred pair; positive: the pixel argues for "similar". Raises Stopped
    when should_stop() turns true between two chunks; progress(fraction done) after each chunk."""
    size = inputs.shape[-1]
    inputs = inputs.detach()
    baseline = blur(inputs, BLUR_SIGMA * size)
    delta = inputs - baseline
    weights = path(steps, inputs)
    total = torch.zeros_like(inputs)
    for start in range(0, steps, CHUNK_STEPS):
        if should_stop is not None and should_stop():
            raise Stopped("integrated gradients stopped")
        chunk = weights[start:start + CHUNK_STEPS]
        k = len(chunk)
        points = (baseline[None] + chunk * delta[None]).reshape(k * 2, *inputs.shape[1:])
        points.requires_grad_(True)
        with torch.enable_grad():
            embeddings = model.embed(points).view(k, 2, -1)
            scores = model.score(embeddings[:, 0], embeddings[:, 1])
            grads = torch.autograd.grad(scores.sum(), points)[0]
        total += grads.view(k, 2, *inputs.shape[1:]).sum(dim=0)
        if progress is not None:
            progress(min(1.0, (start + k) / steps))
    return (total / steps * delta).sum(dim=1).detach()


def pooled(pixels: torch.Tensor, grid: int = GRID) -> torch.Tensor:
    """(2, S, S) pixel attributions -> (2, grid, grid) cell sums (so the cells still add up to the same total):
    blob-like regions of the size a deletion test hides, instead of single pixels."""
    size = pixels.shape[-1]
    return F.adaptive_avg_pool2d(pixels[:, None].float(), grid)[:, 0] * (size / grid) ** 2


def integrated_cells(model, inputs: torch.Tensor, grid: int = GRID, steps: int = STEPS,
                     should_stop: Callable[[], bool] | None = None,
                     progress: Callable[[float], None] | None = None, path: Path = straight) -> torch.Tensor:
    """(2, grid, grid) float32 on the CPU: each cell's share of s(pair) - s(blurred pair)."""
    return pooled(integrated_pixels(model, inputs, steps, should_stop, progress, path), grid).cpu()
