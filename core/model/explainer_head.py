"""The amortised explainer: a small head, stored in a model's weights file, that predicts the model's own coalition
map (core.explain.integrated.coalitions, 16 more pair passes) from what the first pass of the pair already holds
(Jethani et al. 2022's FastSHAP idea; chosen and measured in docs/explanations.md, issue 35).

Inputs, all from explain_pair's one pass: the target layer's activations A and the oriented gradient G of the score
w.r.t. them, Grad-CAM's signed map of them, and an early stage's activations (EARLY_STAGE: layer2 of a ResNet,
16 x 16 cells at 128 px), captured by a forward hook in the same pass. Output: one signed value per cell of the early
stage's grid, per image, on the scale of each image's largest |cell|. The head learns a correction of Grad-CAM's
map (its output is added to it), so an untrained or tiny head starts from Grad-CAM's ranking.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.model import moments

EARLY_STAGE = 5  # index of layer2 in a ResNet trunk (conv1, bn1, relu, maxpool, layer1, layer2, ...)


def early_channels(trunk: nn.Sequential) -> int:
    """The channel count of a ResNet trunk's EARLY_STAGE (its last block's last batch norm)."""
    norms = [m for m in trunk[EARLY_STAGE].modules() if isinstance(m, nn.BatchNorm2d)]
    return int(norms[-1].num_features)


class ExplainerHead(nn.Module):
    """(A, G, early activations, Grad-CAM map) of N images -> (N, H, W) predicted cells, H x W the early grid."""

    scale: torch.Tensor
    early_scale: torch.Tensor

    def __init__(self, channels: int, early: int, width: int):
        super().__init__()
        # Per-channel means of A and of the early activations on the training pairs: inputs on a log scale of them.
        self.register_buffer("scale", torch.ones(1, channels, 1, 1))
        self.register_buffer("early_scale", torch.ones(1, early, 1, 1))
        self.target = nn.Sequential(nn.Conv2d(2 * channels, width, 1), nn.ReLU(),
                                    nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.early = nn.Sequential(nn.Conv2d(early, width, 1), nn.ReLU())
        self.out = nn.Sequential(nn.Conv2d(2 * width + 1, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, activations: torch.Tensor, grads: torch.Tensor, early: torch.Tensor,
                cam: torch.Tensor) -> torch.Tensor:
        a, g = activations.float(), grads.float()
        product = a * g  # gradient x activation, per image on its own scale (the targets are per image too)
        product = product / (moments.std(product.flatten(1), 1).view(-1, 1, 1, 1) + 1e-12)
        cam = cam.float()[:, None]
        cam = cam / (cam.flatten(1).abs().amax(dim=1).view(-1, 1, 1, 1) + 1e-12)
        grid = early.shape[-2:]
        t = self.target(torch.cat([product, torch.log1p(a.clamp(min=0) / self.scale)], dim=1))
        t = F.interpolate(t, size=grid, mode="bilinear", align_corners=False)
        cam = F.interpolate(cam, size=grid, mode="bilinear", align_corners=False)
        e = self.early(torch.log1p(early.float().clamp(min=0) / self.early_scale))
        return self.out(torch.cat([t, e, cam], dim=1))[:, 0] + cam[:, 0]
