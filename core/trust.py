"""How far a score can be trusted: calibrated probability, out-of-domain check, same-content detection.

At inference these read the model's metadata ("calibration", "domain"); a model without them (older files,
untrained) gets None, never a guess. Fitting needs no retraining: fit_trust re-creates the model's own split
from its metadata, fits the calibration on the validation split, summarises the training images' backbone
statistics (core.domain) and reports both on the test split; recalibrate_file writes them into the weights
file (tensors unchanged).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np

from . import calibration, domain, verdict  # numpy only: the GUI thread may use the words below without torch

VAL_PAIR_ROUNDS = 3  # pairs per validation image and class relation: more pairs, steadier fit
VAL_PAIR_SEED = 101


# --- inference --------------------------------------------------------------------------------------------
def probability_same(model, similarity: float) -> float | None:
    fitted = model.metadata.get("calibration")
    if not isinstance(fitted, dict):
        return None
    try:
        return float(calibration.apply(fitted, similarity))
    except (KeyError, TypeError, ValueError):
        return None


def stage_probe(model):
    """Context manager around the forward pass whose features in_domain will read: it captures the statistics
    of the stages the model's domain summary compares (core.stage_stats) into the dict it yields; a model
    without a version-2 summary gets an empty dict and no hooks."""
    summary = model.metadata.get("domain")
    try:
        indices = [int(stage["index"]) for stage in summary["stages"]] if summary.get("version") else []
    except (AttributeError, KeyError, TypeError, ValueError):
        indices = []
    if not indices:
        return nullcontext({})
    from .stage_stats import capture

    return capture(model, indices)


def domain_features(feature_maps, stages: dict | None = None, whole=None) -> dict:
    """What the domain and same-content checks compare. "pooled": the target layer's maps (N, C, h, w),
    average-pooled, not normalised (version 1, and the same-content check); "stages": what stage_probe
    captured (versions 2 and 3); "whole": the uncropped images' view (core.field_of_view.for_model; version 3,
    None when the summary has none). Not the embeddings: contrastive training folds every input, a daisy
    included, onto a few tight clusters of the embedding sphere (daisies were 0.3 % flagged there)."""
    return {"pooled": feature_maps.detach().float().mean(dim=(2, 3)).cpu().numpy(), "stages": dict(stages or {}),
            "whole": whole}


def in_domain(model, features: dict) -> tuple | None:
    """Per image, inside the model's domain; `features` from domain_features. None: the model cannot tell."""
    summary = model.metadata.get("domain")
    if not isinstance(summary, dict):
        return None
    try:
        return tuple(bool(v) for v in domain.check(summary, features))
    except (KeyError, TypeError, ValueError):
        return None


def same_content(model, distance: float, features) -> bool:
    """The pair is (nearly) the same image content: embeddings within DEFAULT_DUPLICATE_DISTANCE and, where the
    model has a domain summary, backbone features closer than any two distinct training images."""
    if not distance <= domain.DEFAULT_DUPLICATE_DISTANCE:
        return False
    summary = model.metadata.get("domain")
    try:
        limit = float(summary["duplicate_distance"])
        pooled = features["pooled"]
        gap = float(np.linalg.norm(np.asarray(pooled[0], np.float64) - np.asarray(pooled[1], np.float64)))
    except (KeyError, TypeError, ValueError, IndexError):
        return True
    return gap <= limit


