"""Out-of-domain check: are an image's features far from those of the images the model was trained on?

Version 2 (core.trust.stage_stats): per intermediate stage, a Gaussian of the training images' channel statistics (Lee
et al. 2018's Mahalanobis detector with one tied Gaussian: the top COMPONENTS principal directions plus an
isotropic residual, so a stage costs (COMPONENTS + 1) x 2C numbers, float16). An image's score is, over the
stages, the largest Mahalanobis distance divided by that stage's PERCENTILE-th percentile over the validation
images; above the same percentile of the validation images' combined scores it is outside the domain. Fitted
on the training split, thresholds from the validation split: both unseen by the test split the rates are
measured on. PERCENTILE is 97.5, not 99: the 99th percentile of a few hundred validation images is set by their
four oddest (rulers, cards, labels in the skin set), and rooms slipped under it (skin model: 90 % of rooms flagged
at the 99th, 97 % at the 97.5th, with 3 % of skin test images).

Version 3 adds the whole image (core.trust.field_of_view): the skin model crops every image to its lesion first, and a
room cut down to a skin-like patch passed the crop's stages (59 % of rooms flagged). Summary key "whole": one
more Gaussian, of the channel means of a grid over an early stage of the uncropped image at a small size, with
its "index", "size" and "grid" (so inference computes what was fitted), scaled like a stage. An image is outside
when EITHER view finds it too far. Each view's score is scaled by its own validation percentile (the crop's, the
max over its stages, by "crop_scale"), so that alone each would flag the same share of validation images; the
threshold is the UNION_PERCENTILE-th percentile of the validation images' larger score (a model without the
lesion crop has no whole view: the PERCENTILE-th, as in version 2). That is 96.5, not 97.5: the target is at
most 5 % of the model's own images flagged, and 3.5 % leaves about one standard error of a few hundred
validation images below it (rooms were looked at; the choice rests on the 5 % target). Version-3 directions are
int8 with one scale per direction, marked "directions_dtype": float16 would push the summary past 250 kB with
the whole view's 1,024 statistics (int8 moved the share of rooms flagged by 0.1 point).

Version 1 (a summary without "version", kept so older weights files still work): a seeded subsample of the
training images' pooled last-stage features and the 99th percentile, over the validation images, of the mean
distance to their K nearest. Both versions carry "duplicate_distance": a quarter of the median distance from a
training image's pooled features to its nearest other one, below which a pair may be "the same image content".
"""

from __future__ import annotations

import base64
import functools
from typing import Any

import numpy as np

VERSION = 3
SUPPORTED = (2, 3)
PERCENTILE = 97.5  # of each stage's validation scores: its scale; version 2's threshold too
UNION_PERCENTILE = 96.5  # version 3: of the validation images' maxima over the stages and the whole view
COMPONENTS = 64
SHRINKAGE = 0.01  # of the covariance towards its mean variance: a stage has more statistics than some data sets images
CHUNK_CHARS = 2048
K = 5  # version 1
SUBSAMPLE = 300  # version 1's reference features; still the sample duplicate_distance is measured on
V1_PERCENTILE = 99.0
# Embedding distance below which a pair may be the same content (s >= 0.99); contrastive training packs images of
# one class this close too, so the features must agree as well (see duplicate_distance in summarise).
DEFAULT_DUPLICATE_DISTANCE = 0.02


