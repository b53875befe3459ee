"""Training of the Siamese model with a contrastive loss, early stopping, checkpoints and resume.

Each epoch walks the training images in a fresh random order, in batches. Every image is embedded once per
epoch; its Livieris et al. pairs (one partner of its class, one of another, never itself) are drawn from its
batch, re-drawn every epoch. With `in_batch_pairs` the loss also uses every other pair in the batch, which
costs nothing extra to embed. Validation and test pairs are fixed. Epoch randomness is seeded by
(seed, epoch), so an interrupted run that resumes matches an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentSpec, augment_batch
from .data import load_cache, make_pairs, scan_dataset, seen_fingerprints, split_by_image
from .device import resolve_device
from .errors import DataError
from .files import atomic_write, first_line
from .vocabulary import TRAINING_DEFAULTS
from .evaluate import EVAL_PAIR_SEED, embed_cached, score_pairs, summarise
from .metrics import roc_auc
from .model import ModelConfig, SiameseModel
from .weights import save_model

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


def train(options: TrainOptions, progress=None) -> TrainResult:
    """Train, keep the best epoch by validation AUC, and write options.out with its metadata and curves.

    progress(dict) is called after every batch and epoch (keys: epoch, epochs, batch, batches, loss, val_auc, eta_s).
    KeyboardInterrupt leaves a checkpoint next to `out` that resume=True continues from.
    """
    if options.threads:
        torch.set_num_threads(options.threads)
    device = resolve_device(options.device)
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
    train_cache = load_cache(dataset.subset(splits["train"]), int(round(options.input_size * 1.15)), options.cache_dir,
                             view=config, with_mask=spec.needs_mask)
    val_images = load_cache(dataset.subset(splits["val"]), options.input_size, options.cache_dir, view=config)
    val_pairs = make_pairs(dataset.labels[splits["val"]], np.random.default_rng(VAL_PAIR_SEED))
    train_labels = torch.as_tensor(dataset.labels[splits["train"]])

    checkpoint_path = checkpoint_path_for(options.out)
    state = {"epoch": 0, "history": [], "best_auc": -1.0, "best_epoch": 0, "best_state": None, "bad_epochs": 0, "elapsed": 0.0}
    if options.resume and checkpoint_path.exists():
        state = _restore(checkpoint_path, model, optimizer, scheduler)
    started = time.time() - state["elapsed"]
    interrupted = False
    try:
        for epoch in range(state["epoch"], options.epochs):
            if state["bad_epochs"] >= options.patience:
                break
            t0 = time.time()
            loss = _train_epoch(model, optimizer, scheduler, train_cache, train_labels, options, spec, epoch, device, progress)
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
            state["elapsed"] = time.time() - started
            _save_checkpoint(checkpoint_path, model, optimizer, scheduler, state)
            if progress:
                eta = (options.epochs - epoch - 1) * (time.time() - t0)
                progress({"epoch": epoch + 1, "epochs": options.epochs, "batch": batches, "batches": batches,
                          "loss": loss, "val_auc": val_auc, "best_auc": state["best_auc"], "eta_s": eta, "done": True})
    except KeyboardInterrupt:
        interrupted = True
    if state["best_state"] is None:
        raise KeyboardInterrupt("interrupted before the first epoch finished") if interrupted else DataError("no epoch trained")
    if np.isnan(state["best_auc"]):
        raise DataError(f"{options.data_dir}: validation AUC undefined (the validation split needs pairs of both kinds); "
                        "no model saved: add images or raise --val-fraction")
    return _finish(model, dataset, splits, (val_images, val_pairs), state, options, device, time.time() - started,
                   interrupted)


def checkpoint_path_for(out) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".checkpoint.pt")


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """Hadsell et al. / Livieris et al.: pull same-class pairs together, push others beyond the margin."""
    same = same.float()
    return same * distance.pow(2) + (1 - same) * F.relu(margin - distance).pow(2)


def _train_epoch(model, optimizer, scheduler, cache, labels, options, spec, epoch, device, progress) -> float:
    model.train()
    rng = np.random.default_rng([options.seed, epoch])
    generator = torch.Generator().manual_seed(options.seed * 100_003 + epoch)
    order = torch.as_tensor(rng.permutation(len(cache)))
    batches = max(1, math.ceil(len(order) / options.batch_size))
    losses, t0 = [], time.time()
    for b in range(batches):
        index = order[b * options.batch_size:(b + 1) * options.batch_size]
        if len(index) < 2:
            continue
        x = augment_batch(cache[index], options.input_size, spec, generator)
        x = model.normalise(x.to(device)).contiguous(memory_format=torch.channels_last)
        batch_labels = labels[index].to(device)
        maps = model.features(x)
        emb = model.embed_from_features(maps)
        pairs = make_pairs(batch_labels.cpu().numpy(), rng)
        loss = _pair_loss(model, emb, batch_labels, pairs, options)
        if options.attention_weight > 0:
            loss = loss + options.attention_weight * _attention_constraint(model, x, maps, emb, pairs, options)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if progress:
            elapsed = time.time() - t0
            eta = elapsed / (b + 1) * (batches - b - 1) + elapsed / (b + 1) * batches * (options.epochs - epoch - 1)
            progress({"epoch": epoch + 1, "epochs": options.epochs, "batch": b + 1, "batches": batches,
                      "loss": float(np.mean(losses)), "eta_s": eta, "done": False})
    return float(np.mean(losses)) if losses else float("nan")


def _pair_loss(model, emb, labels, pairs, options) -> torch.Tensor:
    margin = options.margin
    paper = torch.as_tensor(pairs, device=emb.device)
    d = model.distance(emb[paper[:, 0]], emb[paper[:, 1]])
    loss = contrastive_loss(d, paper[:, 2], margin).mean()
    if options.in_batch_pairs:
        i, j = torch.triu_indices(len(emb), len(emb), offset=1, device=emb.device)
        same = labels[i] == labels[j]
        all_losses = contrastive_loss(model.distance(emb[i], emb[j]), same, margin)
        # balance the classes of pairs: in-batch pairs are mostly 'different' when there are many classes
        parts = [all_losses[same].mean()] if same.any() else []
        parts += [all_losses[~same].mean()] if (~same).any() else []
        loss = loss + torch.stack(parts).mean()
    return loss


def _attention_constraint(model, x, maps, emb, pairs, options) -> torch.Tensor:
    """Zheng et al. 2020-style constraint: masking the region an image's similarity attention points at
    must move it away from its positive partner, so the attention falls on evidence the model relies on."""
    positive = pairs[pairs[:, 2] == 1]
    if len(positive) == 0:
        return emb.sum() * 0.0
    a, p = torch.as_tensor(positive[:, 0]), torch.as_tensor(positive[:, 1])
    similarity = model.score(emb[a], emb[p].detach()).sum()
    grads = torch.autograd.grad(similarity, maps, retain_graph=True)[0][a]
    with torch.no_grad():
        cam = F.relu((grads.mean(dim=(2, 3), keepdim=True) * maps[a]).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        flat = cam.flatten(1)
        cutoff = torch.quantile(flat, 1.0 - options.attention_mask_fraction, dim=1).view(-1, 1, 1, 1)
        keep = (cam < cutoff) | (flat.amax(dim=1).view(-1, 1, 1, 1) <= 0)
    masked = model.embed(x[a] * keep)  # zero = the data mean after normalisation
    d_full = model.distance(emb[a], emb[p]).detach()
    d_masked = model.distance(masked, emb[p].detach())
    return F.relu(d_full + 0.1 - d_masked).mean()


def _initialise_from(model: SiameseModel, path: str) -> None:
    """Copy every tensor of a Siamese Lens weights file whose name and shape match (loaded safely)."""
    from .weights import load_model

    source = load_model(path).state_dict()
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not any(k.startswith("features.") for k in matched):
        raise ValueError(f"{path}: its backbone does not match architecture {model.config.architecture!r}")
    model.load_state_dict(matched, strict=False)


def _save_checkpoint(path: Path, model, optimizer, scheduler, state) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "state_json": json.dumps({k: v for k, v in state.items() if k != "best_state"}),
               "best_state": state["best_state"]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda handle: torch.save(payload, handle))  # the last good checkpoint survives a failure
    except OSError as exc:
        raise DataError(f"{path}: checkpoint not written ({first_line(exc)})") from None


def _restore(path: Path, model, optimizer, scheduler) -> dict:
    """Continue from a checkpoint of this run; a damaged one, or one of another architecture, is one clear error."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        state = json.loads(payload["state_json"])
        state["best_state"] = payload["best_state"]
    except (pickle.UnpicklingError, RuntimeError, KeyError, ValueError, TypeError, EOFError, OSError,
            zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a checkpoint of this run ({first_line(exc)}); remove it or train without --resume") from None
    return state


def _finish(model, dataset, splits, validation, state, options, device, seconds, interrupted) -> TrainResult:
    from .metrics import best_balanced_threshold
    from .plots import save_training_curves

    model.load_state_dict(state["best_state"])
    model.eval()
    val_images, val_pairs = validation
    val_scores = score_pairs(model, embed_cached(model, val_images), val_pairs)
    threshold, _ = best_balanced_threshold(val_scores, val_pairs[:, 2])  # chosen on validation, never on test
    model.config.threshold = threshold
    test_subset = dataset.subset(splits["test"])
    test_pairs = make_pairs(test_subset.labels, np.random.default_rng(EVAL_PAIR_SEED))
    test_scores = score_pairs(model, embed_cached(model, load_cache(test_subset, options.input_size, options.cache_dir, view=model.config)), test_pairs)
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
        "trained_on": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f" ({os.cpu_count()} CPU cores)"),
        "options": {k: v for k, v in asdict(options).items() if k not in ("resume",)},
        "command": " ".join(sys.argv),
    }
    from .trust import entries_for_training  # calibration and out-of-domain summary, fitted on this split

    metadata.update(entries_for_training(model, dataset, splits, options.cache_dir))
    save_model(model, options.out, metadata)
    save_training_curves(state["history"], Path(options.out).with_suffix(".curves.png"), title=metadata["name"])
    return TrainResult(out=str(options.out), best_epoch=state["best_epoch"], best_val_auc=state["best_auc"],
                       threshold=threshold, test=test, history=state["history"], interrupted=interrupted, seconds=seconds)