# --- fitting ----------------------------------------------------------------------------------------------
def fit_trust(model, dataset, splits: dict, cache_dir=None) -> tuple[dict, dict]:
    """(metadata entries {"calibration", "domain"}, a report) for `model` on its split of `dataset`."""
    from .data import load_cache, make_pairs
    from .evaluate import EVAL_PAIR_SEED, score_pairs
    from . import field_of_view
    from .stage_stats import stage_indices

    stages = stage_indices(model)

    def embed(name):
        subset = dataset.subset(splits[name])
        images = load_cache(subset, model.config.input_size, cache_dir, view=model.config)
        # the training split only gives the domain summary: its (test-time augmented) embeddings are not needed
        return (*embed_and_features(model, images, stages, with_embeddings=name != "train"), subset.labels)

    (_, train_f, _), (val_e, val_f, val_y), (test_e, test_f, test_y) = embed("train"), embed("val"), embed("test")
    rng = np.random.default_rng(VAL_PAIR_SEED)
    val_pairs = np.concatenate([make_pairs(val_y, rng) for _ in range(VAL_PAIR_ROUNDS)])
    val_scores = score_pairs(model, val_e, val_pairs)
    fitted = calibration.fit_platt(val_scores, val_pairs[:, 2])
    test_pairs = make_pairs(test_y, np.random.default_rng(EVAL_PAIR_SEED))  # the pairs test_metrics use
    test_scores = score_pairs(model, test_e, test_pairs)
    before = calibration.expected_calibration_error(test_scores, test_pairs[:, 2])
    after = calibration.expected_calibration_error(calibration.apply(fitted, test_scores), test_pairs[:, 2])
    fitted.update({"fitted_on": f"validation split, {len(val_pairs)} pairs",
                   "test_ece_raw": round(before, 4), "test_ece": round(after, 4), "test_pairs": int(len(test_pairs))})
    band = verdict.fit_band(calibration.apply(fitted, val_scores), val_pairs[:, 2])
    tested = verdict.selective(calibration.apply(fitted, test_scores), test_pairs[:, 2], band["band"])
    band.update({"test_selective_accuracy": tested["accuracy"], "test_coverage": tested["coverage"]})
    view, whole = field_of_view.fit_features(model, dataset, splits, cache_dir)  # the uncropped images
    summary = domain.summarise({**train_f, "whole": whole["train"]}, {**val_f, "whole": whole["val"]},
                               whole_view=view)
    test_in = domain.check(summary, {**test_f, "whole": whole["test"]})
    summary["test_flagged"] = round(float(1.0 - test_in.mean()), 4)
    report = {"calibration": {k: v for k, v in fitted.items()}, "verdict": dict(band),
              "domain": {k: v for k, v in summary.items() if k not in ("stages", "whole")}}
    report["domain"]["stages"] = [{k: v for k, v in stage.items() if k in ("index", "dim", "scale")}
                                  for stage in summary["stages"]]
    report["domain"]["whole"] = {k: v for k, v in summary.get("whole", {}).items()
                                 if k in ("index", "size", "grid", "dim", "scale")} or None
    return {"calibration": fitted, "domain": summary, "verdict": band}, report


def embed_and_features(model, images, stages, batch_size: int = 128, with_embeddings: bool = True):
    """(embeddings as a tensor, or None without `with_embeddings`; domain_features of `stages`) of a uint8 image
    cache, in one pass, preprocessed exactly as core.evaluate.embed_cached does."""
    import torch

    from .stage_stats import capture

    was_training = model.training
    model.eval()
    size = model.config.input_size
    embeddings, pooled, stats = [], [], {int(i): [] for i in stages}
    with torch.no_grad(), capture(model, stages) as captured:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(model.device).float() / 255.0
            if x.shape[-1] != size or x.shape[-2] != size:
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                    align_corners=False)
            x = model.normalise(x).contiguous(memory_format=torch.channels_last)
            maps = model.features(x)
            batch = domain_features(maps, captured)  # before embed's test-time views pass through the hooks
            if with_embeddings:
                one_view = model.config.tta == "none"
                embeddings.append((model.embed_from_features(maps) if one_view else model.embed(x)).float().cpu())
            pooled.append(batch["pooled"])
            for index in stats:
                stats[index].append(batch["stages"][index])
    model.train(was_training)
    return torch.cat(embeddings) if with_embeddings else None, {"pooled": np.concatenate(pooled),
                                   "stages": {i: np.concatenate(v) for i, v in stats.items()}}


