"""Which part of image 1 matches which part of image 2: the similarity score decomposed into cell-pair terms.

Method (computed from the forward pass explain_pair makes anyway; only when asked for):

1. Exact per-cell embedding terms (Stylianou et al. 2019). The embedding is head(mean of the N cells' features
   a_i), normalised. With J the head's Jacobian at the pooled features p, h(p) = J p + (h(p) - J p), so
   z_i = (J a_i + h(p) - J p) / N sums over the cells to h(p) exactly, whatever the head; for this project's
   Linear-ReLU-Linear head each z_i is also the head's exact affine piece at p (Zhu et al. 2021 linearise the
   same way). Dividing by |h| (and averaging test-time views, each view's cells turned back onto the image,
   core.model.tta) gives cell vectors Z_i that sum to the unit embedding u, so cos = <u1, u2> = sum_ij <Z1_i, Z2_j>.
2. From cosine to score: s = 1 - |u1 - u2| / 2 is a monotone function g(cos). The rescale rule (DeepLIFT)
   against the orthogonal-embeddings reference s0 = g(0) = 1 - sqrt(2)/2 multiplies every term by the positive
   constant (s - s0) / cos, so the bilinear matrix B_ij sums to s - s0 to float precision (tested).
3. Localisation. B is rank-limited and texture-driven: every cell of a texture matches every cell of the same
   texture (its top entries hit the true counterpart of a mirror or shifted copy for 0-47 % of links). The
   score is a function of the pooled features only, so the network does not say which cell of image 2 a
   cell's evidence was found in: every matrix with B's row and column sums explains the score equally well.
   We keep B's exact marginals - each cell's own contribution r1_i = sum_j B_ij, r2_j = sum_i B_ij - and
   route them by where the network's own early, finer stage (the last module at 1/4 of the input side,
   average-pooled to a grid of 1/8 of the side, L2-normalised) finds the cell's look-alike:
   C = (diag(r1) T12 + T21 diag(r2)) / 2, T12 the row softmax and T21 the column softmax of the descriptors'
   cosine affinity / TEMPERATURE. Rows of T12 and columns of T21 sum to 1, so C has B's marginals and sums to
   s - s0 exactly (float64). Coarse cells' contributions are split evenly over the fine cells inside them.
   A model trained with horizontal flips (metadata options.augment) scores a mirrored part alike, so its
   affinity is the better of image 2 as it is and mirrored (one more pass of image 2 up to that stage).
4. Links: the K largest entries of C (evidence for similarity), greedily one-to-one (no cell of either image
   twice), each cell's centre in the image's own pixels (its crop box, Explanation.crops, accounted for),
   strongest first.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from core.model import tta

BASELINE = 1.0 - 2 ** 0.5 / 2  # the score of two orthogonal unit embeddings: the rescale rule's reference
TEMPERATURE = 0.02  # of the descriptor-affinity softmax (chosen on validation images, 0.02..0.1 within 0.04)
STRIDES = (4,)  # the localisation stage: the last module at 1/4 of the input side (cheap, and exact in place)
GRID_STRIDE = 8  # the finest grid of the matrix and links: 1/8 of the input side (16 x 16 cells at 128 px)


@dataclass
class Correspondence:
    """matrix[i, j]: the share of (similarity - baseline) carried by cell i of image 1 and cell j of image 2,
    cells on `grid` (rows, cols) in row-major order; matrix.sum() + baseline == similarity. `bilinear` is
    step 2's matrix on the explanation's grid (same sum). links: the K strongest pairs, strongest first."""

    matrix: np.ndarray
    grid: tuple
    baseline: float
    similarity: float
    bilinear: np.ndarray
    links: list = field(default_factory=list)


@contextmanager
def capture_local(model) -> Iterator[dict]:
    """Within the block, a forward pass through model.features leaves its input ("input") and every module's
    output but the last (index -> tensor, detached) in the yielded dict."""
    captured: dict = {}

    def keep(key):
        return lambda _module, _inputs, output: captured.__setitem__(key, output.detach())

    modules = list(model.features)
    handles = [modules[0].register_forward_pre_hook(lambda _m, inputs: captured.__setitem__("input", inputs[0]))]
    handles += [module.register_forward_hook(keep(n)) for n, module in enumerate(modules[:-1])]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def mirror_tolerant(model) -> bool:
    """Match a part with its mirror image too: the model was trained to score mirrored images alike."""
    augment = str((model.metadata.get("options") or {}).get("augment", ""))
    return "hflip" in augment.split(",")


def cell_terms(model, maps: torch.Tensor) -> torch.Tensor:
    """Target-layer maps of expand's rows (V*2, C, h, w) -> (2, h*w, D) float64 cell vectors summing to each
    image's unit (test-time-averaged) embedding."""
    views = model.config.tta
    cells = maps.detach().float().flatten(2).transpose(1, 2)  # (R, n, C)
    with torch.no_grad():
        linear, h = _head_linear_parts(model.head, cells)
    linear, h = linear.cpu().double(), h.cpu().double()
    n = cells.shape[1]
    # z_i = (J a_i + h - J p) / n; J p is the cells' mean linear part, so the z_i sum to h exactly
    terms = (linear + (h - linear.mean(dim=1))[:, None, :]) / n / h.norm(dim=1)[:, None, None]
    per_view = terms.transpose(1, 2).reshape(*terms.shape[::2], *maps.shape[-2:])  # (R, D, h, w)
    merged = tta.merge_maps(per_view, views, 2) / tta.view_count(views)  # the mean of the views' unit embeddings
    norm = merged.sum(dim=(2, 3)).norm(dim=1)  # its length, which the final normalisation divides by
    return (merged / norm[:, None, None, None]).flatten(2).transpose(1, 2)


