"""The pair-metrics table of the explanation methods: per method, over unseen pairs of a data set,

- deletion / insertion AUC of the explained score against a random smooth map (core.explain.faithfulness: the
  hidden pixels are blurred),
- the same curves ROAD-style (Rong et al. 2022, remove and debias): hidden pixels are imputed from their
  neighbours (noisy linear imputation) instead of blurred, so the removed region's shape leaks less,
- lesion mass (share of the map's mass on the lesion finder's mask) and pointing game (is the map's maximum on
  the mask), for skin models,
- model-parameter randomisation (Adebayo et al. 2018): Spearman rank correlation of the map with the map of the
  same pair after re-initialising the head and the last backbone stage (low = the map depends on the weights),
- max-sensitivity (Yeh et al. 2019): the largest relative change of the maps over a few small input noises.
"""

from __future__ import annotations

import copy
import functools
import time
from typing import Any, Callable

import cv2
import numpy as np
import torch
from PIL import Image

from core.evaluation.lift import mass_share, on_canvas
from core.explain.faithfulness import FRACTIONS, auc, faithfulness, top_masks
from core.explain.hiding import BLUR_SIGMA, blur

ROAD_ITERATIONS = 24  # Jacobi sweeps of the neighbour-mean equations, started from the blurred image
ROAD_NOISE = 0.01  # std of the imputation noise, in normalised input units (ROAD adds a little to break shortcuts)
SENSITIVITY_RADIUS = 0.02  # uniform noise in [-r, r] x 255 per pixel and channel
SENSITIVITY_DRAWS = 4
COMPARED_SIDE = 32  # maps are compared (randomisation, sensitivity) at this side, finer than any feature map
_NEIGHBOURS = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]) / 8.0


def road_impute(images: torch.Tensor, removed: torch.Tensor, noise: float = ROAD_NOISE,
                iterations: int = ROAD_ITERATIONS, seed: int = 0) -> torch.Tensor:
    """(N, C, H, W) images with the `removed` (N, H, W) pixels replaced by the mean of their 8 neighbours
    (the linear system ROAD solves, by Jacobi sweeps from the blurred image) plus Gaussian noise of `noise`.
    Kept pixels are returned unchanged."""
    n, c, h, w = images.shape
    mask = removed[:, None].to(images.device).expand(n, c, h, w)
    kernel = _NEIGHBOURS.to(images).view(1, 1, 3, 3).repeat(c, 1, 1, 1)
    filled = torch.where(mask, blur(images, BLUR_SIGMA * h), images)
    for _ in range(iterations):
        mean = torch.nn.functional.conv2d(torch.nn.functional.pad(filled, (1, 1, 1, 1), mode="replicate"), kernel,
                                          groups=c)
        filled = torch.where(mask, mean, images)
    if noise > 0:
        generator = torch.Generator().manual_seed(seed)
        filled = filled + mask * (noise * torch.randn(filled.shape, generator=generator)).to(images)
    return filled


@torch.no_grad()
def road_scores(model, inputs: torch.Tensor, maps, fractions=FRACTIONS, seed: int = 0) -> dict[str, np.ndarray]:
    """Similarity of the pair (`inputs` (2, 3, S, S)) after ROAD-removing the top fraction of each map
    (deletion) and after ROAD-removing all but the top fraction (insertion), at every fraction."""
    size = inputs.shape[-1]
    tops = [top_masks(cv2.resize(np.asarray(m, np.float32), (size, size), interpolation=cv2.INTER_LINEAR), fractions)
            for m in maps]
    curves = {}
    for mode in ("deletion", "insertion"):
        pairs = []
        for k in range(len(fractions)):
            top = torch.from_numpy(np.stack([tops[0][k], tops[1][k]]))
            pairs.append(road_impute(inputs, top if mode == "deletion" else ~top, seed=seed + k))
        embeddings = model.embed(torch.cat(pairs)).view(-1, 2, model.config.embedding_dim)
        curves[mode] = model.score(embeddings[:, 0], embeddings[:, 1]).float().cpu().numpy().astype(np.float64)
    return curves


lesion_mass = mass_share  # share of the map's mass on the mask (same shape); None for an empty map


def pointing_game(heatmap: np.ndarray, mask: np.ndarray) -> bool | None:
    """Whether the map's maximum lies on the mask; None for an empty map."""
    if not heatmap.size or float(heatmap.max()) <= 0:
        return None
    return bool(mask.ravel()[int(np.argmax(heatmap))])


def randomised(model, seed: int = 0):
    """A copy of the model whose head and last backbone stage are re-initialised (their default init)."""
    twin = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in (*twin.head.modules(), *twin.target_layer.modules()):
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return twin.eval().requires_grad_(False)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation of two maps of the same shape; None if either is constant."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (rectified maps have many equal zeros)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - (counts - 1) / 2.0))[inverse.ravel()]


def max_sensitivity(map_of: Callable[[list[Image.Image]], np.ndarray], images: list[Image.Image],
                    radius: float = SENSITIVITY_RADIUS, draws: int = SENSITIVITY_DRAWS, seed: int = 0) -> float | None:
    """max over `draws` uniform pixel noises e in [-radius, radius] (of the 0-255 range) of
    ||map(x + e) - map(x)|| / ||map(x)|| (map_of returns arrays of one shape). None for an empty map."""
    rng = np.random.default_rng(seed)
    base = np.asarray(map_of(images), np.float64)
    norm = float(np.linalg.norm(base))
    if norm == 0:
        return None
    worst = 0.0
    for _ in range(draws):
        arrays = [np.asarray(im, np.float64) for im in images]
        noisy = [Image.fromarray(np.clip(a + rng.uniform(-radius, radius, a.shape) * 255, 0, 255).astype(np.uint8))
                 for a in arrays]
        moved = np.asarray(map_of(noisy), np.float64)
        worst = max(worst, float(np.linalg.norm(moved - base)) / norm)
    return worst


