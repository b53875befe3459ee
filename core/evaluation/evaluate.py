"""Pair evaluation of a model on a folder-per-class data set: embed every image once, score fixed pairs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.data.datasets import Dataset, load_cache, make_pairs, path_fingerprint, scan_dataset
from core.errors import DataError
from core.evaluation import metrics
from core.model.network import SiameseModel
from core.model.tta import view_count
from core.trust import calibration, verdict

# Training reports its test split with these pairs, so `evaluate` on the same folder reproduces the metadata.
EVAL_PAIR_SEED = 202


@dataclass
class Evaluation:
    pairs: int
    positives: int
    images: int
    excluded_seen: int
    threshold: float
    accuracy: float
    auc: float
    best_threshold: float
    best_balanced_accuracy: float
    confusion: dict
    roc: dict = field(repr=False, default_factory=dict)
    lesion_lift: dict | None = None  # skin models: core.evaluation.lift.dataset_lift fills it in
    auc_ci95: list | None = None  # bootstrap over images (metrics.auc_interval), where the pairs' images are known
    # Selective accuracy (core.trust.verdict): the model's band, the accuracy of the pairs it decides and the share it
    # decides; None for a model without calibration or band. The images' domain check is not applied here.
    selective: dict | None = None
    risk_coverage: dict = field(repr=False, default_factory=dict)
    # Unreadable images are left out with the pairs they were drawn into (the other pairs stay as drawn), and
    # named: one "path: problem" line each.
    skipped_images: int = 0
    skipped_pairs: int = 0
    unreadable: list[str] = field(default_factory=list)

    def to_dict(self, with_roc: bool = False) -> dict:
        data = asdict(self)
        if not with_roc:
            data.pop("roc")
            data.pop("risk_coverage")
        for key in ("lesion_lift", "auc_ci95", "selective"):
            if data[key] is None:
                data.pop(key)
        return data


@torch.no_grad()
def embed_cached(model: SiameseModel, images: torch.Tensor, batch_size: int = 128, embed=None) -> torch.Tensor:
    """Embeddings of a uint8 (N, 3, H, W) tensor, resized to the model's input exactly as preprocess does.
    `embed` maps a normalised batch to its vectors (default: model.embed; core.evaluation.probe: pooled backbone
    features)."""
    was_training = model.training
    model.eval()
    size = model.config.input_size
    step = max(1, batch_size // view_count(model.config.tta))  # test-time views multiply the batch
    out = []
    for start in range(0, len(images), step):
        x = images[start:start + step].to(model.device).float() / 255.0
        if x.shape[-1] != size or x.shape[-2] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                align_corners=False)
        out.append((embed or model.embed)(model.normalise(x).contiguous(memory_format=torch.channels_last))
                   .float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.config.embedding_dim)


def score_pairs(model: SiameseModel, embeddings: torch.Tensor, pairs: np.ndarray) -> np.ndarray:
    e1 = embeddings[torch.as_tensor(pairs[:, 0])]
    e2 = embeddings[torch.as_tensor(pairs[:, 1])]
    return model.score(e1, e2).numpy().astype(np.float64)


def summarise(scores: np.ndarray, same: np.ndarray, threshold: float, images: int, excluded: int = 0,
              groups: np.ndarray | None = None) -> Evaluation:
    """`groups`: each pair's first image, to give the AUC a bootstrap interval (None: no interval)."""
    best_t, best_bal = metrics.best_balanced_threshold(scores, same)
    fpr, tpr, thr = metrics.roc_curve(scores, same)
    return Evaluation(
        pairs=int(len(scores)),
        positives=int(np.sum(same)),
        images=images,
        excluded_seen=excluded,
        threshold=float(threshold),
        accuracy=metrics.accuracy(scores, same, threshold),
        auc=metrics.roc_auc(scores, same),
        best_threshold=best_t,
        best_balanced_accuracy=best_bal,
        confusion=metrics.confusion(scores, same, threshold),
        roc={"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        auc_ci95=None if groups is None else [round(v, 4) for v in metrics.auc_interval(scores, same, groups)],
    )


def evaluate_dataset(model: SiameseModel, data_dir, max_pairs: int | None = None, include_seen: bool = False,
                     seed: int = EVAL_PAIR_SEED, cache_dir: Path | None = None) -> Evaluation:
    """Evaluate on DATA_DIR; images the model was trained or tuned on (recorded in its metadata) are left out."""
    subset, excluded = unseen_subset(model, data_dir, include_seen)
    return evaluate_subset(model, subset, max_pairs=max_pairs, seed=seed, cache_dir=cache_dir, excluded=excluded)


def unseen_subset(model: SiameseModel, data_dir, include_seen: bool = False) -> tuple[Dataset, int]:
    """DATA_DIR less the images the model was trained or tuned on (unless include_seen), and how many were left out."""
    dataset = scan_dataset(data_dir)
    seen = set(model.metadata.get("seen_images", [])) if not include_seen else set()
    keep = [i for i in range(len(dataset.paths)) if path_fingerprint(dataset.relative(i)) not in seen]
    excluded = len(dataset.paths) - len(keep)
    subset = dataset.subset(keep)
    if len(np.unique(subset.labels)) < 2:
        raise DataError(f"{data_dir}: fewer than two classes left after excluding {excluded} images the model has seen")
    return subset, excluded


def evaluate_retrieval(model: SiameseModel, data_dir, cache_dir: Path | None = None) -> dict:
    """Similar-case retrieval on DATA_DIR: the images the model never saw are the queries, the images it was
    trained and tuned on (recorded in its metadata) the labelled gallery."""
    from core.model.retrieval import retrieval_metrics

    dataset = scan_dataset(data_dir)
    seen = set(model.metadata.get("seen_images", []))
    in_gallery = np.array([path_fingerprint(dataset.relative(i)) in seen for i in range(len(dataset.paths))], bool)
    if not in_gallery.any() or in_gallery.all():
        raise DataError(f"{data_dir}: retrieval needs both images the model was trained on (the gallery) and images it "
                        f"never saw (the queries); this model's metadata records {len(seen)} seen images")
    unreadable: dict[int, str] = {}
    embeddings = embed_cached(model, load_cache(dataset, model.config.input_size, cache_dir, view=model.config,
                                                unreadable=unreadable)).numpy()
    readable = ~np.isin(np.arange(len(dataset.paths)), list(unreadable))
    gallery, queries = in_gallery & readable, ~in_gallery & readable
    if not gallery.any() or not queries.any():
        raise DataError(f"{data_dir}: retrieval needs readable gallery and query images; {len(unreadable)} images "
                        f"could not be read (the first: {unreadable[min(unreadable)]})")
    return {**retrieval_metrics(embeddings[gallery], dataset.labels[gallery], embeddings[queries],
                                dataset.labels[queries]),
            "skipped_images": len(unreadable), "unreadable": [unreadable[n] for n in sorted(unreadable)]}


def is_skin_model(model: SiameseModel) -> bool:
    """Models whose lesion lift `evaluate` reports by default."""
    return bool(model.config.lesion_crop) or model.metadata.get("dataset") == "skin"


def evaluate_subset(model: SiameseModel, subset: Dataset, max_pairs=None, seed=EVAL_PAIR_SEED, cache_dir=None,
                    excluded: int = 0, images: torch.Tensor | None = None) -> Evaluation:
    pairs = make_pairs(subset.labels, np.random.default_rng(seed), max_pairs=max_pairs)
    unreadable: dict[int, str] = {}
    if images is None:
        images = load_cache(subset, model.config.input_size, cache_dir, view=model.config, unreadable=unreadable)
    drawn = len(pairs)
    if unreadable:
        pairs = pairs[~np.isin(pairs[:, :2], list(unreadable)).any(axis=1)]
        check_usable(subset, pairs, unreadable)
    embeddings = embed_cached(model, images)
    scores = score_pairs(model, embeddings, pairs)
    result = summarise(scores, pairs[:, 2], model.threshold, len(subset.paths) - len(unreadable), excluded,
                       groups=pairs[:, 0])
    result.skipped_images, result.skipped_pairs = len(unreadable), drawn - len(pairs)
    result.unreadable = [unreadable[n] for n in sorted(unreadable)]
    probabilities = calibrated(model, scores)
    band = verdict.band_of(model.metadata)
    if probabilities is not None:
        result.risk_coverage = verdict.risk_coverage(probabilities, pairs[:, 2])
        if band is not None:
            result.selective = verdict.selective(probabilities, pairs[:, 2], band)
    return result


def check_usable(subset: Dataset, pairs: np.ndarray, unreadable: dict[int, str]) -> None:
    """Raise DataError when the pairs left after the unreadable images cannot give an AUC: none left, or no pair
    of the same class or none of two classes."""
    if len(pairs) and 0 < pairs[:, 2].sum() < len(pairs):
        return
    first = unreadable[min(unreadable)]
    raise DataError(f"{subset.root}: too few readable images to evaluate: {len(unreadable)} of {len(subset.paths)} "
                    f"could not be read (the first: {first})")


def calibrated(model: SiameseModel, scores: np.ndarray) -> np.ndarray | None:
    """P(same class) of each score by the model's calibration; None when it has none (or a malformed one)."""
    try:
        return calibration.apply(model.metadata["calibration"], scores)
    except (KeyError, TypeError, ValueError):
        return None

