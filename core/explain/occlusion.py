"""Occlusion of the pair score: how much the similarity changes when one place of one image is hidden.

No gradient, no linearisation, only the model's own scores (core.explain.methods' `occlusion` and `ablation`).
Input occlusion hides each image's GRID x GRID cells one at a time (core.explain.hiding) and re-embeds them
against the other image's unchanged embedding: 2 x GRID^2 image passes, batched in chunks so that a caller
running it in the background can stop between them and show progress. Feature ablation swaps one cell's
target-layer features instead and re-runs only the small head, every cell at once.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from core.errors import Stopped
from core.explain.hiding import BLUR_SIGMA, blur

GRID = 8  # cells per side: the skin model's feature grid at 128 px; finer than the flower model's 4 x 4
CHUNK_IMAGES = 16  # image passes per chunk: about 0.1 s on two CPU cores at 128 px


@torch.no_grad()
def occlusion_cells(model, inputs: torch.Tensor, grid: int = GRID, should_stop: Callable[[], bool] | None = None,
                    progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """(2, grid, grid): s - s(with that cell of that image blurred), for the pair's normalised `inputs`
    (2, 3, S, S). Positive: the cell argues for "similar". Raises Stopped when should_stop() turns true
    between two chunks; progress(fraction done) after each chunk."""
    size = inputs.shape[-1]
    blurred = blur(inputs, BLUR_SIGMA * size)
    embeddings = model.embed(inputs)
    similarity = model.score(embeddings[0:1], embeddings[1:2])[0]
    edges = np.linspace(0, size, grid + 1).round().astype(int)
    jobs = [(n, r, c) for n in range(2) for r in range(grid) for c in range(grid)]
    scores = torch.empty(len(jobs))
    for start in range(0, len(jobs), CHUNK_IMAGES):
        if should_stop is not None and should_stop():
            raise Stopped("occlusion stopped")
        chunk = jobs[start:start + CHUNK_IMAGES]
        batch = inputs[[n for n, _r, _c in chunk]].clone()
        for k, (n, r, c) in enumerate(chunk):
            rows, cols = slice(edges[r], edges[r + 1]), slice(edges[c], edges[c + 1])
            batch[k, :, rows, cols] = blurred[n, :, rows, cols]
        occluded = model.embed(batch)
        others = embeddings[[1 - n for n, _r, _c in chunk]]
        scores[start:start + len(chunk)] = model.score(occluded, others).float().cpu()
        if progress is not None:
            progress(min(1.0, (start + len(chunk)) / len(jobs)))
    return (similarity.float().cpu() - scores).view(2, grid, grid)



LOCAL_CELLS = 5  # the "local" baseline: the mean of a cell's 5 x 5 neighbourhood, about what the input blur spans


@torch.no_grad()
def ablation_cells(model, inputs: torch.Tensor, activations: torch.Tensor | None = None,
                   baseline: str = "blurred") -> torch.Tensor:
    """(2, h, w) on the target layer's grid: s - s(with that cell's target-layer features swapped for a
    baseline's), the other image unchanged, then the small head for every cell at once: occlusion where the
    model pools, not a linearisation of it. Baseline "blurred": the blurred image's features (one more pass of
    the pair up to the target layer); "local": the mean of the cell's neighbourhood of features (no pass). A
    model with test-time views is measured on its identity view (the views' cells do not line up)."""
    size = inputs.shape[-1]
    own = model.features(inputs) if activations is None else activations[:2]
    if baseline == "blurred":
        base = model.features(blur(inputs, BLUR_SIGMA * size))
    else:
        base = torch.nn.functional.avg_pool2d(own, LOCAL_CELLS, stride=1, padding=LOCAL_CELLS // 2,
                                              count_include_pad=False)
    count = own.shape[-2] * own.shape[-1]
    pooled = own.mean(dim=(2, 3))  # (2, C)
    swapped = pooled[:, None, :] + (base - own).flatten(2).transpose(1, 2) / count  # (2, cells, C)
    embed = lambda p: torch.nn.functional.normalize(model.head(p.reshape(-1, p.shape[-1], 1, 1)), dim=1)  # noqa: E731
    whole = embed(pooled)
    changed = embed(swapped).view(2, count, -1)
    similarity = model.score(whole[0:1], whole[1:2])[0]
    scores = torch.stack([model.score(changed[n], whole[1 - n].expand(count, -1)) for n in range(2)])
    return (similarity - scores).float().cpu().view(2, *own.shape[-2:])