def unseen_pairs(model, data_dir, pairs: int, seed: int = 202):
    """(paths, chosen pairs (P, 3)) of `pairs` seeded pairs of the images the model never saw, as `evaluate`
    forms them."""
    from core.data.datasets import make_pairs, path_fingerprint, scan_dataset

    dataset = scan_dataset(data_dir)
    seen = set(model.metadata.get("seen_images", []))
    subset = dataset.subset([i for i in range(len(dataset.paths))
                             if path_fingerprint(dataset.relative(i)) not in seen])
    rng = np.random.default_rng(seed)
    all_pairs = make_pairs(subset.labels, rng)
    chosen = all_pairs[np.sort(rng.choice(len(all_pairs), min(pairs, len(all_pairs)), replace=False))]
    return subset.paths, chosen


def evaluate_explanations(model, data_dir, pairs: int, methods=None, seed: int = 202) -> dict:
    """The table, per method: means over `pairs` unseen pairs (same-content pairs left out) of every metric
    above, and the time per pair to explain and to measure."""
    from core.errors import ImageLoadError
    from core.evaluation.evaluate import is_skin_model
    from core.explain.methods import METHODS, method_for
    from core.explain.pair import explain_pair, explained_images
    from core.io.images import load_image
    from core.model.lesion import find_lesion

    paths, chosen = unseen_pairs(model, data_dir, pairs, seed)
    skin = is_skin_model(model)
    twin = randomised(model)
    lesions: dict[int, Any] = {}
    out: dict[str, Any] = {"pairs": int(len(chosen)), "methods": {}}
    unreadable: set[tuple[int, int]] = set()
    # a method this model cannot run (amortised without an explainer) would repeat its fallback's row
    for method in [m for m in methods or METHODS if method_for(m, model).name == m]:
        rows: dict[str, list] = {}
        for i, j, _same in chosen:
            try:
                images = [load_image(paths[i]), load_image(paths[j])]
            except ImageLoadError:  # named by the evaluation; counted once, not per method
                unreadable.add((i, j))
                continue
            result = explain_pair(model, images[0], images[1], method=method)
            if result.same_content:
                continue
            started = time.perf_counter()
            shown = [image.image for image in explained_images(images, result)]
            faithful = faithfulness(model, shown, result)
            raw = [images[0].image, images[1].image]
            values: dict[str, Any] = dict(_road(model, shown, result))
            values.update({"deletion_auc": faithful["deletion_auc_map"],
                           "deletion_auc_random": faithful["deletion_auc_random"],
                           "insertion_auc": faithful["insertion_auc_map"],
                           "insertion_auc_random": faithful["insertion_auc_random"]})
            values["deletion_beats_random"] = float(faithful["deletion_auc_map"] < faithful["deletion_auc_random"])
            values["randomisation"] = rank_correlation(_flat(result), _factual_maps(twin, method, raw))
            values["max_sensitivity"] = max_sensitivity(
                functools.partial(_factual_maps, model, method), raw)
            if skin:
                for slot, index in enumerate((i, j)):
                    if index not in lesions:
                        lesions[index] = find_lesion(np.asarray(images[slot].image))
                    if lesions[index].found:
                        mask = lesions[index].mask
                        box = result.crops[slot] or (0, 0, mask.shape[1], mask.shape[0])
                        canvas = on_canvas(result.factual[slot], box, mask.shape)
                        rows.setdefault("lesion_mass", []).append(lesion_mass(canvas, mask))
                        rows.setdefault("pointing_game", []).append(pointing_game(canvas, mask))
            values["explain_ms"] = result.timings_ms["total"]
            values["metrics_ms"] = (time.perf_counter() - started) * 1000.0
            for key, value in values.items():
                rows.setdefault(key, []).append(value)
        out["methods"][method] = {"pairs": len(rows.get("explain_ms", [])),
                                  **{key: _mean(v) for key, v in rows.items()}}
    out["skipped_pairs"] = len(unreadable)
    return out


def _road(model, shown, result) -> dict[str, float]:
    """ROAD deletion / insertion AUCs of the explained score, for the maps and a random smooth map."""
    from core.explain.methods import get_method

    sign = get_method(result.method).sign(result.decision)
    rng = np.random.default_rng(0)
    h, w = result.signed_cams[0].shape
    random_maps = [cv2.resize(rng.random((h, w), dtype=np.float32), (m.shape[1], m.shape[0])) for m in result.factual]
    inputs = torch.cat([model.input_tensor(p) for p in shown])
    out = {}
    for name, maps in (("", result.factual), ("_random", random_maps)):
        for mode, values in road_scores(model, inputs, maps).items():
            out[f"road_{mode}_auc{name}"] = auc(values if sign > 0 else 1.0 - values)
    return out


def _factual_maps(model, method: str, images: list[Image.Image]) -> np.ndarray:
    from core.explain.pair import explain_pair

    return _flat(explain_pair(model, images[0], images[1], method=method))


def _flat(explanation) -> np.ndarray:
    """Both factual maps, each resampled to COMPARED_SIDE^2 (a noisy image may be cropped a little differently,
    a randomised model too), as one vector."""
    return np.concatenate([cv2.resize(m, (COMPARED_SIDE, COMPARED_SIDE), interpolation=cv2.INTER_AREA).ravel()
                           for m in explanation.factual])


def _mean(values: list) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None
