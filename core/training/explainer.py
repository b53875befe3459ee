"""Training a model's amortised explainer (core.model.explainer_head) and storing it in the model's weights file.

Targets: for pairs of the model's own *training* split (its metadata `split`; make_pairs with PAIR_SEED, a seeded
order, so `pairs` N is a prefix of a fixed list), the refinement's coalition cells (core.explain.refine
.REFINED_METHOD, 16 pair passes with gradients each), oriented for the decision like every factual map; inputs:
what explain_pair's first pass leaves (core.explain.pair.first_pass). Each pair is cached as one .npz under
<cache>/<backbone digest>/ (written atomically, skipped when present and of the same pair), so a run cut short
resumes and a retrained backbone never reuses another's targets. With `target_seeds` K > 1 the target is the mean of
K coalition maps of the pair (mask seeds COALITION_SEED + 0..K-1: 16 K pair passes a pair, a less noisy estimate of
the same Shapley values); the extra seeds' maps are cached beside the first, under seed<k>/. With `insertion_weight`
w != 1/2 the target weighs the coalitions whose restored share is below 1/2 (the mixtures an insertion test's early
fractions make) w against 1 - w for their complements: the low half's map (8 pair passes a pair, cached under low/)
and the cached map T = low + high give w low + (1 - w) high (docs/explanations.md, session 15). Fit: MSE + (1 - Pearson)
per image on the cells scaled by their largest |cell|, AdamW, early stopping on the last HOLDOUT share of the pairs
(validation and test pairs are never read: they are what the head is measured on, benchmarks/bench_explanations.py).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.data.datasets import make_pairs
from core.errors import DataError, Stopped
from core.evaluation.calibrate import model_split
from core.evaluation.explanation_metrics import rank_correlation
from core.explain.integrated import COALITION_SEED, STEPS, coalitions, integrated_cells, path_of
from core.explain.methods import get_method, grad_cam
from core.explain.pair import first_pass, model_view
from core.explain.refine import REFINED_METHOD
from core.io.files import atomic_write
from core.io.images import load_image
from core.model.explainer_head import ExplainerHead

PAIR_SEED = 350
HOLDOUT = 0.15
WIDTH = 32
EPOCHS = 300
PATIENCE = 40
BATCH = 64
LR = 3e-3
WEIGHT_DECAY = 1e-3


@dataclass(frozen=True)
class ExplainerOptions:
    pairs: int = 1000
    width: int = WIDTH
    epochs: int = EPOCHS
    patience: int = PATIENCE
    seed: int = 0
    target_seeds: int = 1
    insertion_weight: float = 0.5  # 1/2: the plain coalition map (its two halves weighed equally)


def check_trainable(model, name: str) -> None:
    """DataError (one line) for a model the explainer cannot be trained for."""
    if not model.config.architecture.startswith("resnet"):
        raise DataError(f"{name}: an amortised explainer needs a ResNet model, not {model.config.architecture!r}")
    if model.config.tta != "none":
        raise DataError(f"{name}: an amortised explainer is trained for models without test-time views "
                        f"(this one averages {model.config.tta!r})")
    split = model.metadata.get("split")
    if not isinstance(split, dict) or not {"seed", "val_fraction", "test_fraction"} <= set(split):
        raise DataError(f"{name}: the model's metadata has no training split, so its training pairs are unknown")


def training_pairs(model, data_dir, count: int) -> list[tuple[str, str]]:
    """The first `count` pairs of a fixed, seeded order of pairs within the model's own training split."""
    dataset, splits = model_split(model, data_dir)  # refused when DATA_DIR is not the model's data set
    members = splits["train"]
    rng = np.random.default_rng(PAIR_SEED)
    pairs = make_pairs(dataset.labels[members], rng)
    pairs = pairs[rng.permutation(len(pairs))[:count]]
    return [(str(dataset.paths[members[i]]), str(dataset.paths[members[j]])) for i, j, _same in pairs]


