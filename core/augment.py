"""Batched, vectorised training augmentation: one grid_sample for crop+rotation+flips, then colour jitter.

Per-sample PIL transforms would cost more than the model on 2 cores; this runs on whole uint8 batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("hflip", "vflip", "rotate", "crop", "jitter")


@dataclass
class AugmentSpec:
    hflip: bool = True
    vflip: bool = True
    rotate_degrees: float = 20.0  # 0 disables rotation
    crop_scale: tuple[float, float] = (0.6, 1.0)  # area fraction kept by random resized crops; (1, 1) disables
    jitter: float = 0.2  # brightness / contrast / saturation strength; 0 disables

    @classmethod
    def parse(cls, text: str) -> "AugmentSpec":
        """From a comma list such as 'hflip,rotate,crop,jitter' ('none' for no augmentation)."""
        chosen = {t.strip() for t in text.split(",") if t.strip()} - {"none"}
        unknown = chosen - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {', '.join(sorted(unknown))}; choose from {', '.join(AUGMENTATIONS)}")
        return cls(
            hflip="hflip" in chosen,
            vflip="vflip" in chosen,
            rotate_degrees=20.0 if "rotate" in chosen else 0.0,
            crop_scale=(0.6, 1.0) if "crop" in chosen else (1.0, 1.0),
            jitter=0.2 if "jitter" in chosen else 0.0,
        )


def augment_batch(images: torch.Tensor, size: int, spec: AugmentSpec | None, generator: torch.Generator) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float (N, 3, size, size) in [0, 1], randomly transformed per sample."""
    x = images.float() / 255.0
    n = x.shape[0]
    if spec is None:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)

    def uniform(low, high):
        return low + (high - low) * torch.rand(n, generator=generator)

    area = uniform(*spec.crop_scale)
    log_ratio = uniform(math.log(3 / 4), math.log(4 / 3)) if spec.crop_scale != (1.0, 1.0) else torch.zeros(n)
    ratio = torch.exp(log_ratio)
    sx = torch.sqrt(area * ratio).clamp(max=1.0)
    sy = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (1 - sx) * uniform(-1.0, 1.0)
    ty = (1 - sy) * uniform(-1.0, 1.0)
    angle = uniform(-spec.rotate_degrees, spec.rotate_degrees) * math.pi / 180.0
    fx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if spec.hflip else torch.ones(n)
    fy = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if spec.vflip else torch.ones(n)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([sx * cos * fx, -sy * sin, tx], dim=1),
            torch.stack([sx * sin, sy * cos * fy, ty], dim=1),
        ],
        dim=1,
    )
    # Downscale first so grid_sample does not alias when the cache is larger than the input.
    if x.shape[-1] > size * 1.5:
        x = F.interpolate(x, scale_factor=size * 1.25 / x.shape[-1], mode="bilinear", antialias=True)
    grid = F.affine_grid(theta, (n, 3, size, size), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if spec.jitter > 0:
        out = _colour_jitter(out, spec.jitter, uniform)
    return out.clamp_(0.0, 1.0)


def _colour_jitter(x: torch.Tensor, strength: float, uniform) -> torch.Tensor:
    shape = (-1, 1, 1, 1)
    brightness = uniform(1 - strength, 1 + strength).view(shape)
    contrast = uniform(1 - strength, 1 + strength).view(shape)
    saturation = uniform(1 - strength, 1 + strength).view(shape)
    x = x * brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    return (x - gray) * saturation + gray
