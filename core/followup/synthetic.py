"""Synthetic follow-ups of a dermoscopy image with a known answer, for the follow-up tests and benchmark.

A real sequential-dermoscopy pair has no ground truth for the registration or the growth; a synthetic one does.
From a baseline image: the lesion grows by a chosen area factor through a smooth radial warp around its centre
(the lesion scaled, the skin beyond about 2.5 lesion radii untouched), then the whole picture is rotated and
shifted (the dermoscope placed again) and its brightness changed (another exposure). The transform mapping
follow-up pixels back to baseline pixels and the true area ratio of the warped lesion outline are returned.
No trained parts are involved, so any skin image may serve as a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# How far out the growth warp reaches, in lesion radii: beyond it the skin is only moved rigidly.
WARP_REACH = 2.5


@dataclass(frozen=True)
class SyntheticFollowUp:
    followup: np.ndarray  # uint8 (H, W, 3)
    matrix: np.ndarray  # 2x3 float64, follow-up pixel -> baseline pixel (the rigid part: what registration finds)
    area_ratio: float  # the lesion outline's area after growth / before, in baseline pixels
    rotation_deg: float
    shift: tuple[float, float]
    brightness: float  # multiplicative change, e.g. 0.05 = 5 % brighter
    growth: float  # requested area growth, e.g. 0.3 = 30 %


def grow(rgb: np.ndarray, mask: np.ndarray, growth: float) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) with the lesion's area grown by about `growth` (0.2 = +20 %) around the mask's centroid.

    Backward map: a pixel at distance rho from the centre samples the original at rho / s(rho), where s is the
    linear scale sqrt(1 + growth) up to the grown lesion radius and falls smoothly to 1 at WARP_REACH radii."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    radius = max(2.0, float(np.sqrt(mask.sum() / np.pi)))
    k = float(np.sqrt(1.0 + growth))
    inner, outer = radius * k, radius * WARP_REACH
    h, w = mask.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = gx - cx, gy - cy
    rho = np.sqrt(dx * dx + dy * dy)
    t = np.clip((rho - inner) / max(outer - inner, 1e-6), 0.0, 1.0)
    weight = 1.0 - t * t * (3.0 - 2.0 * t)  # smoothstep: 1 inside the grown lesion, 0 beyond the reach
    scale = 1.0 + (k - 1.0) * weight
    map_x = (cx + dx / scale).astype(np.float32)
    map_y = (cy + dy / scale).astype(np.float32)
    grown = cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    grown_mask = cv2.remap(mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR) >= 0.5
    return grown, grown_mask


def make_followup(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator, max_rotation: float = 25.0,
                  max_shift: float = 12.0, max_brightness: float = 0.10, max_growth: float = 0.40,
                  noise: float = 2.0) -> SyntheticFollowUp:
    """A follow-up of `rgb` (uint8 RGB) whose lesion is `mask`, with random rotation, shift, brightness, growth."""
    rotation = float(rng.uniform(-max_rotation, max_rotation))
    shift = (float(rng.uniform(-max_shift, max_shift)), float(rng.uniform(-max_shift, max_shift)))
    brightness = float(rng.uniform(-max_brightness, max_brightness))
    growth = float(rng.uniform(0.0, max_growth))
    grown, grown_mask = grow(rgb, mask, growth)
    h, w = mask.shape
    forward: np.ndarray = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), rotation, 1.0)  # baseline -> follow-up
    forward[:, 2] += shift
    moved = cv2.warpAffine(grown, forward, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    noisy = moved.astype(np.float32) * (1.0 + brightness) + rng.normal(0.0, noise, moved.shape)
    followup = np.clip(noisy, 0, 255).astype(np.uint8)
    return SyntheticFollowUp(followup=followup, matrix=cv2.invertAffineTransform(forward),
                             area_ratio=float(grown_mask.sum()) / max(1.0, float(mask.sum())),
                             rotation_deg=rotation, shift=shift, brightness=brightness, growth=growth)


def skin_ring(mask: np.ndarray, width: int = 30) -> np.ndarray:
    """The skin around a lesion: pixels within `width` px of the mask's outline, outside it (where a follow-up's
    registration error is measured)."""
    outside = (~mask).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 3)
    return (distance > 0) & (distance <= width)


def point_error(estimated: np.ndarray, true: np.ndarray, region: np.ndarray) -> float:
    """Median distance (px) between where `estimated` and `true` (2x3, follow-up -> baseline) send the follow-up
    pixels that the true transform brings onto `region` (a baseline mask)."""
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return float("nan")
    points = np.stack([xs, ys, np.ones_like(xs)], axis=0).astype(np.float64)
    inverse = np.vstack([cv2.invertAffineTransform(true), [0, 0, 1]])  # baseline -> follow-up
    followup_points = inverse @ points
    mapped = estimated @ followup_points
    return float(np.median(np.hypot(mapped[0] - xs, mapped[1] - ys)))
