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


def integrated_pixels(model, inputs: torch.Tensor, steps: int = STEPS,
                      should_stop: Callable[[], bool] | None = None,
                      progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """(2, S, S) attributions of the similarity s to each pixel of the pair's normalised `inputs` (2, 3, S, S),
    channels summed; positive: the pixel argues for "similar". Raises Stopped when should_stop() turns true
    between two chunks; progress(fraction done) after each chunk."""
    size = inputs.shape[-1]
    inputs = inputs.detach()
    baseline = blur(inputs, BLUR_SIGMA * size)
    delta = inputs - baseline
    alphas = (torch.arange(steps, dtype=inputs.dtype, device=inputs.device) + 0.5) / steps
    total = torch.zeros_like(inputs)
    for start in range(0, steps, CHUNK_STEPS):
        if should_stop is not None and should_stop():
            raise Stopped("integrated gradients stopped")
        chunk = alphas[start:start + CHUNK_STEPS]
        k = len(chunk)
        path = (baseline[None] + chunk.view(-1, 1, 1, 1, 1) * delta[None]).reshape(k * 2, *inputs.shape[1:])
        path.requires_grad_(True)
        with torch.enable_grad():
            embeddings = model.embed(path).view(k, 2, -1)
            scores = model.score(embeddings[:, 0], embeddings[:, 1])
            grads = torch.autograd.grad(scores.sum(), path)[0]
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
                     progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """(2, grid, grid) float32 on the CPU: each cell's share of s(pair) - s(blurred pair)."""
    return pooled(integrated_pixels(model, inputs, steps, should_stop, progress), grid).cpu()
