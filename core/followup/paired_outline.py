"""Lesion outlines of two registered visits drawn with one threshold, so that their areas can be compared.

The lesion finder (core.model.lesion) picks an Otsu threshold per image; two visits of the same lesion then get
different thresholds whenever anything else in the picture differs (exposure, the black border a registered
image has, a ruler), and the area change measures the thresholds as much as the lesion: on synthetic follow-ups
the per-image outlines were 25 % off in area in one pair out of ten. Here the follow-up, already on the baseline's
grid, is first matched to the baseline's brightness and colour on the area both cover, and one Otsu threshold is
chosen on the lesion finder's own feature (grey level and blue channel after Shades-of-Gray colour constancy)
of both visits together; each visit's outline is then the component that overlaps the lesion finder's lesion.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.model.lesion import find_lesion, shades_of_gray, vignette_mask

WORK_SIDE = 512  # px: outlines of larger images are drawn on a copy this long and scaled back
# A follow-up's outline must stand out from its skin at least this share as much as the baseline's does, else no
# lesion is found there ("no lesion found" is said, not skin texture measured as a lesion: the lesion finder
# finds a "lesion" in plain textured skin)
LESION_CONTRAST = 0.5


def paired_outlines(baseline: np.ndarray, aligned: np.ndarray, valid: np.ndarray) -> tuple:
    """(baseline outline, follow-up outline), bool arrays on the baseline's grid (None where no lesion is found).
    aligned: the follow-up registered onto the baseline; valid: where it has pixels."""
    height, width = baseline.shape[:2]
    factor = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) if factor < 1 else image
             for image in (baseline, aligned)]
    inside_f = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    inside = [~vignette_mask(small[0]), ~vignette_mask(small[1]) & inside_f]
    common = inside[0] & inside[1]
    if common.sum() < 100:
        return None, None
    gain = np.median(small[0][common].astype(np.float64), 0) / np.maximum(np.median(small[1][common], 0), 1.0)
    small[1] = np.clip(small[1] * gain, 0, 255).astype(np.uint8)
    features = [_feature(image, region) for image, region in zip(small, inside, strict=True)]
    values = np.concatenate([f[region] for f, region in zip(features, inside, strict=True)])
    threshold, _ = cv2.threshold(np.clip(values, 0, 255).astype(np.uint8).reshape(-1, 1), 0, 255,
                                 cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    seeds = [find_lesion(image) for image in small]
    outlines: list[np.ndarray | None] = []  # on the working copy's grid, like features: compared there
    for feature, region, seed in zip(features, inside, seeds, strict=True):
        if not seed.found:
            seed = seeds[0]  # the visits are registered: the baseline's lesion marks where to look
        mask = _outline(feature <= threshold, region, seed.mask if seed.found else None)
        if mask is not None and outlines and outlines[0] is not None and \
                _contrast(feature, region, mask) < LESION_CONTRAST * _contrast(features[0], inside[0], outlines[0]):
            mask = None  # where the baseline's lesion was, nothing stands out as much: no lesion found
        outlines.append(mask)
    first, second = (cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
                     if mask is not None and factor < 1 else mask for mask in outlines)
    return first, second


def _contrast(feature: np.ndarray, region: np.ndarray, mask: np.ndarray) -> float:
    """How much darker (in the feature) the outline is than the rest of the picture."""
    outside = region & ~mask
    return float(np.median(feature[outside]) - np.mean(feature[mask])) if outside.any() and mask.any() else 0.0


def _feature(rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The lesion finder's feature: darker and bluer-absorbing is lesion (low values)."""
    corrected = shades_of_gray(rgb, valid=region)
    grey = cv2.cvtColor(corrected, cv2.COLOR_RGB2GRAY).astype(np.float32)
    feature = 0.5 * grey + 0.5 * corrected[..., 2].astype(np.float32)
    sigma = max(1.0, 0.02 * max(rgb.shape[:2]))
    return cv2.GaussianBlur(feature, (0, 0), sigma)


def _outline(dark: np.ndarray, region: np.ndarray, seed: np.ndarray | None) -> np.ndarray | None:
    """The dark component overlapping `seed` most, opened, closed and with its holes filled."""
    if seed is None:
        return None
    h = dark.shape[0]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(3, h // 40 * 2 + 1),) * 2)
    binary = cv2.morphologyEx((dark & region).astype(np.uint8), cv2.MORPH_OPEN, kernel)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    count, labels = cv2.connectedComponents(binary, connectivity=8)
    if count < 2:
        return None
    overlap = np.bincount(labels[seed], minlength=count)[1:]
    if overlap.max() == 0:
        return None
    chosen = (labels == 1 + int(np.argmax(overlap))).astype(np.uint8)
    contours, _ = cv2.findContours(chosen, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(chosen)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)
