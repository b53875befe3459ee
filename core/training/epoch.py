"""One training epoch: its plan (image order, batches, Livieris pairs), the contrastive loss, the attention
constraint and the lesion constraint.

Every image is embedded once per epoch; its pairs (one partner of its class, one of another, never itself) are
drawn from its batch, re-drawn every epoch. With `in_batch_pairs` the loss also uses every other pair in the batch,
which costs nothing extra to embed. The plan is seeded by (seed, epoch), so an interrupted run that resumes
matches an uninterrupted one.

Under torchrun every rank draws the same plan, embeds its own share of each (global) batch and computes the loss of
the pairs whose first image is in its share, against the whole batch's embeddings: the ranks together train on
each pair of the epoch exactly once, and the gradient DDP averages is the one-process gradient of that batch
(batch-norm statistics aside on CPU, see core.training.distributed.training_forward).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from core.data.augment import augment_with_mask
from core.data.datasets import make_pairs
from core.explain.methods import grad_cam
from core.training.distributed import gather_rows

# Augmentation is drawn per image, so each rank has its own stream; rank 0 draws what a plain run draws.
RANK_STREAM_STRIDE = 1_000_003


def train_epoch(model, forward, optimizer, scheduler, cache, labels, options, spec, epoch, device, group,
                progress=None, pairs_seen=None) -> float:
    """Train one epoch; returns its mean loss (over ranks too). `forward` is
    core.training.distributed.training_forward's module. pairs_seen(epoch, pairs) receives, per batch, the (image,
    partner, same) rows of training-set indices whose loss this rank computed: what a run trained on, for audits."""
    model.train()
    rng = np.random.default_rng([options.seed, epoch])
    generator = torch.Generator().manual_seed(options.seed * 100_003 + epoch + RANK_STREAM_STRIDE * group.rank)
    order = torch.as_tensor(rng.permutation(len(cache)))
    batches = max(1, math.ceil(len(order) / options.batch_size))
    losses, t0 = [], time.time()
    for b in range(batches):
        index = order[b * options.batch_size:(b + 1) * options.batch_size]
        if len(index) < max(2, group.world):  # pairs need two images, and every rank one of them
            continue
        share = group.share(len(index))
        x, lesion = augment_with_mask(cache[index[share]], options.input_size, spec, generator)
        x = model.normalise(x.to(device)).contiguous(memory_format=torch.channels_last)
        batch_labels = labels[index].to(device)
        maps, local = forward(x)
        emb = gather_rows(group, local, share, len(index))
        pairs = make_pairs(batch_labels.cpu().numpy(), rng)
        if pairs_seen is not None:
            mine = pairs[_owned(pairs[:, 0], share)]
            pairs_seen(epoch + 1, np.stack([index.numpy()[mine[:, 0]], index.numpy()[mine[:, 1]], mine[:, 2]], axis=1))
        loss = pair_loss(model, emb, batch_labels, pairs, share, group.world, options)
        if options.attention_weight > 0:
            constraint = attention_constraint(model, x, maps, local, emb, pairs, share, group, options)
            loss = loss + options.attention_weight * constraint
        if options.lesion_weight > 0 and lesion is not None:
            loss = loss + options.lesion_weight * lesion_constraint(model, maps, local, emb, pairs, lesion, share,
                                                                    group.world)
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
    return group.mean(float(np.mean(losses)) if losses else float("nan"))


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """Hadsell et al. / Livieris et al.: pull same-class pairs together, push others beyond the margin."""
    same = same.float()
    return same * distance.pow(2) + (1 - same) * F.relu(margin - distance).pow(2)


def pair_loss(model, emb, labels, pairs, share, world, options) -> torch.Tensor:
    """Loss of the batch's Livieris pairs, plus (in_batch_pairs) of all its pairs, balanced between same and
    different; this rank's part: the pairs whose first image is in `share`."""
    margin = options.margin
    paper = torch.as_tensor(pairs, device=emb.device)
    own = _owned(paper[:, 0], share)
    d = model.distance(emb[paper[own, 0]], emb[paper[own, 1]])
    loss = _mean_share(contrastive_loss(d, paper[own, 2], margin), len(paper), world)
    if options.in_batch_pairs:
        i, j = torch.triu_indices(len(emb), len(emb), offset=1, device=emb.device)
        same = labels[i] == labels[j]
        own = _owned(i, share)
        all_losses = contrastive_loss(model.distance(emb[i[own]], emb[j[own]]), same[own], margin)
        # balance the classes of pairs: in-batch pairs are mostly 'different' when there are many classes
        parts = [_mean_share(all_losses[same[own]], int(same.sum()), world)] if same.any() else []
        parts += [_mean_share(all_losses[~same[own]], int((~same).sum()), world)] if (~same).any() else []
        loss = loss + torch.stack(parts).mean()
    return loss