def model_split(model, data_dir):
    """(DATA_DIR as a Dataset, the model's own split of it), re-created from its metadata (seed and fractions)."""
    from .data import scan_dataset, split_by_image
    from .errors import DataError

    split = model.metadata.get("split")
    if not isinstance(split, dict) or "seed" not in split:
        raise DataError("the model's metadata records no split (seed, fractions): cannot tell its validation images")
    dataset = scan_dataset(data_dir)
    splits = split_by_image(dataset, int(split["seed"]), float(split.get("val_fraction", 0.15)),
                            float(split.get("test_fraction", 0.15)))
    for name in ("train", "val", "test"):
        if name in split and int(split[name]) != len(splits[name]):
            raise DataError(f"{data_dir}: its {name} split has {len(splits[name])} images, the model's had "
                            f"{split[name]}: not the data set this model was trained on")
    return dataset, splits


def recalibrate_file(path, data_dir, cache_dir=None, device="cpu", tta=None) -> dict:
    """Fit calibration and domain summary for the weights file at `path` and rewrite it atomically with them
    (metadata only: its tensors and their sha256 stay the same). With `tta` (a mode or "auto"), first choose the
    model's test-time augmentation, threshold and test metrics (core.tta_choice). Returns the report."""
    from .errors import ModelLoadError
    from .weights import load_model, save_model

    model = load_model(path, device=device)
    before = model.metadata.get("tensors_sha256")
    dataset, splits = model_split(model, data_dir)
    chosen = None
    if tta is not None:
        from .tta_choice import tune

        chosen = tune(model, dataset, splits, cache_dir, tta)
    entries, report = fit_trust(model, dataset, splits, cache_dir)
    if chosen is not None:
        report["tta"] = chosen
    meta = save_model(model.cpu(), Path(path), entries)
    if meta["tensors_sha256"] != before:  # never: fp16 -> fp32 -> fp16 is exact; checked because it must hold
        raise ModelLoadError(f"{path}: tensors changed while rewriting metadata")
    report["weights"] = {"path": str(path), "sha256": meta["sha256"], "tensors_sha256": before,
                         "size_bytes": meta["size_bytes"]}
    return report


# --- words ------------------------------------------------------------------------------------------------
def describe_trust(result, faithful: dict | None = None) -> list[str]:
    """Plain-text lines (CLI) for the verdict, the calibrated probability and faithfulness; the domain and
    same-content warnings are the verdict's reason."""
    lines = [f"verdict: {result.verdict.upper()} ({result.verdict_reason})"]
    if result.probability_same is not None:
        lines.append(f"probability same class {100 * result.probability_same:.0f} % (calibrated)")
    if faithful:
        lines.append(f"faithfulness: {faithfulness_text(faithful)}")
    return lines


def better_than_chance(faithful: dict) -> bool:
    """The map explains the score better than a random map of the same smoothness: blurring its top regions away
    lowers the score faster (deletion) AND restoring them raises it faster (insertion)."""
    return (faithful["deletion_auc_map"] < faithful["deletion_auc_random"]
            and faithful["insertion_auc_map"] > faithful["insertion_auc_random"])


def faithfulness_text(faithful: dict) -> str:
    """One line a reader can act on; the AUCs stay in the JSON and in the technical section."""
    if not better_than_chance(faithful):
        return "this map does not explain the score better than chance"
    return (f"better than a random map (deletion AUC {faithful['deletion_auc_map']:.3f} vs "
            f"{faithful['deletion_auc_random']:.3f}, insertion {faithful['insertion_auc_map']:.3f} vs "
            f"{faithful['insertion_auc_random']:.3f})")


def entries_for_training(model, dataset, splits: dict, cache_dir=None) -> tuple[dict, str]:
    """What core.train adds to a new model's metadata: ({"calibration", "domain", "verdict"}, ""), or ({}, why not)
    if fitting fails (a failure here must never cost the training run; `main.py calibrate` can add them later;
    the caller says so: core never prints)."""
    try:
        return fit_trust(model, dataset, splits, cache_dir)[0], ""
    except Exception as exc:  # noqa: BLE001  deliberately broad: see the docstring
        return {}, f"calibration, verdict band and domain summary not stored ({exc}); run main.py calibrate"
