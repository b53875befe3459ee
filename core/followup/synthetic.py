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
    matrix: np.ndarray  # 3x3 float64 homography, follow-up pixel -> baseline pixel (the part registration finds)
    area_ratio: float  # the lesion outline's area after growth / before, in baseline pixels
    rotation_deg: float
    shift: tuple[float, float]
    brightness: float  # multiplicative change, e.g. 0.05 = 5 % brighter
    growth: float  # requested area growth, e.g. 0.3 = 30 %
    scale: float = 1.0  # magnification of the follow-up (baseline -> follow-up)
    tilt_deg: tuple[float, float] = (0.0, 0.0)  # out-of-plane tilt about x and y
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # gain per RGB channel
    blur_px: float = 0.0  # Gaussian sigma


def grow(rgb: np.ndarray, mask: np.ndarray, growth: float, reach: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) with the lesion's area grown by about `growth` (0.2 = +20 %) around the mask's centroid.

    Backward map: a pixel at distance rho from the centre samples the original at rho / s(rho), where s is the
    linear scale sqrt(1 + growth) up to the grown lesion radius and falls smoothly to 1 at WARP_REACH radii."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    radius = max(2.0, float(np.sqrt(mask.sum() / np.pi)))
    k = float(np.sqrt(1.0 + growth))
    inner, outer = radius * k, radius * (WARP_REACH if reach is None else max(reach, k + 0.05))
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


# The variation between two real visits (dermoscope put down again, another day's light, another device):
# magnification +-10 %, any rotation, a few degrees of tilt, the dark corners of the dermoscope's field, exposure and
# white balance +-10 %, slight defocus. benchmarks/bench_followup.py --variation realistic uses it.
# The lesion spreads into skin that stays where it is: the growth warp reaches 1.5 lesion radii, not WARP_REACH
# (a warp reaching 2.5 radii stretches all the skin of a large lesion's picture, which then reads as magnification).
REALISTIC = {"warp_reach": 1.5, "max_rotation": 180.0, "max_scale": 0.10, "max_tilt": 4.0, "vignette": True,
             "max_brightness": 0.10, "max_white_balance": 0.10, "max_blur": 1.2}


def make_followup(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator, max_rotation: float = 25.0,
                  max_shift: float = 12.0, max_brightness: float = 0.10, max_growth: float = 0.40,
                  noise: float = 2.0, max_scale: float = 0.0, max_tilt: float = 0.0, vignette: bool = False,
                  max_white_balance: float = 0.0, max_blur: float = 0.0,
                  growth: float | None = None, warp_reach: float | None = None) -> SyntheticFollowUp:
    """A follow-up of `rgb` (uint8 RGB) whose lesion is `mask`: the lesion grown (by `growth`, default drawn up to
    max_growth), then the picture rotated, shifted, magnified (1 +- max_scale), tilted (up to max_tilt degrees out of
    plane), given the dermoscope's dark corners (`vignette`), another exposure and white balance, blur and noise."""
    rotation = float(rng.uniform(-max_rotation, max_rotation))
    shift = (float(rng.uniform(-max_shift, max_shift)), float(rng.uniform(-max_shift, max_shift)))
    brightness = float(rng.uniform(-max_brightness, max_brightness))
    growth = float(rng.uniform(0.0, max_growth)) if growth is None else float(growth)
    scale = float(rng.uniform(1.0 - max_scale, 1.0 + max_scale))
    tilt = (float(rng.uniform(-max_tilt, max_tilt)), float(rng.uniform(-max_tilt, max_tilt)))
    balance = rng.uniform(1.0 - max_white_balance, 1.0 + max_white_balance, 3)
    blur = float(rng.uniform(0.0, max_blur))
    grown, grown_mask = grow(rgb, mask, growth, warp_reach)
    h, w = mask.shape
    forward = np.vstack([cv2.getRotationMatrix2D((w / 2.0, h / 2.0), rotation, scale), [0, 0, 1]])
    forward[:2, 2] += shift
    forward = forward @ _tilt(tilt, (w, h))  # baseline -> follow-up
    # what the baseline did not show is unknown: black, like the world beyond a dermoscope's field (a mirrored
    # border would put a second, mirrored lesion in the picture)
    border = cv2.BORDER_CONSTANT if vignette else cv2.BORDER_REFLECT_101
    moved = cv2.warpPerspective(grown, forward, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
    if blur > 0.05:
        moved = cv2.GaussianBlur(moved, (0, 0), blur)
    light = (1.0 + brightness) * balance[None, None, :] * (_dark_corners(rng, (h, w))[..., None] if vignette else 1.0)
    noisy = moved.astype(np.float32) * light + rng.normal(0.0, noise, moved.shape)
    followup = np.clip(noisy, 0, 255).astype(np.uint8)
    return SyntheticFollowUp(followup=followup, matrix=np.linalg.inv(forward),
                             area_ratio=float(grown_mask.sum()) / max(1.0, float(mask.sum())),
                             rotation_deg=rotation, shift=shift, brightness=brightness, growth=growth, scale=scale,
                             tilt_deg=tilt, white_balance=(float(balance[0]), float(balance[1]), float(balance[2])),
                             blur_px=blur)


def _tilt(angles_deg: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """Homography of a camera tilted by (about x, about y) degrees over the image centre, focal length twice the
    image side (a dermoscope sees a small field from close by)."""
    w, h = size
    f = 2.0 * max(w, h)
    camera = np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1.0]])
    ax, ay = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    return camera @ rx @ ry @ np.linalg.inv(camera)


def _dark_corners(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Light falloff of a dermoscope's round field: 1 inside a radius drawn between 0.8 and 1.05 half-diagonals,
    falling smoothly to almost black within 0.12 half-diagonals beyond it, centred a little off the image centre."""
    h, w = shape
    cy, cx = h / 2.0 + rng.uniform(-0.04, 0.04) * h, w / 2.0 + rng.uniform(-0.04, 0.04) * w
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(gx - cx, gy - cy) / (0.5 * np.hypot(h, w))
    t = np.clip((r - rng.uniform(0.8, 1.05)) / 0.12, 0.0, 1.0)
    return (1.0 - 0.95 * t * t * (3.0 - 2.0 * t)).astype(np.float32)


def skin_ring(mask: np.ndarray, width: int = 30) -> np.ndarray:
    """The skin around a lesion: pixels within `width` px of the mask's outline, outside it (where a follow-up's
    registration error is measured)."""
    outside = (~mask).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 3)
    return (distance > 0) & (distance <= width)


def point_error(estimated: np.ndarray, true: np.ndarray, region: np.ndarray) -> float:
    """Median distance (px) between where `estimated` and `true` (2x3 or 3x3, follow-up -> baseline) send the follow-up
    pixels that the true transform brings onto `region` (a baseline mask)."""
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return float("nan")
    points = np.stack([xs, ys, np.ones_like(xs)], axis=0).astype(np.float64)
    inverse = np.linalg.inv(_square(true))  # baseline -> follow-up
    followup_points = inverse @ points
    followup_points = followup_points / followup_points[2]
    mapped = _square(estimated) @ followup_points
    mapped = mapped[:2] / mapped[2]
    return float(np.median(np.hypot(mapped[0] - xs, mapped[1] - ys)))


def _square(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, np.float64)
    return matrix if matrix.shape == (3, 3) else np.vstack([matrix, [0, 0, 1]])