def backbone_digest(model) -> str:
    """What the targets depend on: every tensor but the explainer's (so adding a head keeps the cache valid)."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        if not key.startswith("explainer."):
            digest.update(key.encode())
            digest.update(value.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def pair_tensors(model, paths, seed: int = 0, low: bool = False) -> dict[str, np.ndarray]:
    """One pair's cached arrays: the first pass's tensors (oriented gradients) and the coalition target; `seed` k > 0:
    the target alone, another draw of the same map (mask seed COALITION_SEED + k), oriented alike; `low`: the target
    alone, the map of the first half of the seed-0 map's masks (restored shares below 1/2), on the same scale."""
    inputs = torch.cat([model.input_tensor(model_view(model, load_image(p))[0]) for p in paths])
    passed = first_pass(model, inputs, early=not (seed or low))
    sign = get_method(REFINED_METHOD).sign(model.decide(passed.similarity))
    if low:  # the mean over the low half's STEPS / 2 masks is twice the full map's low-half sum
        target = sign * integrated_cells(model, inputs, steps=STEPS // 2, path=coalitions(low=True)) / 2
    else:
        path = coalitions(seed=COALITION_SEED + seed) if seed else path_of(REFINED_METHOD)
        target = sign * integrated_cells(model, inputs, path=path)
    arrays = {"target": target.numpy().astype(np.float32), "pair": np.array([str(p) for p in paths])}
    if seed or low:
        return arrays
    return {**arrays, "activations": passed.activations.numpy().astype(np.float16),
            "grads": (passed.grads * sign).numpy().astype(np.float32),
            "early": passed.early.numpy().astype(np.float16) if passed.early is not None else np.zeros(0),
            "sign": np.array(sign, np.float32), "similarity": np.array(passed.similarity, np.float32)}


def generate(model, pairs, cache: Path, shard: tuple[int, int] = (0, 1),
             progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None, seed: int = 0, low: bool = False) -> list[Path]:
    """Cache the targets of `pairs` (those of this shard: index k with k % n == i) and return every pair's file;
    `seed` k > 0: only the coalition map of mask seed COALITION_SEED + k, under cache/seed<k>/; `low`: only the
    low half's map, under cache/low/."""
    folder = cache / "low" if low else cache / f"seed{seed}" if seed else cache
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"{k:05d}.npz" for k in range(len(pairs))]
    index, count = shard
    for k, (paths, path) in enumerate(zip(pairs, files, strict=True)):
        if should_stop is not None and should_stop():
            raise Stopped("explainer targets stopped; rerun to resume")
        if k % count != index or _cached(path, paths):
            continue
        arrays = pair_tensors(model, paths, seed, low)
        atomic_write(path, lambda handle, arrays=arrays: np.savez(handle, **arrays))
        if progress is not None:
            progress(k + 1, len(pairs))
    return files


def _cached(path: Path, paths) -> bool:
    try:
        with np.load(path) as stored:
            return [str(p) for p in stored["pair"]] == [str(p) for p in paths]
    except (OSError, ValueError, KeyError):
        return False


