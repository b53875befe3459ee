"""Lesion lift: how much more of an explanation's mass falls on the lesion than a uniform map would put there.

lift = mean over images of (map mass inside the lesion mask / total map mass) / mean lesion share of the image,
measured in the coordinates of the whole original image (a map that covers only a crop is zero elsewhere), so
1.0 is a uniform map and higher means the map rests on the lesion. The same figure for a centred Gaussian blob,
and, for a model that crops automatically, for a uniform map over its crop box, tells whether the maps say
more than "the lesion is in the middle" or "the lesion is in the crop".
"""

from __future__ import annotations

import numpy as np

from core.data.datasets import make_pairs
from core.errors import ImageLoadError
from core.evaluation.evaluate import EVAL_PAIR_SEED, unseen_subset
from core.explain.methods import method_for
from core.explain.overlay import resize_map
from core.explain.pair import explain_pair
from core.io.images import load_image
from core.model.lesion import Lesion, find_lesion
from core.vocabulary import DEFAULT_METHOD

# Pairs explained for the figure: enough for two decimals, a minute or so on two CPU cores.
DEFAULT_LIFT_PAIRS = 200
BLOB_SIGMA = 0.25  # of the image side: a blob about as large as a typical centred lesion


def dataset_lift(model, data_dir, lift_pairs: int = DEFAULT_LIFT_PAIRS, max_pairs: int | None = None,
                 include_seen: bool = False, seed: int = EVAL_PAIR_SEED) -> dict:
    """The lesion lift of a seeded sample of `lift_pairs` of the pairs core.evaluation.evaluate.evaluate_dataset
    scores with the same arguments (its Evaluation.lesion_lift)."""
    subset, _excluded = unseen_subset(model, data_dir, include_seen)
    rng = np.random.default_rng(seed)
    pairs = make_pairs(subset.labels, rng, max_pairs=max_pairs)
    sample = pairs[np.sort(rng.choice(len(pairs), min(lift_pairs, len(pairs)), replace=False))]
    return lesion_lift(model, subset.paths, sample, max_pairs=lift_pairs)


def lesion_lift(model, paths, pairs: np.ndarray, method: str = DEFAULT_METHOD,
                max_pairs: int = DEFAULT_LIFT_PAIRS) -> dict:
    """paths: image files; pairs: (P, >=2) index pairs into paths. Images where no lesion is found are skipped, and
    pairs with an unreadable image (counted)."""
    lesions: dict[int, Lesion] = {}
    shares: list[float] = []
    fractions: dict[str, list] = {"factual": [], "counterfactual": [], "blob": [], "crop_uniform": []}
    used = skipped = 0
    for i, j in np.asarray(pairs)[:max_pairs, :2]:
        try:
            images = [load_image(paths[i]), load_image(paths[j])]
        except ImageLoadError:  # named by the evaluation that scores the same pairs
            skipped += 1
            continue
        result = explain_pair(model, images[0], images[1], method=method)
        for slot, index in enumerate((i, j)):
            if index not in lesions:
                lesions[index] = find_lesion(np.asarray(images[slot].image))
            lesion = lesions[index]
            if not lesion.found:
                continue
            mask = lesion.mask
            shares.append(mask.mean())
            height, width = mask.shape
            box = result.crops[slot] or (0, 0, width, height)
            for kind in ("factual", "counterfactual"):
                share = mass_share_on_canvas(getattr(result, kind)[slot], box, mask)
                if share is not None:
                    fractions[kind].append(share)
            fractions["blob"].append(mass_share(_blob(mask.shape), mask))
            fractions["crop_uniform"].append(mass_share(on_canvas(np.ones((box[3], box[2]), np.float32), box,
                                                                    mask.shape), mask))
        used += 1
    if not shares:
        return {"pairs": used, "skipped_pairs": skipped, "images": 0, "lesion_share": None,
                **{k: None for k in fractions}}
    mean_share = float(np.mean(shares))
    lifts = {kind: (round(float(np.mean(v)) / mean_share, 4) if v else None) for kind, v in fractions.items()}
    if not model.config.lesion_crop:
        lifts.pop("crop_uniform")
    return {**lifts, "lesion_share": round(mean_share, 4), "pairs": used, "skipped_pairs": skipped,
            "images": len(shares),
            "method": method_for(method, model).name}


def mass_share_on_canvas(heatmap: np.ndarray, box, mask: np.ndarray) -> float | None:
    """The share of a map's mass on `mask` (the whole image's lesion), the map covering `box` (x, y, w, h)."""
    return mass_share(on_canvas(heatmap, box, mask.shape), mask)


def on_canvas(heatmap: np.ndarray, box, shape) -> np.ndarray:
    canvas = np.zeros(shape, np.float32)
    x, y, w, h = box
    canvas[y:y + h, x:x + w] = resize_map(heatmap, (w, h))  # maps may be kept smaller than their crop
    return canvas


def mass_share(heatmap: np.ndarray, mask: np.ndarray) -> float | None:
    total = float(heatmap.sum())
    return None if total <= 0 else float(heatmap[mask].sum()) / total


def _blob(shape) -> np.ndarray:
    height, width = shape
    yy, xx = np.mgrid[0:height, 0:width]
    sigma = BLOB_SIGMA * min(height, width)
    return np.exp(-(((xx - width / 2) ** 2 + (yy - height / 2) ** 2) / (2 * sigma ** 2))).astype(np.float32)
