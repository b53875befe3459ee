"""Lesion outlines of registered visits drawn with one threshold, the baseline's, so that their areas can be compared.

The lesion finder (core.model.lesion) picks an Otsu threshold per image; two visits of the same lesion then get
different thresholds whenever anything else in the picture differs (exposure, the black border a registered
image has, a ruler), and the area change measures the thresholds as much as the lesion: on synthetic follow-ups
the per-image outlines were 25 % off in area in one pair out of ten. Here the follow-up, already on the baseline's
grid, is first matched to the baseline's brightness and colour on the area both cover, and the baseline's Otsu
threshold on the lesion finder's own feature (grey level and blue channel after Shades-of-Gray colour constancy)
outlines both; each visit's outline is the component that overlaps the lesion finder's lesion.

The threshold is the baseline's alone, chosen once: the baseline's outline then depends on the baseline only, so
every visit of a lesion's history is measured against one baseline outline (core.followup.history), a pair gives
the figures the history gives for it, and a later visit added to a history changes none of the earlier figures.
(Formerly one Otsu threshold over both visits of each pair: the baseline's outline moved with whichever visit it
was paired with, and a history's ratios were each against another baseline area.)
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
    aligned: the follow-up registered onto the baseline; valid: where it has pixels. The baseline's outline is
    baseline_outline(baseline), whatever the follow-up."""
    base = _Baseline(baseline)
    small = base.working(aligned)
    inside = ~vignette_mask(small) & base.working(valid.astype(np.uint8), cv2.INTER_NEAREST).astype(bool)
    common = base.inside & inside
    if common.sum() < 100:
        return base.outline_full(), None
    gain = np.median(base.small[common].astype(np.float64), 0) / np.maximum(np.median(small[common], 0), 1.0)
    small = np.clip(small * gain, 0, 255).astype(np.uint8)
    feature = _feature(small, inside)
    seed = find_lesion(small)
    seed_mask = seed.mask if seed.found else base.seed  # registered: the baseline's lesion marks where to look
    mask = _outline(feature <= base.threshold, inside, seed_mask)
    if mask is not None and base.outline is not None and \
            _contrast(feature, inside, mask) < LESION_CONTRAST * _contrast(base.feature, base.inside, base.outline):
        mask = None  # where the baseline's lesion was, nothing stands out as much: no lesion found
    return base.outline_full(), base.full(mask)


def baseline_outline(baseline: np.ndarray) -> np.ndarray | None:
    """The baseline's outline (bool array, None when no lesion is found): the one every follow-up of it is
    measured against, registered or not."""
    return _Baseline(baseline).outline_full()


class _Baseline:
    """The baseline on the working copy's grid: its feature, the part the dermoscope lit, its Otsu threshold (the
    one every visit is outlined with), the lesion finder's lesion and its outline."""

    def __init__(self, baseline: np.ndarray):
        height, width = baseline.shape[:2]
        self.factor = min(1.0, WORK_SIDE / max(height, width))
        self.size = (max(1, round(width * self.factor)), max(1, round(height * self.factor)))
        self.shape = (height, width)
        self.small = self.working(baseline)
        self.inside = ~vignette_mask(self.small)
        self.feature = _feature(self.small, self.inside)
        values = np.clip(self.feature[self.inside], 0, 255).astype(np.uint8).reshape(-1, 1)
        self.threshold = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0] \
            if values.size else -1.0
        seed = find_lesion(self.small)
        self.seed = seed.mask if seed.found else None
        self.outline = _outline(self.feature <= self.threshold, self.inside, self.seed)

    def working(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """`image` (on the baseline's grid) on the working copy's grid."""
        return cv2.resize(image, self.size, interpolation=interpolation) if self.factor < 1 else image

    def full(self, mask: np.ndarray | None) -> np.ndarray | None:
        """An outline of the working copy on the baseline's own grid."""
        if mask is None or self.factor >= 1:
            return mask
        return cv2.resize(mask.astype(np.uint8), self.shape[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)

    def outline_full(self) -> np.ndarray | None:
        return self.full(self.outline)


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
