"""How a perturbation hides a region of an image: under a strongly blurred copy of it, so that no artificial
edge or colour appears (the faithfulness curves, core.explain.faithfulness, and occlusion, core.explain.occlusion,
hide regions the same way). A chunked run stops with core.errors.Stopped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLUR_SIGMA = 0.08  # of the input side: a strong blur that keeps the coarse colour layout


def blur(batch: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=batch.dtype, device=batch.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum())
    channels = batch.shape[1]
    padded = F.pad(batch, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
