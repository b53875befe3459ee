"""Self-supervised pretraining of the Siamese backbone with SimSiam (Chen and He 2021), class labels ignored.

SimSiam needs no negative pairs, no momentum encoder and no large batches (the paper trains with batches down to
64), which suits a 2-core CPU: one encoder, two views of each image, nothing else kept in memory. Both views go
through the SiameseModel's trunk (`features`) and pooling, then a projector MLP; a predictor MLP maps one view's
projection towards the other's. The loss is the symmetrised negative cosine of each prediction against the other
view's projection with its gradient stopped (minimum -1). The projector and predictor exist only here.

Views: core.data.augment's batched crop (20-100 % of the area) and flip, colour jitter 0.4, plus SimSiam's grayscale
(p 0.2) and Gaussian blur (p 0.5, sigma 0.1-2.0 px per 224 px of input), all vectorised on whole batches. The
optimiser is the paper's: SGD, momentum 0.9, weight decay 1e-4, lr 0.05 x batch / 256 (unless --lr) decayed on a
cosine, the predictor's lr fixed. Each epoch records the loss and the spread of the normalised projections
(std x sqrt(dim): about 1 while healthy, 0 on collapse); every `probe_every` epochs, and before the first,
core.evaluation.probe measures k-NN accuracy and pair AUC of the backbone on each data set.

The result is a normal weights file: a SiameseModel with the pretrained `features` and an untrained head, marked
"untrained" (its similarity scores mean nothing: the app and reports say so) with a "pretrained" record; `train
--init-from OUT` fine-tunes it. Progress, checkpoints (--resume), curves and Ctrl-C/SIGTERM behave as in
core.training.train.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.data.augment import AugmentSpec, augment_batch
from core.data.datasets import load_cache, scan_dataset
from core.errors import DataError
from core.evaluation.probe import load_probe_set, probe
from core.model.device import resolve_device
from core.model.network import ModelConfig, SiameseModel
from core.model.weights import save_model
from core.training.checkpoint import checkpoint_path_for, restore_checkpoint, save_checkpoint
from core.training.distributed import environment
from core.vocabulary import PRETRAINING_DEFAULTS, TRAINING_DEFAULTS

OBJECTIVE = "simsiam"
PROJECTION_DIM, PREDICTOR_HIDDEN = 512, 128  # the paper's 2048 / 512 bottleneck, scaled to resnet18's 512 channels
VIEW = AugmentSpec(hflip=True, vflip=False, rotate_degrees=0.0, crop_scale=(0.2, 1.0), jitter=0.4)
GRAYSCALE_P, BLUR_P, BLUR_SIGMA = 0.2, 0.5, (0.1, 2.0)


@dataclass
class PretrainOptions:
    data_dirs: list
    out: str
    architecture: str = TRAINING_DEFAULTS["architecture"]
    input_size: int = TRAINING_DEFAULTS["input_size"]
    epochs: int = PRETRAINING_DEFAULTS["epochs"]
    batch_size: int = TRAINING_DEFAULTS["batch_size"]
    lr: float | None = None  # None: 0.05 x batch_size / 256 (the paper's rule)
    weight_decay: float = 1e-4
    seed: int = TRAINING_DEFAULTS["seed"]
    device: str = "auto"
    threads: int = 0
    cache_dir: str = TRAINING_DEFAULTS["cache_dir"]
    # epochs between k-NN probes (the last epoch is always probed); 0: never
    probe_every: int = PRETRAINING_DEFAULTS["probe_every"]
    resume: bool = False
    name: str = ""


@dataclass
class PretrainResult:
    out: str
    epochs: int
    history: list = field(default_factory=list)
    probe: list = field(default_factory=list)  # the last probe, one entry per data set
    interrupted: bool = False
    seconds: float = 0.0


class SimSiam(nn.Module):
    """The SiameseModel's trunk and pooling, with the projector and predictor of pretraining."""

    def __init__(self, siamese: SiameseModel):
        super().__init__()
        self.siamese = siamese
        # head[1] is the nn.Linear after Flatten (SiameseModel); nn.Sequential's indexing is typed as any Module
        channels, dim = cast(nn.Linear, siamese.head[1]).in_features, PROJECTION_DIM
        self.projector = nn.Sequential(nn.Linear(channels, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True),
                                       nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim, affine=False))
        self.predictor = nn.Sequential(nn.Linear(dim, PREDICTOR_HIDDEN, bias=False), nn.BatchNorm1d(PREDICTOR_HIDDEN),
                                       nn.ReLU(inplace=True), nn.Linear(PREDICTOR_HIDDEN, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.projector(self.siamese.pool(self.siamese.features(x)).flatten(1))
        return z, self.predictor(z)


def simsiam_loss(p1, p2, z1, z2) -> torch.Tensor:
    """Symmetrised negative cosine, the projections' gradients stopped: in [-1, 1], -1 = views agree."""
    return -(F.cosine_similarity(p1, z2.detach(), dim=1).mean()
             + F.cosine_similarity(p2, z1.detach(), dim=1).mean()) / 2


def output_spread(z: torch.Tensor) -> float:
    """std of the unit-length projections per dimension, x sqrt(dim): about 1 while healthy, 0 when collapsed."""
    return float(F.normalize(z.detach(), dim=1).std(dim=0).mean() * math.sqrt(z.shape[1]))


def simsiam_view(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One strongly augmented view of each uint8 image, float in [0, 1]; a second call draws the other view."""
    x = augment_batch(images, size, VIEW, generator)
    n = len(x)
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    x = torch.where((torch.rand(n, generator=generator) < GRAYSCALE_P).view(-1, 1, 1, 1), gray, x)
    low, high = BLUR_SIGMA
    sigma = (low + (high - low) * torch.rand(n, generator=generator)) * size / 224
    blurred = _gaussian_blur(x, sigma)
    return torch.where((torch.rand(n, generator=generator) < BLUR_P).view(-1, 1, 1, 1), blurred, x)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per sample (grouped convolutions, reflected borders)."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma.view(-1, 1) ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (N * C, K)
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, 0, 0), mode="reflect")
    y = F.conv2d(y, kernel.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), kernel.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


def pretrain(options: PretrainOptions, progress=None) -> PretrainResult:
    """Pretrain, and write options.out with its metadata and curves. progress(dict) is called after every batch
    and epoch (keys as core.training.train's, plus "summary" at an epoch's end). KeyboardInterrupt (SIGTERM in the CLI)
    leaves the checkpoint next to `out`, which resume=True continues from, and saves the last finished epoch."""
    if options.threads:
        torch.set_num_threads(options.threads)
    if environment().world > 1:
        raise DataError("pretrain runs as one process: start it without torchrun")
    device = resolve_device(options.device)
    datasets = [scan_dataset(d) for d in options.data_dirs]
    config = ModelConfig(architecture=options.architecture, input_size=options.input_size)
    torch.manual_seed(options.seed)
    net = SimSiam(SiameseModel(config)).to(device).to(memory_format=torch.channels_last)
    cache = torch.cat([load_cache(d, int(round(options.input_size * 1.15)), options.cache_dir, view=config)
                       for d in datasets])
    if len(cache) < 2:
        raise DataError("pretraining needs at least two images")
    probe_sets = [load_probe_set(d, config, options.cache_dir) for d in datasets] if options.probe_every else []
    batches = max(1, len(cache) // options.batch_size)  # a last, smaller batch is left for the next epoch's order
    lr = options.lr or 0.05 * options.batch_size / 256
    encoder = [*net.siamese.features.parameters(), *net.projector.parameters()]  # the head takes no part
    groups: list[dict[str, Any]] = [{"params": encoder}, {"params": net.predictor.parameters()}]
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=options.weight_decay)
    steps = options.epochs * batches
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, [lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)), lambda step: 1.0])
    checkpoint_path = checkpoint_path_for(options.out)
    state: dict[str, Any] = {"epoch": 0, "history": [], "probe_before": None, "elapsed": 0.0, "best_state": None}
    if options.resume and checkpoint_path.exists():
        state = restore_checkpoint(checkpoint_path, net, optimizer, scheduler)
    elif probe_sets:
        state["probe_before"] = [probe(net.siamese, s) for s in probe_sets]  # the untrained backbone's baseline
    started = time.time() - state["elapsed"]
    interrupted = False
    try:
        for epoch in range(state["epoch"], options.epochs):
            t0 = time.time()
            loss, spread = _epoch(net, optimizer, scheduler, cache, options, epoch, batches, device, progress)
            record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss, "spread": spread}
            if probe_sets and ((epoch + 1) % options.probe_every == 0 or epoch + 1 == options.epochs):
                record["probe"] = [probe(net.siamese, s) for s in probe_sets]
            record["seconds"] = time.time() - t0
            state["history"].append(record)
            state.update(epoch=epoch + 1, elapsed=time.time() - started)
            save_checkpoint(checkpoint_path, net, optimizer, scheduler, state)
            if progress:
                progress({"epoch": epoch + 1, "epochs": options.epochs, "batch": batches, "batches": batches,
                          "loss": loss, "eta_s": (options.epochs - epoch - 1) * (time.time() - t0), "done": True,
                          "summary": _summary(record)})
    except KeyboardInterrupt:
        interrupted = True
        if not checkpoint_path.exists() or not state["epoch"]:
            raise KeyboardInterrupt("interrupted before the first epoch finished") from None
        state = restore_checkpoint(checkpoint_path, net, optimizer, scheduler)  # the last finished epoch
    return _finish(net.siamese, options, datasets, state, device, interrupted)


def _epoch(net, optimizer, scheduler, cache, options, epoch, batches, device, progress) -> tuple[float, float]:
    """One pass over the images in an order (and views) seeded by (seed, epoch): (mean loss, mean spread)."""
    net.train()
    rng = np.random.default_rng([options.seed, epoch])
    generator = torch.Generator().manual_seed(options.seed * 100_003 + epoch)
    order = torch.as_tensor(rng.permutation(len(cache)))
    losses, spreads, t0 = [], [], time.time()
    for b in range(batches):
        images = cache[order[b * options.batch_size:(b + 1) * options.batch_size]]
        views = [net.siamese.normalise(simsiam_view(images, options.input_size, generator).to(device))
                 .contiguous(memory_format=torch.channels_last) for _ in range(2)]
        (z1, p1), (z2, p2) = net(views[0]), net(views[1])
        loss = simsiam_loss(p1, p2, z1, z2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        spreads.append(output_spread(z1))
        if progress:
            pace = (time.time() - t0) / (b + 1)
            progress({"epoch": epoch + 1, "epochs": options.epochs, "batch": b + 1, "batches": batches,
                      "loss": float(np.mean(losses)),
                      "eta_s": pace * ((batches - b - 1) + batches * (options.epochs - epoch - 1)),
                      "done": False})
    return float(np.mean(losses)), float(np.mean(spreads))


def _summary(record: dict) -> str:
    probes = ", ".join(f"{p['data_set']} {p['knn_accuracy']:.3f}/{p['pair_auc']:.3f}"
                       for p in record.get("probe") or [])
    return f" spread {record['spread']:.2f}" + (f" k-NN acc/pair AUC {probes}" if probes else "")


def _finish(siamese, options, datasets, state, device, interrupted) -> PretrainResult:
    """Write the weights file (trunk pretrained, head untrained) with its metadata, and the curves."""
    names = [d.root.resolve().name for d in datasets]
    history = _finite(state["history"])
    probed = [h["probe"] for h in history if h.get("probe")]
    last_probe = probed[-1] if probed else []
    seconds = state["elapsed"]
    metadata: dict[str, Any] = {
        "name": options.name or f"{', '.join(names)} (pretrained backbone)",
        "untrained": True,  # the head: similarity scores mean nothing until `train --init-from` fine-tunes it
        "pretrained": {"objective": OBJECTIVE,
                       "data_sets": [{"name": n, "images": len(d.paths), "classes": len(d.classes)}
                                     for n, d in zip(names, datasets, strict=True)],
                       "images": sum(len(d.paths) for d in datasets), "epochs": state["epoch"],
                       "seconds": round(seconds, 1), "history": history, "probe_before": _finite(state["probe_before"]),
                       "probe": last_probe},
        "trained_on": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
                                     else f" ({os.cpu_count()} CPU cores)"),
        "options": {k: v for k, v in asdict(options).items() if k != "resume"},
        "command": " ".join(sys.argv),
    }
    save_model(siamese, options.out, metadata)
    save_pretraining_curves(history, _finite(state["probe_before"]), Path(options.out).with_suffix(".curves.png"),
                            metadata["name"])
    return PretrainResult(out=str(options.out), epochs=state["epoch"], history=history, probe=last_probe,
                          interrupted=interrupted, seconds=seconds)


def save_pretraining_curves(history: list, probe_before, path, title: str) -> Path:
    """Loss per epoch and each data set's k-NN accuracy at every probe (epoch 0: the untrained backbone)."""
    from core.io.plots import line_chart

    series = {"SimSiam loss (-cosine)": ([h["epoch"] for h in history], [_nan(h["loss"]) for h in history])}
    probes = ([(0, probe_before)] if probe_before else []) + [
        (h["epoch"], h["probe"]) for h in history if h.get("probe")]
    for n, first in enumerate(probes[0][1] if probes else []):
        series[f"k-NN accuracy, {first['data_set']}"] = ([e for e, _ in probes],
                                                         [_nan(p[n]["knn_accuracy"]) for _, p in probes])
    return line_chart(series, path, f"SimSiam pretraining: {title}", "epoch", "loss / k-NN accuracy",
                      y_range=(-1.0, 1.0))


def _finite(value):
    """JSON-safe: NaN and infinities become None (weights metadata refuses them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _nan(value) -> float:
    return float("nan") if value is None else value
