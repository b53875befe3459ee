"""The explanation recipe of Livieris et al.'s public code, as the baseline to compare against.

Two forward passes of the pair, each followed by a full backward pass through the whole network (parameters
and input requiring gradients, as in their training-mode model): Grad-CAM of d for the "factual" map and of
1 - d for the "counterfactual" one. Unlike their code, each image uses its own gradients and d is not clipped,
so the output can be compared with core.explain.pair's `reference` method number for number.
"""

from __future__ import annotations

import numpy as np
import torch


def paper_recipe_cams(model, batch_pair: torch.Tensor) -> dict[str, np.ndarray]:
    """Signed (2, h, w) Grad-CAMs of d ('factual') and 1 - d ('counterfactual'), each from its own passes."""
    captured = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["maps"] = output

    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(True)
    handle = model.target_layer.register_forward_hook(keep)
    try:
        cams = {}
        for name, target in (("factual", lambda d: d), ("counterfactual", lambda d: 1.0 - d)):
            model.zero_grad(set_to_none=True)
            x = batch_pair.clone().requires_grad_(True)
            embeddings = model.embed(x)
            distance = model.distance(embeddings[0:1], embeddings[1:2])[0]
            target(distance).backward()
            maps, grads = captured["maps"], captured["maps"].grad
            cams[name] = (grads.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1).detach().numpy()
        return cams
    finally:
        model.zero_grad(set_to_none=True)
        handle.remove()
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
