"""Lesion finder for dermoscopy images: colour constancy, dermoscope vignette removal, Otsu segmentation.

Skin-lesion networks happily learn shortcuts (dark dermoscope corners, rulers, acquisition colour casts;
Bissoto et al. 2019, Pewton and Yap 2023). Finding the lesion lets the skin model look at it alone (the
automatic crop of Livieris et al.'s bounding-box preprocessing) and lets evaluation measure whether the maps
sit on it. OpenCV only: blur + Otsu on a colour-corrected image is robust enough for a bounding box.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from core.vocabulary import MIN_CROP_SIDE

# Shades of Gray (Finlayson and Trezzi 2004; Barata et al. 2015 for dermoscopy): the Minkowski p-norm
# estimate of the illuminant, p = 6 being the value Barata et al. found best for dermoscopy.
SHADES_OF_GRAY_P = 6
# The finder works on a small copy: a box needs no more detail, and it keeps training caches fast to build.
WORK_SIZE = 192
# Pixels darker than this (0..255 luminance) and connected to the border are the dermoscope's vignette.
VIGNETTE_LEVEL = 40
MIN_LESION_FRACTION = 0.01


@dataclass(frozen=True)
class Lesion:
    """mask: bool (H, W) at the image's resolution; box: (x, y, w, h) of the mask; found: False = fallback."""

    mask: np.ndarray
    box: tuple[int, int, int, int]
    found: bool

    @property
    def share(self) -> float:
        return float(self.mask.mean())


def shades_of_gray(rgb: np.ndarray, p: int = SHADES_OF_GRAY_P, valid: np.ndarray | None = None) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 colour-corrected image (illuminant estimated on `valid` pixels, default all)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3:
        return _shades_of_gray_float(rgb, p, valid)
    # A uint8 image has 256 levels: its powers and its corrected values are tables of the same float32 operations
    # (bit-identical to computing them per pixel, tests/test_lesion.py), at half the cost of the lesion finder's
    # colour step. Pixels left out of the estimate add 0.0 to the sum, which changes no float sum.
    flat = rgb.reshape(-1, 3)
    raised = np.take(_powers(p), flat)
    count = len(flat)
    if valid is not None and valid.any():
        keep = valid.reshape(-1)
        count = int(np.count_nonzero(keep))
        raised[~keep] = 0.0
    illuminant = np.power(np.add.reduce(raised, axis=0) / np.float32(count), 1.0 / p)
    gain = _gain(illuminant)
    table = np.clip(_LEVELS * gain, 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(rgb), table.reshape(256, 1, 3))


def _shades_of_gray_float(rgb: np.ndarray, p: int, valid: np.ndarray | None) -> np.ndarray:
    arr = rgb.astype(np.float32)
    pixels = arr[valid] if valid is not None and valid.any() else arr.reshape(-1, 3)
    illuminant = np.power(np.mean(np.power(pixels, p), axis=0), 1.0 / p)
    return np.clip(arr * _gain(illuminant), 0, 255).astype(np.uint8)


def _gain(illuminant: np.ndarray) -> np.ndarray:
    illuminant = np.maximum(illuminant, 1e-3)
    return illuminant.mean() / illuminant


_LEVELS = np.arange(256, dtype=np.float32)[:, None]


@functools.lru_cache(maxsize=4)
def _powers(p: int) -> np.ndarray:
    return np.power(np.arange(256, dtype=np.float32), p)


def vignette_mask(rgb: np.ndarray) -> np.ndarray:
    """True where a dark region touches the image border (dermoscope corners, black bands)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    dark = (gray < VIGNETTE_LEVEL).astype(np.uint8)
    count, labels = cv2.connectedComponents(dark, connectivity=8)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    return np.isin(labels, border) if len(border) else np.zeros(gray.shape, bool)


def find_lesion(rgb: np.ndarray) -> Lesion:
    """Segment the lesion of a uint8 RGB dermoscopy image: the dark component nearest the centre.

    Falls back to the whole image (found=False) when nothing lesion-like stands out, so callers never crop
    to noise.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIZE / max(height, width))
    small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else rgb
    h, w = small.shape[:2]
    vignette = vignette_mask(small)
    corrected = shades_of_gray(small, valid=~vignette)
    # Lesions are darker and more saturated than skin: the blue channel and the luminance both separate them.
    gray = cv2.cvtColor(corrected, cv2.COLOR_RGB2GRAY).astype(np.float32)
    feature = 0.5 * gray + 0.5 * corrected[..., 2].astype(np.float32)
    sigma = max(1.0, 0.02 * max(h, w))
    feature = cv2.GaussianBlur(feature, (0, 0), sigma)
    inside = ~vignette
    if inside.sum() < 16:
        return _fallback(height, width)
    values = np.clip(feature[inside], 0, 255).astype(np.uint8).reshape(-1, 1)
    threshold, _ = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    lesion = (feature <= threshold) & inside
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, h // 40 * 2 + 1),) * 2)
    lesion = cv2.morphologyEx(lesion.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    lesion = cv2.morphologyEx(lesion, cv2.MORPH_CLOSE, kernel)
    chosen = _central_component(lesion, h, w)
    if chosen is None:
        return _fallback(height, width)
    chosen = _fill_holes(chosen)
    mask = cv2.resize(chosen.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool) \
        if scale < 1.0 else chosen.astype(bool)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return _fallback(height, width)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return Lesion(mask=mask, box=box, found=True)


def crop_box(lesion: Lesion, size: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    """A square box around the lesion, grown by `margin` of its longer side on every edge, kept inside the
    image (a square keeps the lesion's shape when the model resizes its input to a square), and at least
    MIN_CROP_SIDE a side where the image has it: a crop any smaller is refused (core.io.images.crop_problem)."""
    width, height = size
    x, y, w, h = lesion.box
    side = max(int(round(max(w, h) * (1.0 + 2.0 * margin))), MIN_CROP_SIDE)
    side_w, side_h = min(side, width), min(side, height)
    cx, cy = x + w / 2.0, y + h / 2.0
    left = int(round(min(max(cx - side_w / 2.0, 0), width - side_w)))
    top = int(round(min(max(cy - side_h / 2.0, 0), height - side_h)))
    return (left, top, side_w, side_h)


def _central_component(binary: np.ndarray, h: int, w: int) -> np.ndarray | None:
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    best, best_score = None, -1.0
    diagonal = float(np.hypot(h, w))
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    for index in range(1, count):
        area = stats[index, cv2.CC_STAT_AREA]
        if area < MIN_LESION_FRACTION * h * w:
            continue
        cx, cy = centroids[index]
        distance = np.hypot(cx - w / 2.0, cy - h / 2.0) / diagonal
        # Near the centre wins over large: a dermatologist centres the lesion, artefacts sit at the edges.
        score = area * np.exp(-((distance / 0.25) ** 2))
        # A component that runs along the border is a vignette ring or a shadow, not the lesion.
        score *= max(0.02, 1.0 - 3.0 * float(np.mean(border == index)))
        if score > best_score:
            best, best_score = index, score
    return None if best is None else labels == best


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def _fallback(height: int, width: int) -> Lesion:
    return Lesion(mask=np.ones((height, width), bool), box=(0, 0, width, height), found=False)
