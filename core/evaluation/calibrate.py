"""Fitting what core.trust reads at inference, with no retraining: the calibration, the verdict band and the
out-of-domain summary (`main.py calibrate`, and the end of `main.py train`).

fit_trust re-creates the model's own split from its metadata, fits the calibration and the verdict band on the
validation split, summarises the training images' backbone statistics (core.trust.domain) and reports all three
on the test split; recalibrate_file writes them into the weights file (tensors unchanged).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.trust import calibration, domain, verdict
from core.trust.checks import domain_features

VAL_PAIR_ROUNDS = 3  # pairs per validation image and class relation: more pairs, steadier fit
VAL_PAIR_SEED = 101


def fit_trust(model, dataset, splits: dict, cache_dir=None) -> tuple[dict, dict]:
    """(metadata entries {"calibration", "domain"}, a report) for `model` on its split of `dataset`."""
    from core.data.datasets import load_cache, make_pairs
    from core.evaluation.evaluate import EVAL_PAIR_SEED, score_pairs
    from core.trust import field_of_view
    from core.trust.stage_stats import stage_indices

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
    cache, in one pass, preprocessed exactly as core.evaluation.evaluate.embed_cached does."""
    import torch

    from core.trust.stage_stats import capture

    was_training = model.training
    model.eval()
    size = model.config.input_size
    embeddings, pooled = [], []
    stats: dict[int, list[np.ndarray]] = {int(i): [] for i in stages}
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
    from core.data.datasets import scan_dataset, split_by_image
    from core.errors import DataError

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
    model's test-time augmentation, threshold and test metrics (core.evaluation.tta_choice). Returns the report."""
    from core.errors import ModelLoadError
    from core.model.weights import load_model, save_model

    model = load_model(path, device=device)
    before = model.metadata.get("tensors_sha256")
    dataset, splits = model_split(model, data_dir)
    chosen = None
    if tta is not None:
        from core.evaluation.tta_choice import tune

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


def entries_for_training(model, dataset, splits: dict, cache_dir=None) -> tuple[dict, str]:
    """What core.training.train adds to a new model's metadata: ({"calibration", "domain", "verdict"}, ""), or
    ({}, why not) if fitting fails (a failure here must never cost the training run; `main.py calibrate` can add
    them later; the caller says so: core never prints)."""
    try:
        return fit_trust(model, dataset, splits, cache_dir)[0], ""
    except Exception as exc:  # noqa: BLE001  deliberately broad: see the docstring
        return {}, f"calibration, verdict band and domain summary not stored ({exc}); run main.py calibrate"