def load_targets(files, seed_files=(), low_files=(), insertion_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """The cached pairs stacked, two rows a pair (the early stage pooled to the target's grid if it differs); the
    target averaged with the same pairs' maps of other mask seeds (`seed_files`: one list of files per seed), or,
    with `low_files` (the same pairs' low halves), w low + (1 - w) high for w = `insertion_weight`."""
    parts = [np.load(f) for f in files]
    stack = lambda key: torch.from_numpy(np.concatenate([p[key] for p in parts])).float()  # noqa: E731
    target_of = lambda fs: torch.from_numpy(np.concatenate([np.load(f)["target"] for f in fs])).float()  # noqa: E731
    data = {key: stack(key) for key in ("activations", "grads", "early", "target")}
    for others in seed_files:
        data["target"] += target_of(others)
    data["target"] /= 1 + len(seed_files)
    if low_files:  # w low + (1 - w) (T - low); scaled per image later, so only the ratio of the halves counts
        low = target_of(low_files)
        data["target"] = (2 * insertion_weight - 1) * low + (1 - insertion_weight) * data["target"]
    if data["early"].shape[-2:] != data["target"].shape[-2:]:
        grid = (int(data["early"].shape[-2]), int(data["early"].shape[-1]))
        data["target"] = F.adaptive_avg_pool2d(data["target"][:, None], grid)[:, 0]
    return data


def scaled(cells: torch.Tensor) -> torch.Tensor:
    """Each image's cells over their largest |cell| (what the head predicts; a map's scale carries nothing)."""
    return cells / (cells.flatten(1).abs().amax(dim=1).view(-1, 1, 1) + 1e-12)


def loss_of(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p, t = pred.flatten(1), target.flatten(1)
    pc, tc = p - p.mean(dim=1, keepdim=True), t - t.mean(dim=1, keepdim=True)
    pearson = (pc * tc).sum(dim=1) / (pc.norm(dim=1) * tc.norm(dim=1) + 1e-12)
    return F.mse_loss(p, t) + (1.0 - pearson).mean()


def fit(data: dict, options: ExplainerOptions, should_stop: Callable[[], bool] | None = None,
        on_epoch: Callable[[int, float], None] | None = None) -> tuple[ExplainerHead, dict]:
    """Train a head on cached pairs; (the head at its best holdout loss, what it measured). `on_epoch(epoch,
    held-out loss)` after each epoch."""
    torch.manual_seed(options.seed)
    pairs = len(data["target"]) // 2
    cut = 2 * max(1, int(round(pairs * (1 - HOLDOUT))))  # whole pairs on each side
    if cut >= len(data["target"]):
        raise DataError(f"{pairs} pairs are too few to hold any out for early stopping")
    a, g, early, target = data["activations"], data["grads"], data["early"], scaled(data["target"])
    cam = grad_cam(a, g)
    head = ExplainerHead(a.shape[1], early.shape[1], options.width)
    head.scale.copy_(a[:cut].mean(dim=(0, 2, 3)).view(1, -1, 1, 1) + 1e-6)
    head.early_scale.copy_(early[:cut].mean(dim=(0, 2, 3)).view(1, -1, 1, 1) + 1e-6)
    optimiser = torch.optim.AdamW(head.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    held = slice(cut, None)
    best, best_state, since, epochs = float("inf"), head.state_dict(), 0, 0
    started = time.perf_counter()
    for _ in range(options.epochs):
        epochs += 1
        if should_stop is not None and should_stop():
            raise Stopped("explainer training stopped")
        head.train()
        order = torch.randperm(cut)
        for start in range(0, cut, BATCH):
            rows = order[start:start + BATCH]
            loss = loss_of(head(a[rows], g[rows], early[rows], cam[rows]), target[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        head.eval()
        with torch.no_grad():
            held_loss = float(loss_of(head(a[held], g[held], early[held], cam[held]), target[held]))
        if on_epoch is not None:
            on_epoch(epochs, held_loss)
        if held_loss < best - 1e-4:
            best, best_state, since = held_loss, {k: v.clone() for k, v in head.state_dict().items()}, 0
        else:
            since += 1
            if since >= options.patience:
                break
    head.load_state_dict(best_state)
    head.eval().requires_grad_(False)
    with torch.no_grad():
        predicted = head(a[held], g[held], early[held], cam[held]).numpy()
        cam_cells = F.interpolate(cam[held, None], size=early.shape[-2:], mode="bilinear",
                                  align_corners=False)[:, 0].numpy()
    truth = target[held].numpy()
    report = {"target": REFINED_METHOD, "target_seeds": options.target_seeds,
              "insertion_weight": options.insertion_weight, "pair_seed": PAIR_SEED,
              "fit_seed": options.seed, "pairs": pairs, "fit_pairs": cut // 2,
              "holdout_pairs": pairs - cut // 2, "width": options.width, "epochs": epochs,
              "holdout_loss": round(best, 4),
              "holdout_rank_correlation": _median_rank(predicted, truth),
              "holdout_rank_correlation_gradcam": _median_rank(cam_cells, truth),
              "parameters": sum(p.numel() for p in head.parameters()),
              "fit_seconds": round(time.perf_counter() - started, 1),
              "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return head, report


def _median_rank(predicted: np.ndarray, truth: np.ndarray) -> float | None:
    values = [r for p, t in zip(predicted, truth, strict=True) if (r := rank_correlation(p, t)) is not None]
    return round(float(np.median(values)), 3) if values else None


def attach(model, head: ExplainerHead) -> None:
    """Give `model` the trained head (its config then records the head's width, so the file rebuilds it)."""
    model.config.explainer_width = head.out[0].out_channels
    model.explainer = head.to(model.device).eval().requires_grad_(False)


def train_explainer(path, data_dir, options: ExplainerOptions, cache_root, progress=None, should_stop=None,
                    on_epoch=None) -> dict:
    """Train the explainer of the weights file `path` on its own training split of `data_dir` and store it there;
    returns the report (as stored in the file's metadata under "explainer", plus the file written). `progress(k,
    n)` after each pair's target is computed, `on_epoch` as fit's."""
    from core.model.weights import load_model, save_model

    model = load_model(path)
    name = Path(path).name
    check_trainable(model, name)
    if options.insertion_weight != 0.5 and options.target_seeds > 1:
        raise DataError(f"{name}: an insertion weight other than 0.5 is built on one coalition map a pair "
                        f"(target seeds 1), not {options.target_seeds}")
    pairs = training_pairs(model, data_dir, options.pairs)
    if len(pairs) < 4:
        raise DataError(f"{data_dir}: only {len(pairs)} training pairs for {name}; an explainer needs at least 4")
    cache = Path(cache_root) / backbone_digest(model)
    files = generate(model, pairs, cache, progress=progress, should_stop=should_stop)
    seed_files = [generate(model, pairs, cache, progress=progress, should_stop=should_stop, seed=k)
                  for k in range(1, options.target_seeds)]
    low_files = generate(model, pairs, cache, progress=progress, should_stop=should_stop, low=True) \
        if options.insertion_weight != 0.5 else []
    head, report = fit(load_targets(files, seed_files, low_files, options.insertion_weight), options, should_stop,
                       on_epoch)
    attach(model, head)
    meta = save_model(model.cpu(), Path(path), {"explainer": report})
    return {**report, "weights": {"path": str(path), "sha256": meta["sha256"], "size_bytes": meta["size_bytes"]}}