def knn_score(reference: np.ndarray, queries: np.ndarray, k: int = K, exclude_self: bool = False) -> np.ndarray:
    """Mean Euclidean distance from each query to its k nearest reference rows."""
    reference = np.asarray(reference, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    squared = (queries ** 2).sum(1)[:, None] + (reference ** 2).sum(1)[None, :] - 2.0 * queries @ reference.T
    distances = np.sqrt(np.maximum(squared, 0.0))
    if exclude_self:
        np.fill_diagonal(distances, np.inf)
    k = max(1, min(k, distances.shape[1] - int(exclude_self)))
    return np.sort(distances, axis=1)[:, :k].mean(1)


def summarise(train: dict, val: dict, seed: int = 0, whole_view: dict | None = None) -> dict:
    """The version-3 summary stored in a model's metadata, from the training and validation images' features
    ({"pooled": (N, C), "stages": {module index: (N, 2C)}, and with `whole_view` ({"index", "size", "grid"} of
    core.trust.field_of_view) "whole": (N, D)}: core.trust.checks.domain_features)."""
    stages, val_scores = [], []
    for index in sorted(train["stages"]):
        stage = fit_stage(stage_vectors(train["stages"][index]))
        scores = stage_score(decode_stage(stage), stage_vectors(val["stages"][index]))
        stage.update({"index": int(index), "scale": float(np.percentile(scores, PERCENTILE))})
        stages.append(stage)
        val_scores.append(scores / stage["scale"])
    summary: dict[str, Any] = {"version": VERSION, "scale_percentile": PERCENTILE,
                               "method": f"Mahalanobis distance of the channel statistics of backbone stages "
                                         f"{[s['index'] for s in stages]} of the model's input"}
    if whole_view is not None:  # each view weighs the same: alone, each flags 100 - PERCENTILE % of validation
        if val_scores:
            summary["crop_scale"] = float(np.percentile(np.max(val_scores, axis=0), PERCENTILE))
            val_scores = [np.max(val_scores, axis=0) / summary["crop_scale"]]
        whole = fit_stage(stage_vectors(train["whole"]))
        scores = stage_score(decode_stage(whole), stage_vectors(val["whole"]))
        whole.update({key: int(whole_view[key]) for key in ("index", "size", "grid")})
        whole["scale"] = float(np.percentile(scores, PERCENTILE))
        val_scores.append(scores / whole["scale"])
        summary["whole"] = whole
        summary["method"] += (f", and of a {whole['grid']}x{whole['grid']} grid of module {whole['index']}'s "
                              f"channel means of the whole image at {whole['size']} px")
    combined = np.max(val_scores, axis=0)
    percentile = UNION_PERCENTILE if whole_view is not None else PERCENTILE  # one view: as version 2
    summary.update({
        "percentile": percentile,  # of the threshold, as in version 2 (where it is the scales' too)
        "threshold": float(np.percentile(combined, percentile)),
        "val_score_percentiles": {str(q): float(np.percentile(combined, q)) for q in (50, 90, 95, 99)},
        "duplicate_distance": duplicate_distance(train["pooled"], seed),
        "stages": stages,
    })
    return summary


def duplicate_distance(pooled: np.ndarray, seed: int = 0) -> float:
    """Feature distance of "the same content": a quarter of the typical distance from a training image to its
    nearest other one (a resampled copy measured at a sixth of it; a few near-duplicates in the data fall below)."""
    pooled = np.asarray(pooled, dtype=np.float32)
    pick = np.sort(np.random.default_rng(seed).choice(len(pooled), min(SUBSAMPLE, len(pooled)), replace=False))
    reference = np.round(pooled[pick].astype(np.float64), 3)  # as version 1 measured it
    return float(0.25 * np.median(knn_score(reference, reference, k=1, exclude_self=True)))


def check(summary: dict, features: dict) -> np.ndarray:
    """Boolean per image: inside the domain. `features` as for summarise (version 1 reads only "pooled"; a
    version-3 summary with "whole" needs features["whole"]). ValueError for a malformed summary or features
    that do not match it."""
    if summary.get("version") is None:
        return _check_v1(summary, features["pooled"])
    return scores(summary, features) <= float(summary["threshold"])


def scores(summary: dict, features: dict) -> np.ndarray:
    """Per image (versions 2 and 3), the largest of its stage (and whole-view) scores over their scales."""
    if int(summary["version"]) not in SUPPORTED:
        raise ValueError(f"domain summary version {summary['version']} is not supported")
    parts = [stage_score(decode_stage(stage), stage_vectors(features["stages"][int(stage["index"])]))
             / float(stage["scale"]) for stage in summary["stages"]]
    whole = summary.get("whole") if int(summary["version"]) >= 3 else None
    if whole is not None:
        parts = [np.max(parts, axis=0) / float(summary["crop_scale"])] if parts else []
        if features.get("whole") is None:
            raise ValueError("the domain summary compares the whole image: its features are missing")
        parts.append(stage_score(decode_stage(whole), stage_vectors(features["whole"])) / float(whole["scale"]))
    if not parts:
        raise ValueError("domain summary has no stages")
    return np.max(parts, axis=0)


def _check_v1(summary: dict, pooled) -> np.ndarray:
    reference = np.asarray(summary["embeddings"], dtype=np.float32)
    queries = np.asarray(pooled, dtype=np.float32)
    if reference.ndim != 2 or queries.ndim != 2 or reference.shape[1] != queries.shape[1] or len(reference) == 0:
        raise ValueError("domain summary does not match the model's embeddings")
    return knn_score(reference, queries, int(summary.get("k", K))) <= float(summary["threshold"])


# --- one stage's Gaussian ----------------------------------------------------------------------------------
def stage_vectors(stats) -> np.ndarray:
    """Channel statistics as the Gaussian models them: as captured (a square root, to make the skewed
    statistics more normal, measured no better: the same foreign rates, 3.4 % of skin test images vs 3.2 %)."""
    stats = np.asarray(stats, dtype=np.float32)
    if stats.ndim != 2:
        raise ValueError("stage statistics must be (images, features)")
    return stats


def fit_stage(vectors: np.ndarray) -> dict:
    """Mean, top principal directions and their variances, and the mean variance of the rest, of the
    shrunk covariance of `vectors`; arrays base64 (a fraction of the size of JSON numbers), the directions as
    float16 (rounding them moves a score by well under 1 %), the mean as float32 (a near-constant feature's
    tiny variance would magnify its rounding)."""
    x = np.asarray(vectors, dtype=np.float64)
    mean = x.mean(0)
    centred = x - mean
    covariance = centred.T @ centred / len(x)
    floor = max(float(np.trace(covariance)) / len(covariance), 1e-12)
    variances, directions = np.linalg.eigh((1.0 - SHRINKAGE) * covariance + SHRINKAGE * floor * np.eye(len(mean)))
    order = np.argsort(variances)[::-1]
    variances, directions = variances[order], directions[:, order]
    k = min(COMPONENTS, len(mean) - 1)
    top = directions[:, :k].T
    scales = np.maximum(np.abs(top).max(1), 1e-12) / 127.0  # int8 per direction (version 3)
    return {"dim": int(len(mean)), "components": int(k), "mean": encode(mean, "<f4"),
            "directions": encode(np.round(top / scales[:, None]), "i1"), "directions_dtype": "i1",
            "direction_scales": [float(v) for v in scales],
            "variances": [float(v) for v in variances[:k]], "residual_variance": float(variances[k:].mean())}


def decode_stage(stage: dict) -> tuple:
    """(mean, directions, variances, residual variance); directions float16 (version 2) or int8 times a
    scale per direction ("directions_dtype": "i1", version 3)."""
    dim, k = int(stage["dim"]), int(stage["components"])
    dtype = stage.get("directions_dtype", "<f2")
    if dtype not in ("<f2", "i1"):
        raise ValueError(f"domain summary directions of type {dtype!r} are not supported")
    directions = decode(stage["directions"], (k, dim), dtype)
    if dtype == "i1":
        scales = np.asarray(stage["direction_scales"], dtype=np.float32)
        if scales.shape != (k,):
            raise ValueError("domain summary direction scales do not match its directions")
        directions = directions * scales[:, None]
    return (decode(stage["mean"], (dim,), "<f4"), directions,
            np.asarray(stage["variances"], dtype=np.float32), float(stage["residual_variance"]))


def stage_score(gaussian: tuple, vectors: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each row: in the principal directions, plus the residual (measured
    directly, not as a difference of squares that float16 directions would round away) over its variance."""
    mean, directions, variances, residual_variance = gaussian
    if vectors.shape[1] != len(mean) or residual_variance <= 0 or np.any(variances <= 0):
        raise ValueError("domain summary does not match the model's features")
    centred = vectors - mean
    projected = centred @ directions.T
    residual = centred - projected @ directions
    return (projected ** 2 / variances).sum(1) + (residual ** 2).sum(1) / residual_variance


def encode(array: np.ndarray, dtype: str) -> list[str]:
    """Base64 in pieces of CHUNK_CHARS: core.model.weights cuts any longer metadata string."""
    text = base64.b64encode(np.asarray(array, dtype=dtype).tobytes()).decode("ascii")
    return [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]


def decode(chunks: list, shape: tuple, dtype: str) -> np.ndarray:
    """The float32 array (read-only) that `encode` wrote."""
    if not isinstance(chunks, list) or not all(isinstance(c, str) for c in chunks):
        raise ValueError("domain summary array is not a list of base64 strings")
    return _decoded(tuple(chunks), tuple(int(n) for n in shape), dtype)


@functools.lru_cache(maxsize=16)
def _decoded(chunks: tuple, shape: tuple, dtype: str) -> np.ndarray:
    # Keyed by the text itself, so an edited summary is decoded anew: every explanation checks its pair against
    # the same few arrays, and decoding them (0.5 ms for the skin model's three views) was 1 % of a forward pass.
    array = np.frombuffer(base64.b64decode("".join(chunks), validate=True), dtype=dtype)
    if array.size != int(np.prod(shape)):
        raise ValueError("domain summary array has the wrong size")
    out = array.reshape(shape).astype(np.float32)
    out.setflags(write=False)
    return out