def _head_linear_parts(head, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(J a_i for every cell (R, n, D), head(p) (R, D)), J the head's Jacobian at each row's pooled features p:
    exact layer by layer for Linear/ReLU/Flatten/Dropout heads (ReLU gated at p), autograd otherwise."""
    pooled = cells.mean(dim=1)
    linear = cells
    for module in head:
        if isinstance(module, torch.nn.Linear):
            pooled, linear = module(pooled), linear @ module.weight.T
        elif isinstance(module, torch.nn.ReLU):
            gate = (pooled > 0).to(linear.dtype)
            pooled, linear = torch.relu(pooled), linear * gate[:, None, :]
        elif not isinstance(module, (torch.nn.Flatten, torch.nn.Dropout, torch.nn.Identity)):
            return _jacobian_parts(head, cells)
    return linear, pooled


def _jacobian_parts(head, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    head = copy.deepcopy(head).requires_grad_(False)  # a private copy: never an in-place module of the model's
    parts, outputs = [], []
    with torch.enable_grad():
        for row in cells:
            p = row.mean(dim=0)
            jac = torch.autograd.functional.jacobian(lambda q: head(q.view(1, -1, 1, 1))[0], p, vectorize=True)
            parts.append(row @ jac.T)
            outputs.append(head(p.view(1, -1, 1, 1))[0].detach())
    return torch.stack(parts), torch.stack(outputs)


def bilinear_matrix(terms: torch.Tensor, similarity: float) -> np.ndarray:
    """(n1, n2) cell-pair terms of (similarity - BASELINE): <Z1_i, Z2_j> times the rescale multiplier."""
    cell = terms[0] @ terms[1].T
    cosine = float(cell.sum())
    factor = (similarity - BASELINE) / cosine if abs(cosine) > 1e-6 else 1 / (2 * 2 ** 0.5)
    return (cell * factor).numpy()


def local_stages(captured: dict) -> list[int]:
    """Indices of the localisation stages among the captured outputs: per stride in STRIDES the last module
    with that output stride; [the module before the target layer] when none qualifies."""
    side = captured["input"].shape[-1]
    outputs = {n: t for n, t in captured.items() if isinstance(n, int)}
    chosen = [max(n for n, t in outputs.items() if t.shape[-1] == side // stride)
              for stride in STRIDES if any(t.shape[-1] == side // stride for t in outputs.values())]
    return chosen or [max(outputs)]


def descriptors(outputs: dict, stages: list[int], views: str, grid: tuple, n: int = 2) -> torch.Tensor:
    """The stages' outputs (V*n, C, h, w) -> (n, cells, sum C) unit descriptors on `grid`: each stage pooled to
    the grid, views turned back and summed, unit length, the stages concatenated and unit length again."""
    parts = []
    for index in stages:
        stage = F.adaptive_avg_pool2d(outputs[index].detach().float(), grid)
        parts.append(F.normalize(tta.merge_maps(stage, views, n).flatten(2).transpose(1, 2), dim=2))
    return F.normalize(torch.cat(parts, dim=2), dim=2)


def affinity(model, captured: dict, grid: tuple) -> np.ndarray:
    """(cells1, cells2) cosine of the localisation descriptors; for a mirror-tolerant model the better of
    image 2 as it is and mirrored (one more pass of image 2's identity view up to the stages)."""
    stages = local_stages(captured)
    views = model.config.tta
    desc = descriptors(captured, stages, views, grid)
    result = desc[0] @ desc[1].T
    if mirror_tolerant(model) and "hflip" not in tta.VIEWS[views]:
        flipped, x = {}, captured["input"][1:2].flip(-1).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():  # channels-last: a third faster on CPU
            for index, module in enumerate(list(model.features)[:max(stages) + 1]):
                x = module(x)
                flipped[index] = x.flip(-1)
        result = torch.maximum(result, desc[0] @ descriptors(flipped, stages, "none", grid, 1)[0].T)
    return result.cpu().double().numpy()


def localised_matrix(bilinear: np.ndarray, coarse: tuple, affinities: np.ndarray, grid: tuple,
                     temperature: float = TEMPERATURE) -> np.ndarray:
    """Step 3: B's per-cell contributions (split onto `grid`) routed by descriptor affinity; same sum as B."""
    fine = np.asarray(bilinear, np.float64)
    r1 = torch.from_numpy(_split(fine.sum(axis=1), coarse, grid))
    r2 = torch.from_numpy(_split(fine.sum(axis=0), coarse, grid))
    logits = torch.as_tensor(affinities, dtype=torch.float64) / temperature
    t12, t21 = torch.softmax(logits, dim=1), torch.softmax(logits, dim=0)  # T12 rows, T21 (transposed) columns
    return ((r1[:, None] * t12 + t21 * r2[None, :]) / 2).numpy()


def top_links(matrix: np.ndarray, grid: tuple, boxes, k: int) -> list[dict]:
    """The k largest entries of `matrix`, no two sharing a cell of either image (greedy, strongest first), as
    {"p1": [x, y], "p2": [x, y], "weight": w}; each point the cell's centre in its image's pixels, boxes[n] =
    (x, y, w, h) of the region the grid covers."""
    k = max(0, min(int(k), *matrix.shape))
    pool = min(matrix.size, k * 64)
    chosen = _greedy(matrix, k, pool) if k else []
    while len(chosen) < k and pool < matrix.size:  # the strongest entries kept sharing cells: look further
        pool = min(matrix.size, pool * 8)
        chosen = _greedy(matrix, k, pool)
    return [{"p1": cell_centre(i, grid, boxes[0]), "p2": cell_centre(j, grid, boxes[1]),
             "weight": round(float(matrix[i, j]), 8)} for i, j in chosen]


def _greedy(matrix: np.ndarray, k: int, pool: int) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs among the `pool` largest entries, strongest first: the same as over all entries
    as long as k are found."""
    flat = np.argpartition(-matrix, pool - 1, axis=None)[:pool]
    chosen, rows, cols = [], set(), set()
    for index in flat[np.argsort(-matrix.ravel()[flat], kind="stable")]:
        i, j = divmod(int(index), matrix.shape[1])
        if i not in rows and j not in cols:
            chosen.append((i, j))
            rows.add(i)
            cols.add(j)
            if len(chosen) == k:
                break
    return chosen


def cell_centre(index: int, grid: tuple, box) -> list[float]:
    """Pixel coordinates (pixel-index convention: the first pixel's centre is 0) of a cell's centre."""
    row, col = divmod(int(index), grid[1])
    x0, y0, w, h = box
    return [round(x0 + (col + 0.5) * w / grid[1] - 0.5, 2), round(y0 + (row + 0.5) * h / grid[0] - 0.5, 2)]


def correspondence(model, maps: torch.Tensor, captured: dict | None, similarity: float, boxes,
                   k: int = 10) -> Correspondence:
    """The pair's correspondence from explain_pair's forward pass: the target layer's maps of expand's rows,
    what capture_local captured (None: the bilinear matrix on the explanation's grid only), the score and each
    image's box (x, y, w, h) in its own pixels."""
    coarse = tuple(maps.shape[-2:])
    bilinear = bilinear_matrix(cell_terms(model, maps), similarity)
    if not captured:
        matrix, grid = bilinear.astype(np.float64), coarse
    else:
        side = captured["input"].shape[-1] // GRID_STRIDE
        grid = max(coarse, (side, side)) if coarse[0] == coarse[1] and side % coarse[0] == 0 else coarse
        matrix = localised_matrix(bilinear, coarse, affinity(model, captured, grid), grid)
    return Correspondence(matrix=matrix, grid=grid, baseline=BASELINE, similarity=float(similarity),
                          bilinear=bilinear, links=top_links(matrix, grid, boxes, k))


def analyse(model, views, k: int = 10) -> Correspondence:
    """The whole Correspondence (matrix included) of a pair given as explain_pair's views: [(the image the model
    explains, its crop box in the original or None)] x 2 (core.explain.pair.model_view); its own gradient-free pass."""
    batch = torch.cat([model.input_tensor(pil) for pil, _box in views])
    with capture_local(model) as captured, torch.no_grad():
        maps = model.features(tta.expand(batch, model.config.tta))
        views_embedded = model.embed_from_features(maps)
        embeddings = tta.merge_embeddings(views_embedded, model.config.tta, 2)
        similarity = float(model.score(embeddings[0:1], embeddings[1:2]))
    boxes = [box if box is not None else (0, 0, *pil.size) for pil, box in views]
    return correspondence(model, maps, captured, similarity, boxes, k)


def _split(values: np.ndarray, coarse: tuple, grid: tuple) -> np.ndarray:
    """Per-cell values on `coarse` -> on `grid` (a multiple of it), each split evenly over its fine cells."""
    fy, fx = grid[0] // coarse[0], grid[1] // coarse[1]
    return np.kron(values.reshape(coarse), np.ones((fy, fx))).ravel() / (fy * fx)