def attention_constraint(model, x, maps, local, emb, pairs, share, group, options) -> torch.Tensor:
    """Zheng et al. 2020-style constraint: masking the region an image's similarity attention (its Grad-CAM,
    core.explain.methods) points at must move it away from its positive partner, so the attention falls on evidence the
    model relies on. Each rank masks the images of its share (`x`, `maps`, `local`); `emb` is the whole batch."""
    positive = pairs[pairs[:, 2] == 1]
    # every rank runs the masked forward or none does (synchronised batch norm is a collective)
    if min(int(_owned(positive[:, 0], s).sum()) for s in group.shares(len(emb))) == 0:
        return emb.sum() * 0.0
    mine = positive[_owned(positive[:, 0], share)]
    a, p = torch.as_tensor(mine[:, 0]) - share.start, torch.as_tensor(mine[:, 1])
    similarity = model.score(local[a], emb[p].detach()).sum()
    grads = torch.autograd.grad(similarity, maps, retain_graph=True)[0][a]
    with torch.no_grad():
        cam = grad_cam(maps[a], grads).clamp(min=0).unsqueeze(1)
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        flat = cam.flatten(1)
        cutoff = torch.quantile(flat, 1.0 - options.attention_mask_fraction, dim=1).view(-1, 1, 1, 1)
        keep = (cam < cutoff) | (flat.amax(dim=1).view(-1, 1, 1, 1) <= 0)
    masked = model.embed(x[a] * keep)  # zero = the data mean after normalisation
    d_full = model.distance(local[a], emb[p]).detach()
    d_masked = model.distance(masked, emb[p].detach())
    return _mean_share(F.relu(d_full + 0.1 - d_masked), len(positive), group.world)


def lesion_constraint(model, maps, local, emb, pairs, lesion, share, world) -> torch.Tensor:
    """The share of the first map's evidence (Grad-CAM of each pair's score on its first image, both signs: the
    factual and the counterfactual map) that lies outside the lesion finder's mask, moved with the image by the
    augmentation (`lesion`, this rank's share).

    The map is taken with create_graph, so the penalty trains the features and the head together: the evidence
    for and against "similar" must come from the lesion, not from the skin beside it. Both signs, so that a map
    whose evidence lies wholly outside still has a gradient. Images whose mask is (nearly) empty or the whole view
    (the finder found nothing) are left out. Costs no extra forward pass."""
    mine = pairs[_owned(pairs[:, 0], share)]
    if len(mine) == 0:
        return emb.sum() * 0.0
    a, p = torch.as_tensor(mine[:, 0]) - share.start, torch.as_tensor(mine[:, 1])
    similarity = model.score(local[a], emb[p].detach()).sum()
    grads = torch.autograd.grad(similarity, maps, create_graph=True)[0][a]
    cam = grad_cam(maps[a], grads).abs()
    inside = F.adaptive_avg_pool2d(lesion[a.to(lesion.device)], (cam.shape[-2], cam.shape[-1]))[:, 0]
    area = inside.mean(dim=(1, 2))
    found = (area > 0.02) & (area < 0.9)
    if not bool(found.any()):
        return emb.sum() * 0.0
    outside = (cam * (1.0 - inside)).sum(dim=(1, 2)) / (cam.sum(dim=(1, 2)) + 1e-8)
    return _mean_share(outside[found], len(pairs), world)


def _owned(first, share: slice):
    return (first >= share.start) & (first < share.stop)


def _mean_share(values: torch.Tensor, total: int, world: int) -> torch.Tensor:
    # One process: the plain mean. Under torchrun: this rank's part of the mean over all `total` values, times the
    # world size, because DDP averages the ranks' gradients where the mean needs their sum.
    return values.mean() if world == 1 else values.sum() * (world / total)
