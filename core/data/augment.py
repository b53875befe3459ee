"""Batched, vectorised training augmentation: one grid_sample for crop+rotation+flips, then colour jitter.

Per-sample PIL transforms would cost more than the model on 2 cores; this runs on whole uint8 batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.errors import InputError

AUGMENTATIONS = ("hflip", "vflip", "rotate", "crop", "jitter", "artefacts", "bgswap")


@dataclass
class AugmentSpec:
    hflip: bool = True
    vflip: bool = True
    rotate_degrees: float = 20.0  # 0 disables rotation
    crop_scale: tuple[float, float] = (0.6, 1.0)  # area fraction kept by random resized crops; (1, 1) disables
    jitter: float = 0.2  # brightness / contrast / saturation strength; 0 disables
    # Dermoscopy shortcuts made useless by putting them on random images of either class (Pewton and Yap 2023):
    # dark vignette corners, hair lines and black border bands, each on this fraction of the images.
    artefacts: float = 0.0
    # On this fraction of the images, the background outside the lesion mask is taken from another image of
    # the batch, so the background carries no label; needs the mask channel of the cache.
    bgswap: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "AugmentSpec":
        """From a comma list such as 'hflip,rotate,crop,jitter' ('none' for no augmentation)."""
        chosen = {t.strip() for t in text.split(",") if t.strip()} - {"none"}
        unknown = chosen - set(AUGMENTATIONS)
        if unknown:
            raise InputError(f"unknown augmentation(s) {', '.join(sorted(unknown))}; "
                             f"choose from {', '.join(AUGMENTATIONS)}")
        return cls(
            hflip="hflip" in chosen,
            vflip="vflip" in chosen,
            rotate_degrees=20.0 if "rotate" in chosen else 0.0,
            crop_scale=(0.6, 1.0) if "crop" in chosen else (1.0, 1.0),
            jitter=0.2 if "jitter" in chosen else 0.0,
            artefacts=0.3 if "artefacts" in chosen else 0.0,
            bgswap=0.5 if "bgswap" in chosen else 0.0,
        )

    @property
    def needs_mask(self) -> bool:
        return self.bgswap > 0


def augment_batch(images: torch.Tensor, size: int, spec: AugmentSpec | None,
                  generator: torch.Generator) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, 3, size, size) in [0, 1], randomly transformed per sample.

    A fourth channel, if present, is the lesion mask: it is transformed with the image, used by bgswap, and
    dropped from the result (augment_with_mask keeps it).
    """
    return augment_with_mask(images, size, spec, generator)[0]


def augment_with_mask(images: torch.Tensor, size: int, spec: AugmentSpec | None,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """augment_batch, and the lesion mask channel (N, 1, size, size) in [0, 1] moved with the image (None without
    one): the lesion constraint of training needs to know where the lesion went."""
    x = images.float() / 255.0
    n = x.shape[0]
    if spec is None:
        out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return out[:, :3], (out[:, 3:4] if out.shape[1] > 3 else None)

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
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    out, mask = out[:, :3], (out[:, 3:4] if out.shape[1] > 3 else None)
    if spec.bgswap > 0 and mask is not None and n > 1:
        out = _swap_backgrounds(out, mask, spec.bgswap, generator)
    if spec.artefacts > 0:
        out = _dermoscopy_artefacts(out, spec.artefacts, generator)
    if spec.jitter > 0:
        out = _colour_jitter(out, spec.jitter, uniform)
    return out.clamp_(0.0, 1.0), mask


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


def _swap_backgrounds(x: torch.Tensor, mask: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    chosen = (torch.rand(n, generator=generator) < fraction).view(-1, 1, 1, 1)
    donor = torch.roll(torch.randperm(n, generator=generator), 1)  # never an image's own background
    # A soft, slightly grown mask keeps the lesion's rim and hides the seam.
    soft = F.max_pool2d(mask, 5, stride=1, padding=2)
    soft = F.avg_pool2d(soft, 5, stride=1, padding=2)
    # Only the donor's own background is borrowed, never pieces of its lesion.
    donor_soft = soft[donor]
    swapped = soft * x + (1 - soft) * ((1 - donor_soft) * x[donor] + donor_soft * x)
    return torch.where(chosen, swapped, x)


def _dermoscopy_artefacts(x: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape

    def rand(*shape):
        return torch.rand(*shape, generator=generator)

    ys = torch.linspace(-1, 1, h).view(1, h, 1)
    xs = torch.linspace(-1, 1, w).view(1, 1, w)
    darkness = torch.zeros(n, h, w)
    # Vignette: everything beyond a random radius goes dark, as outside a dermoscope's circular field.
    radius = (1.0 + 0.35 * rand(n)).view(-1, 1, 1)
    centre_x, centre_y = ((rand(n) - 0.5) * 0.3).view(-1, 1, 1), ((rand(n) - 0.5) * 0.3).view(-1, 1, 1)
    r = torch.sqrt((xs - centre_x) ** 2 + (ys - centre_y) ** 2)
    vignette = torch.clamp((r - radius) / 0.08, 0, 1) * (rand(n) < fraction).view(-1, 1, 1)
    darkness = torch.maximum(darkness, vignette)
    # Hairs: up to four thin dark lines at random positions and angles.
    for _ in range(4):
        angle = (rand(n) * math.pi).view(-1, 1, 1)
        px, py = (rand(n) * 2 - 1).view(-1, 1, 1), (rand(n) * 2 - 1).view(-1, 1, 1)
        width = (0.008 + 0.012 * rand(n)).view(-1, 1, 1)
        distance = ((xs - px) * torch.sin(angle) - (ys - py) * torch.cos(angle)).abs()
        hair = torch.clamp(1 - distance / width, 0, 1) * 0.85 * (rand(n) < fraction * 0.5).view(-1, 1, 1)
        darkness = torch.maximum(darkness, hair)
    # Black band along one edge, as left by a misplaced dermoscope or a scanner.
    band = (0.03 + 0.07 * rand(n)).view(-1, 1, 1)
    edge = torch.randint(0, 4, (n,), generator=generator).view(-1, 1, 1)
    distance_to_edge = torch.where(edge == 0, 1 + xs,
                                   torch.where(edge == 1, 1 - xs, torch.where(edge == 2, 1 + ys, 1 - ys))) / 2
    bands = (distance_to_edge < band).float() * (rand(n) < fraction * 0.5).view(-1, 1, 1)
    darkness = torch.maximum(darkness, bands)
    shade = torch.tensor([0.08, 0.05, 0.04]).view(1, 3, 1, 1) * rand(n).view(-1, 1, 1, 1)
    d = darkness.unsqueeze(1)
    return x * (1 - d) + shade * d
