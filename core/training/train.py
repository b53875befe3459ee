"""Training of the Siamese model with a contrastive loss, early stopping, checkpoints and resume.

Each epoch (core.training.epoch) walks the training images in a fresh random order, in batches, with Livieris et al.
pairs drawn from each batch. Validation and test pairs are fixed. After each epoch the best weights by validation AUC
are kept and a checkpoint (core.training.checkpoint) is written, which resume=True continues from.

Under torchrun (core.training.distributed) every process runs train(): each embeds its share of every batch, DDP
averages the gradients, and rank 0 alone validates, decides early stopping (broadcast to the others), writes
checkpoints and the model, and drives the progress callback.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.augment import AugmentSpec
from core.data.datasets import load_cache, make_pairs, scan_dataset, seen_fingerprints, split_by_image
from core.errors import DataError, InputError
from core.evaluation.evaluate import EVAL_PAIR_SEED, embed_cached, score_pairs, summarise
from core.evaluation.metrics import roc_auc
from core.model.network import ModelConfig, SiameseModel
from core.model.weights import save_model
from core.training.checkpoint import checkpoint_path_for, restore_checkpoint, save_checkpoint
from core.training.distributed import RunFailed, joined, peer_failure, training_forward
from core.training.epoch import train_epoch
from core.vocabulary import TRAINING_DEFAULTS

VAL_PAIR_SEED = 101


@dataclass
class TrainOptions:
    data_dir: str
    out: str
    architecture: str = TRAINING_DEFAULTS["architecture"]
    input_size: int = TRAINING_DEFAULTS["input_size"]
    embedding_dim: int = TRAINING_DEFAULTS["embedding_dim"]
    epochs: int = TRAINING_DEFAULTS["epochs"]
    batch_size: int = TRAINING_DEFAULTS["batch_size"]
    lr: float = TRAINING_DEFAULTS["lr"]
    weight_decay: float = TRAINING_DEFAULTS["weight_decay"]
    margin: float = TRAINING_DEFAULTS["margin"]
    augment: str = TRAINING_DEFAULTS["augment"]
    in_batch_pairs: bool = True
    attention_weight: float = 0.0  # > 0 enables the attention-guided constraint (Zheng et al. 2020)
    attention_mask_fraction: float = 0.2
    lesion_weight: float = 0.0  # > 0 penalises Grad-CAM outside the lesion finder's mask (needs the mask channel)
    patience: int = TRAINING_DEFAULTS["patience"]
    seed: int = TRAINING_DEFAULTS["seed"]
    device: str = "auto"
    threads: int = 0  # 0 = leave torch's default
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    cache_dir: str = TRAINING_DEFAULTS["cache_dir"]
    resume: bool = False
    name: str = ""
    init_from: str = ""  # a weights file to start from (fine-tuning), instead of random initialisation
    lesion_crop: bool = False  # train (and later infer) on automatic lesion crops
    crop_margin: float = TRAINING_DEFAULTS["crop_margin"]
    color_constancy: bool = False


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    val_auc: float
    seconds: float


@dataclass
class TrainResult:
    out: str
    best_epoch: int
    best_val_auc: float
    threshold: float
    test: dict
    history: list = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    warnings: list = field(default_factory=list)  # what the run could not do, for the caller to say


def train(options: TrainOptions, progress=None, pairs_seen=None) -> TrainResult:
    """Train, keep the best epoch by validation AUC, and write options.out with its metadata and curves.

    progress(dict) is called after every batch and epoch (keys: epoch, epochs, batch, batches, loss, val_auc, eta_s),
    on rank 0 only under torchrun; pairs_seen: see core.training.epoch.train_epoch.
    KeyboardInterrupt leaves a checkpoint next to `out` that resume=True continues from. Under torchrun a process
    that dies stops the others with RunFailed, the last checkpoint intact.
    """
    if options.threads:
        torch.set_num_threads(options.threads)
    with joined(options.device) as (group, device):
        return _train(options, group, device, progress if group.leader else None, pairs_seen)


def _train(options: TrainOptions, group, device, progress, pairs_seen) -> TrainResult:
    spec = AugmentSpec.parse(options.augment)
    dataset = scan_dataset(options.data_dir)
    splits = split_by_image(dataset, options.seed, options.val_fraction, options.test_fraction)
    config = ModelConfig(architecture=options.architecture, input_size=options.input_size,
                         embedding_dim=options.embedding_dim, margin=options.margin, lesion_crop=options.lesion_crop,
                         crop_margin=options.crop_margin, color_constancy=options.color_constancy)
    torch.manual_seed(options.seed)
    model = SiameseModel(config)
    if options.init_from:
        _initialise_from(model, options.init_from)
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    batches = max(1, math.ceil(len(splits["train"]) / options.batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.lr, epochs=options.epochs,
                                                    steps_per_epoch=batches, pct_start=0.2)
    with group.leader_first():  # rank 0 decodes the images once; the others read its cache
        train_cache = load_cache(dataset.subset(splits["train"]), int(round(options.input_size * 1.15)),
                                 options.cache_dir, view=config,
                                 with_mask=spec.needs_mask or options.lesion_weight > 0)
        val_images = load_cache(dataset.subset(splits["val"]), options.input_size, options.cache_dir,
                                view=config) if group.leader else None  # rank 0 validates alone
    val_pairs = make_pairs(dataset.labels[splits["val"]], np.random.default_rng(VAL_PAIR_SEED))
    train_labels = torch.as_tensor(dataset.labels[splits["train"]])

    checkpoint_path = checkpoint_path_for(options.out)
    state: dict[str, Any] = {"epoch": 0, "history": [], "best_auc": -1.0, "best_epoch": 0, "best_state": None,
                             "bad_epochs": 0, "elapsed": 0.0}
    if options.resume and checkpoint_path.exists():
        state = restore_checkpoint(checkpoint_path, model, optimizer, scheduler)
    forward = training_forward(model, group, device)
    started = time.time() - state["elapsed"]
    interrupted = False
    try:
        for epoch in range(state["epoch"], options.epochs):
            if state["bad_epochs"] >= options.patience:
                break
            t0 = time.time()
            loss = train_epoch(model, forward, optimizer, scheduler, train_cache, train_labels, options, spec, epoch,
                               device, group, progress, pairs_seen)
            if group.leader:
                _end_epoch(model, state, (val_images, val_pairs), epoch, loss, t0)
                state["elapsed"] = time.time() - started
                save_checkpoint(checkpoint_path, model, optimizer, scheduler, state)
            state.update(group.from_leader({k: v for k, v in state.items() if k != "best_state"}))
            if progress:
                eta = (options.epochs - epoch - 1) * (time.time() - t0)
                progress({"epoch": epoch + 1, "epochs": options.epochs, "batch": batches, "batches": batches,
                          "loss": loss, "val_auc": state["history"][-1]["val_auc"], "best_auc": state["best_auc"],
                          "eta_s": eta, "done": True})
    except KeyboardInterrupt:
        interrupted = True
    except (RuntimeError, RunFailed) as exc:
        if group.world > 1 and peer_failure(exc):
            raise RunFailed(_stopped_message(exc, checkpoint_path, state["epoch"])) from None
        raise
    if interrupted and not group.leader:
        raise KeyboardInterrupt  # rank 0 saves the best model so far
    outcome: TrainResult | BaseException | None = None
    if group.leader:
        try:
            outcome = _finish_checked(model, dataset, splits, (val_images, val_pairs), state, options, device,
                                      time.time() - started, interrupted, group.world)
        except (DataError, KeyboardInterrupt) as exc:
            outcome = exc
    if not interrupted:
        outcome = group.from_leader(outcome)  # every rank ends the same way: with the result or rank 0's error
    if isinstance(outcome, BaseException):
        raise outcome
    assert outcome is not None  # rank 0 always ends with a result or an error, and every rank has rank 0's
    return outcome


def _end_epoch(model, state, validation, epoch, loss, t0) -> None:
    """Rank 0, after each epoch: validate, keep the best weights, count the epochs without improvement."""
    val_images, val_pairs = validation
    embeddings = embed_cached(model, val_images)
    val_auc = roc_auc(score_pairs(model, embeddings, val_pairs), val_pairs[:, 2])
    state["history"].append(asdict(EpochRecord(epoch + 1, loss, val_auc, time.time() - t0)))
    # A validation split too small to hold both kinds of pair gives NaN: then the latest epoch is kept.
    if val_auc > state["best_auc"] or (np.isnan(val_auc) and state["best_auc"] < 0):
        state.update(best_auc=val_auc, best_epoch=epoch + 1, bad_epochs=0,
                     best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    else:
        state["bad_epochs"] += 1
    state["epoch"] = epoch + 1


def _stopped_message(exc, checkpoint_path: Path, epochs_done: int) -> str:
    # gloo's own text is a source path and advice for developers; torchrun's report after this line names the rank
    cause = "stopped by torchrun" if isinstance(exc, RunFailed) else "its connection closed"
    kept = (f"the last checkpoint, {checkpoint_path} (epoch {epochs_done}), is intact: continue with the same "
            "command plus --resume, with any number of processes" if epochs_done else
            "no epoch had finished, so there is no checkpoint: start the run again")
    return f"training stopped: another process of this run failed ({cause}); {kept}"


def _finish_checked(model, dataset, splits, validation, state, options, device, seconds, interrupted,
                    world) -> TrainResult:
    if state["best_state"] is None:
        raise (KeyboardInterrupt("interrupted before the first epoch finished") if interrupted
               else DataError("no epoch trained"))
    if np.isnan(state["best_auc"]):
        raise DataError(f"{options.data_dir}: validation AUC undefined "
                        "(the validation split needs pairs of both kinds); "
                        "no model saved: add images or raise --val-fraction")
    return _finish(model, dataset, splits, validation, state, options, device, seconds, interrupted, world)


def _initialise_from(model: SiameseModel, path: str) -> None:
    """Copy every tensor of a Siamese Lens weights file whose name and shape match (loaded safely)."""
    from core.model.weights import load_model

    source = load_model(path).state_dict()
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not any(k.startswith("features.") for k in matched):
        raise InputError(f"{path}: its backbone does not match architecture {model.config.architecture!r}")
    model.load_state_dict(matched, strict=False)


def _finish(model, dataset, splits, validation, state, options, device, seconds, interrupted, world) -> TrainResult:
    from core.evaluation.metrics import best_balanced_threshold
    from core.io.plots import save_training_curves

    model.load_state_dict(state["best_state"])
    model.eval()
    val_images, val_pairs = validation
    val_scores = score_pairs(model, embed_cached(model, val_images), val_pairs)
    threshold, _ = best_balanced_threshold(val_scores, val_pairs[:, 2])  # chosen on validation, never on test
    model.config.threshold = threshold
    test_subset = dataset.subset(splits["test"])
    test_pairs = make_pairs(test_subset.labels, np.random.default_rng(EVAL_PAIR_SEED))
    test_scores = score_pairs(model, embed_cached(model, load_cache(test_subset, options.input_size, options.cache_dir,
                                                                    view=model.config)), test_pairs)
    test = summarise(test_scores, test_pairs[:, 2], threshold, len(test_subset.paths)).to_dict()
    data_name = Path(options.data_dir).resolve().name
    metadata = {
        "name": options.name or data_name,
        "dataset": data_name,
        "classes": dataset.classes,
        "split": {"seed": options.seed, "val_fraction": options.val_fraction, "test_fraction": options.test_fraction,
                  "train": len(splits["train"]), "val": len(splits["val"]), "test": len(splits["test"])},
        "seen_images": seen_fingerprints(dataset, np.concatenate([splits["train"], splits["val"]])),
        "test_metrics": {"accuracy": test["accuracy"], "auc": test["auc"], "pairs": test["pairs"]},
        "val_auc": state["best_auc"],
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "training_seconds": round(seconds, 1),
        "trained_on": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
                                     else f" ({os.cpu_count()} CPU cores)")
        + (f" x {world} processes" if world > 1 else ""),
        "options": {k: v for k, v in asdict(options).items() if k not in ("resume",)},
        "command": " ".join(sys.argv),
    }
    from core.evaluation.calibrate import (
        entries_for_training,  # calibration and out-of-domain summary, fitted on this split
    )

    entries, trust_problem = entries_for_training(model, dataset, splits, options.cache_dir)
    metadata.update(entries)
    save_model(model, options.out, metadata)
    save_training_curves(state["history"], Path(options.out).with_suffix(".curves.png"), title=metadata["name"])
    return TrainResult(out=str(options.out), best_epoch=state["best_epoch"], best_val_auc=state["best_auc"],
                       threshold=threshold, test=test, history=state["history"], interrupted=interrupted,
                       seconds=seconds,
                       warnings=[trust_problem] if trust_problem else [])
