"""Measurements of one lesion outline: what a dermatologist reads off a visit, named as measurements, not a score.

ABCD-style features (Stolz et al.'s dermoscopy rule) without its weighting into a total, because a total
would be a diagnostic score this product does not stand behind; each number is a plain geometric or colour fact
of the outline the lesion finder drew (core.model.lesion), or of one the reviewer drew (`mask`):

- area and longest diameter (the maximal Feret diameter, over the convex hull): in pixels, and in mm / mm2 when
  the pixel size is known (DICOM PixelSpacing or --pixel-size-mm);
- asymmetry: for each of the two principal axes through the centroid, the share of the lesion that does not
  overlap its mirror image (0 = symmetric about that axis), and their mean;
- border irregularity: the compactness index perimeter^2 / (4 pi area), 1 for a disc, larger for a ragged edge;
- colours: how many of the six dermoscopic colours (white, red, light brown, dark brown, blue-grey, black; the
  reference RGB values of Kasmi and Mokrani 2016) each cover at least COLOUR_SHARE of the lesion, every lesion
  pixel assigned to the nearest reference in CIE Lab (when nearer by COLOUR_MARGIN than the next) after colour
  constancy on the skin around the lesion (skin_balanced), the surrounding skin's median colour being one more
  reference that is never counted.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import InputError

COLOURS = {"white": (255, 255, 255), "red": (204, 51, 51), "light brown": (153, 102, 51),
           "dark brown": (51, 0, 0), "blue-grey": (51, 153, 153), "black": (0, 0, 0)}
COLOUR_SHARE = 0.05  # of the lesion's pixels: a colour covering less is not counted
MIN_AREA_PX = 20  # an outline smaller than this is not a lesion that can be measured
# The skin colour every visit's skin is brought to before colours are named: the median Shades-of-Gray estimate of
# the skin within SKIN_RING_PX around the lesion over 100 of the skin model's validation images (COLOURS were chosen for
# dermoscopy pictures as they come, so the typical picture is left nearly as it is).
SKIN_REFERENCE = (210.0, 147.0, 147.0)
SKIN_RING_PX = 20
# Lab units: how much nearer the nearest reference must be than the next for a pixel to count. Chosen on 60
# validation lesions, each under three random exposure x white-balance changes of +-10 %: the colour count changed
# in 5, 3, 5, 9 of 180 at margins 0, 3, 6, 10 (23 of 180 with the former whole-picture Shades-of-Gray, no margin)
COLOUR_MARGIN = 3.0
# Significant digits a measurement is shown with (dock, reports): an area is uncertain by about 10 % (the outline's
# place, core.followup.visits), so "2.3575 mm2" claimed a precision of 0.004 % it does not have. The JSON facts keep
# their values; only what is read is rounded.
SHOWN_DIGITS = 3
CLIP_LEVEL = 250  # a channel at or above this has (nearly) clipped
# Above this share of clipped pixels (clipped_share) a visit's colours are not compared with another visit's. On
# 60 validation lesions under three light-only changes each (exposure x white balance, +-10 % each), 31 of 180
# trials went over it; of the other 149 the colour count changed in 4 (the counting line), of all 180 in 10
CLIPPED_MAX = 0.10
# Repeatability of each measurement (standard deviation between re-acquisitions of one unchanged lesion: another
# rotation, exposure, white balance, magnification, tilt and blur, registered and outlined as a follow-up is),
# relative for area and diameter, absolute for the others; benchmarks/bench_followup.py --repeatability, on the
# skin model's validation images. core.followup.visits uses them as the floor of each change's uncertainty.
# Measured: 40 unchanged lesions of the validation split, all 40 registered (--kind repeat --split val --pairs 40).
# colour_share: a colour's share of the lesion (0-1), over the colours covering 1 % of it at either visit.
# A typed pixel size of 10 cm or more is a slip (cm or um for mm), not a photograph's: refused, never measured with
MAX_PIXEL_SIZE_MM = 100.0
REPEATABILITY = {"area": 0.030, "diameter": 0.029, "asymmetry": 0.020, "border_irregularity": 0.126,
                 "colour_share": 0.011}


def read_pixel_size(text) -> float | None:
    """The size of one pixel in mm as a person typed it (--pixel-size-mm, the follow-up dock's field; a decimal comma
    taken as a point): None when empty (unknown: a DICOM file's own, else pixels). ValueError with the one line to
    show when it is not a size: a finite number more than 0 and less than MAX_PIXEL_SIZE_MM."""
    typed = str(text or "").strip()
    if not typed:
        return None
    try:
        value = float(typed.replace(",", "."))
    except ValueError:
        value = float("nan")
    if not 0 < value < MAX_PIXEL_SIZE_MM:  # also refuses nan and inf
        raise InputError(f"{typed!r} is not the size of one pixel in mm: give a number more than 0 and less than "
                         f"{MAX_PIXEL_SIZE_MM:g} (e.g. 0.02)")
    return value


def measure(rgb: np.ndarray, mask: np.ndarray | None = None, pixel_size_mm: float | None = None) -> dict:
    """Named measurements of the lesion in `rgb` (uint8 RGB). mask: the lesion outline as a bool array (None: the
    lesion finder's). Keys ending in _mm / _mm2 are None when the pixel size is unknown. `found` is False (and
    the numbers None) when there is no lesion outline to measure."""
    if pixel_size_mm is not None and not (np.isfinite(pixel_size_mm) and pixel_size_mm > 0):
        raise InputError(f"pixel size must be a positive number of mm, got {pixel_size_mm!r}")
    source = "given"
    if mask is None:
        from core.model.lesion import find_lesion

        lesion = find_lesion(rgb)
        mask, source = (lesion.mask if lesion.found else None), "lesion finder"
    mask = None if mask is None else _largest_component(np.asarray(mask, bool))
    if mask is not None and mask.shape != rgb.shape[:2]:
        raise ValueError(f"lesion mask {mask.shape} does not match the image {rgb.shape[:2]}")
    empty = {"found": False, "outline": source, "area_px": None, "area_mm2": None, "diameter_px": None,
             "diameter_mm": None, "perimeter_px": None, "asymmetry": None, "asymmetry_axes": None,
             "border_irregularity": None, "colours": None, "colour_names": None, "colour_shares": None,
             "clipped": None, "centroid_px": None,
             "pixel_size_mm": pixel_size_mm}
    if mask is None or mask.sum() < MIN_AREA_PX:
        return empty
    area = float(mask.sum())
    contour = _contour(mask)
    perimeter = float(cv2.arcLength(contour, True))
    diameter = _longest_diameter(contour)
    axes = asymmetry(mask)
    shares = colour_shares(rgb, mask)
    names = [name for name in sorted(shares, key=lambda n: -shares[n]) if shares[name] >= COLOUR_SHARE]
    ys, xs = np.nonzero(mask)
    mm = pixel_size_mm
    return {"found": True, "outline": source, "area_px": int(area),
            "area_mm2": None if mm is None else round(area * mm * mm, 4),
            "diameter_px": round(diameter, 2), "diameter_mm": None if mm is None else round(diameter * mm, 4),
            "perimeter_px": round(perimeter, 2), "asymmetry": round(float(np.mean(axes)), 4),
            "asymmetry_axes": [round(a, 4) for a in axes],
            "border_irregularity": round(perimeter * perimeter / (4.0 * np.pi * area), 4),
            "colours": len(names), "colour_names": names, "colour_shares": shares, "clipped": clipped_share(rgb, mask),
            "centroid_px": [round(float(xs.mean()), 2), round(float(ys.mean()), 2)], "pixel_size_mm": mm}


def asymmetry(mask: np.ndarray) -> tuple[float, float]:
    """Per principal axis, the share of the lesion not overlapping its reflection about that axis."""
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean(), ys.mean()
    coords = np.stack([xs - cx, ys - cy])
    _, vectors = np.linalg.eigh(np.cov(coords))
    h, w = mask.shape
    out = []
    for axis in (vectors[:, 1], vectors[:, 0]):  # major axis first
        ux, uy = axis
        # reflection about the line through the centroid along (ux, uy): R = 2 u u^T - I
        reflect = np.array([[2 * ux * ux - 1, 2 * ux * uy], [2 * ux * uy, 2 * uy * uy - 1]])
        shift = np.array([cx, cy]) - reflect @ np.array([cx, cy])
        matrix = np.hstack([reflect, shift[:, None]]).astype(np.float64)
        mirrored = cv2.warpAffine(mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
        out.append(float(np.logical_xor(mask, mirrored).sum()) / (2.0 * float(mask.sum())))
    return out[0], out[1]


def colours(rgb: np.ndarray, mask: np.ndarray) -> list[str]:
    """The dermoscopic colours (COLOURS) that each cover at least COLOUR_SHARE of the lesion, most common first
    (colour_shares gives every colour's share)."""
    shares = colour_shares(rgb, mask)
    return [name for name in sorted(shares, key=lambda n: -shares[n]) if shares[name] >= COLOUR_SHARE]


def colour_shares(rgb: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The share of the lesion's pixels named each dermoscopic colour (COLOURS order).

    Colour constancy first, on the skin around the lesion (skin_balanced): another exposure or white balance
    scales skin and lesion alike, so once the skin is brought to SKIN_REFERENCE the lesion's colours are where
    they were. A pixel whose nearest reference is not nearer by COLOUR_MARGIN than the next one names no colour
    (it lies on the boundary between two, where a change of light of a few per cent would flip it)."""
    from core.model.lesion import vignette_mask

    vignette = vignette_mask(rgb)
    corrected = skin_balanced(rgb, mask, vignette)
    lab = _lab(corrected[mask])
    ref_lab = _lab(np.array(list(COLOURS.values()), np.uint8))
    # the surrounding skin's own colour is a seventh reference, never counted: a pale lesion edge that looks like
    # the skin is not "blue-grey" or "white" because those happen to be the nearest of the six
    ring = _ring(mask, vignette)
    if ring.sum() >= 20:
        ref_lab = np.vstack([ref_lab, np.median(_lab(corrected[ring]), axis=0)])
    distances = np.sqrt(((lab[:, None, :] - ref_lab[None]) ** 2).sum(-1))
    order = np.argsort(distances, axis=1)
    rows = np.arange(len(lab))
    clear = distances[rows, order[:, 1]] - distances[rows, order[:, 0]] >= COLOUR_MARGIN
    shares = np.bincount(order[clear, 0], minlength=len(ref_lab))[:len(COLOURS)] / max(1, len(lab))
    return {name: round(float(share), 4) for name, share in zip(COLOURS, shares, strict=True)}


def skin_balanced(rgb: np.ndarray, mask: np.ndarray, vignette: np.ndarray) -> np.ndarray:
    """`rgb` with per-channel gains that bring the skin around the lesion (its Shades-of-Gray estimate) to
    SKIN_REFERENCE; where too little skin is seen, Shades-of-Gray over the whole picture (core.model.lesion)."""
    from core.model.lesion import SHADES_OF_GRAY_P, shades_of_gray

    ring = _ring(mask, vignette, SKIN_RING_PX)
    if ring.sum() < 50:
        return shades_of_gray(rgb, valid=~vignette)
    skin = rgb[ring].astype(np.float64)
    estimate = np.maximum(np.power(np.mean(np.power(skin, SHADES_OF_GRAY_P), axis=0), 1.0 / SHADES_OF_GRAY_P), 1.0)
    return np.clip(rgb.astype(np.float64) * (np.asarray(SKIN_REFERENCE) / estimate), 0, 255).astype(np.uint8)


def clipped_share(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Share of the lesion and the skin around it (SKIN_RING_PX) with a channel at the top of its range: light that
    clipped them is lost, and no colour constancy brings it back."""
    from core.model.lesion import vignette_mask

    region = mask | _ring(mask, vignette_mask(rgb), SKIN_RING_PX)
    return round(float((rgb[region].max(axis=-1) >= CLIP_LEVEL).mean()), 4) if region.any() else 0.0


def _ring(mask: np.ndarray, vignette: np.ndarray, width: int = 7) -> np.ndarray:
    """The skin within `width` px outside the lesion, the dermoscope's dark corners left out."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask & ~vignette


def _lab(pixels: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 RGB -> (n, 3) float32 CIE Lab (OpenCV's 8-bit scaling)."""
    return cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)


def _largest_component(mask: np.ndarray) -> np.ndarray | None:
    if not mask.any():
        return None
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best


def _contour(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=cv2.contourArea)


def _longest_diameter(contour: np.ndarray) -> float:
    hull = cv2.convexHull(contour).reshape(-1, 2).astype(np.float64)
    if len(hull) < 2:
        return 1.0
    gaps = hull[:, None, :] - hull[None, :, :]
    # +1: pixel centres to pixel edges (a one-pixel lesion is 1 px across)
    return float(np.sqrt((gaps ** 2).sum(-1)).max()) + 1.0


def shown_figure(value: float, digits: int = SHOWN_DIGITS) -> str:
    """`value` rounded to at most `digits` significant digits, as read (no exponent, no trailing zeros): 2.3575 ->
    "2.36", 12345 -> "12300", 0.1 -> "0.1"."""
    value = float(value)
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    decimals = digits - 1 - int(np.floor(np.log10(abs(value))))
    rounded = round(value, decimals)
    text = f"{rounded:.{max(decimals, 0)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
