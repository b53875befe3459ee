"""Follow-up of one lesion photographed at two visits (sequential digital dermoscopy): register, measure, explain.

The follow-up image is registered onto the baseline on the skin around the lesion (core.followup.registration) and
resampled onto the baseline's pixel grid, so both outlines, the difference image and the Siamese model's maps
speak of the same place. Each visit is measured (core.followup.measurements) on that common grid, in the baseline's
pixels (and mm when its pixel size is known), and the change between visits is given with its uncertainty:
the outline's one-pixel quantisation of each visit and, in "similarity" mode, the registration's scale
uncertainty (area goes with scale squared). The model explains the aligned pair with the same core as a
plain comparison (core.explain.pair.explain_pair), so its honest verdict rules apply unchanged: a pair outside the
model's domain is "not assessed".

The model is shown the aligned follow-up with the corners the follow-up does not cover filled by mirroring it
at its edge (black corners put a real dermoscopy image outside the model's domain); the report shows them black.

When registration fails the pair is still measured and explained unaligned, each visit in its own pixels, and
`registration.ok` is False with its message: changes are then only comparable if the magnification is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.followup.measurements import measure
from core.followup.registration import Registration, register, warp_to_baseline
from core.io.images import LoadedImage, from_pil

if TYPE_CHECKING:  # torch only when a follow-up is computed
    from core.explain.pair import Explanation

# Standard uncertainty of where an outline lies, in px: with it the stated area-change uncertainty covered the true
# change in 85 % and 75 % of synthetic follow-ups (benchmarks/bench_followup.py, seeds 0 and 1), about the 68 % a
# one-sigma figure should; 1 px covered 92 % (too cautious to show a 10 % growth).
OUTLINE_UNCERTAINTY_PX = 0.5


@dataclass
class FollowUp:
    registration: Registration
    aligned: np.ndarray | None  # follow-up RGB on the baseline's grid (None: registration failed)
    valid: np.ndarray | None  # bool, baseline grid: where the aligned follow-up has pixels
    masks: tuple  # lesion outlines (baseline, follow-up) as bool arrays; the follow-up's on the aligned grid
    measurements: list  # one dict per visit (core.followup.measurements.measure)
    changes: dict  # follow-up against baseline, with uncertainties (see change_facts)
    explanation: Explanation  # of (baseline, aligned follow-up)
    images: tuple  # the pair as explained (core.explain.pair.explained_images)
    pixel_size_mm: float | None
    visits: tuple = (None, None)  # the two images as measured: baseline, follow-up (aligned when registered)


def followup(model, baseline: LoadedImage, followup_image: LoadedImage, pixel_size_mm: float | None = None,
             mode: str = "rigid", masks=(None, None), method: str | None = None) -> FollowUp:
    """Register, measure and explain a follow-up pair. masks: lesion outlines drawn by the reviewer (bool arrays,
    each in its own image's pixels), None for the lesion finder's. pixel_size_mm: the baseline's pixel size
    (None: from its DICOM PixelSpacing if it has one, else unknown and every measurement is in pixels)."""
    from core.explain.pair import explain_pair, explained_images
    from core.vocabulary import DEFAULT_METHOD

    rgb_b, rgb_f = _rgb(baseline), _rgb(followup_image)
    size = pixel_size_mm if pixel_size_mm is not None else file_pixel_size(baseline)
    registration = register(rgb_b, rgb_f, mode=mode, masks=masks if any(m is not None for m in masks) else None)
    height, width = rgb_b.shape[:2]
    aligned: np.ndarray | None
    valid: np.ndarray | None
    if registration.ok:
        aligned = warp_to_baseline(rgb_f, registration, (width, height))
        valid = warp_to_baseline(np.full(rgb_f.shape[:2], 255, np.uint8), registration, (width, height),
                                 cv2.INTER_NEAREST) > 0
        mask_f = None if masks[1] is None else warp_to_baseline(
            np.asarray(masks[1], np.uint8), registration, (width, height), cv2.INTER_NEAREST).astype(bool)
        # the model sees the uncovered corners filled with the follow-up mirrored at its edge: black corners would
        # take a real dermoscopy image out of the model's domain (7 of 12 synthetic follow-ups), mirrored skin not
        shown = warp_to_baseline(rgb_f, registration, (width, height), border=cv2.BORDER_REFLECT_101)
        second = replace(from_pil(_pil(shown), path=followup_image.path), case_fields=followup_image.case_fields,
                         dicom=followup_image.dicom)
        visit2, size2 = aligned, size  # on the baseline's grid: the baseline's pixel size
    else:
        aligned = valid = None
        mask_f, second, visit2 = masks[1], followup_image, rgb_f
        size2 = pixel_size_mm if pixel_size_mm is not None else file_pixel_size(followup_image)
    (found_b, found_f), sources = visit_outlines(rgb_b, visit2, valid, (masks[0], mask_f))
    measurements = [measure(rgb_b, found_b, size), measure(visit2, found_f, size2)]
    for measured, source in zip(measurements, sources, strict=True):
        measured["outline"] = source
    explanation = explain_pair(model, baseline, second, method=method or DEFAULT_METHOD)
    images = explained_images((baseline, second), explanation)
    return FollowUp(registration=registration, aligned=aligned, valid=valid, masks=(found_b, found_f),
                    measurements=measurements, changes=change_facts(measurements, registration),
                    explanation=explanation, images=images, pixel_size_mm=size, visits=(rgb_b, visit2))


def change_facts(measurements: list, registration: Registration) -> dict:
    """Follow-up against baseline: area and diameter ratios with their standard uncertainties, the lesion's
    centroid shift relative to the skin (uncertain by the registration's error), and the other measurements'
    differences. None where either visit has no outline."""
    base, follow = measurements
    if not (base["found"] and follow["found"]):
        return {"area_change": None, "area_change_uncertainty": None, "diameter_change": None,
                "diameter_change_uncertainty": None, "centroid_shift_px": None,
                "centroid_shift_uncertainty_px": None, "asymmetry_change": None,
                "border_irregularity_change": None, "colours_change": None,
                "comparable": False, "change_note": "a visit has no lesion outline: nothing to compare"}
    scale_error = registration.scale_error if registration.ok and registration.mode == "similarity" else 0.0
    scale_error = scale_error if np.isfinite(scale_error) else 0.0
    area = follow["area_px"] / base["area_px"]
    area_rel = np.sqrt(sum((OUTLINE_UNCERTAINTY_PX * m["perimeter_px"] / m["area_px"]) ** 2 for m in measurements)
                       + (2.0 * scale_error) ** 2)
    diameter = follow["diameter_px"] / base["diameter_px"]
    diameter_rel = np.sqrt(sum((OUTLINE_UNCERTAINTY_PX / m["diameter_px"]) ** 2 for m in measurements)
                           + scale_error ** 2)
    shift = shift_error = None
    if registration.ok:
        shift = float(np.hypot(*np.subtract(follow["centroid_px"], base["centroid_px"])))
        shift_error = registration.error_px
    return {"area_change": round(area, 4), "area_change_uncertainty": round(float(area * area_rel), 4),
            "diameter_change": round(diameter, 4),
            "diameter_change_uncertainty": round(float(diameter * diameter_rel), 4),
            "centroid_shift_px": None if shift is None else round(shift, 2),
            "centroid_shift_uncertainty_px": None if shift_error is None else round(float(shift_error), 2),
            "asymmetry_change": round(follow["asymmetry"] - base["asymmetry"], 4),
            "border_irregularity_change": round(follow["border_irregularity"] - base["border_irregularity"], 4),
            "colours_change": follow["colours"] - base["colours"], "comparable": bool(registration.ok),
            "change_note": "" if registration.ok else (
                "not registered: each visit is measured in its own pixels, so the "
                "changes hold only if both were taken at the same magnification")}


def followup_facts(result: FollowUp, model) -> dict:
    """JSON-ready facts: the explanation's (core.explain.facts.explanation_facts; image 2 is the aligned follow-up), the
    registration (`transform`: follow-up pixel -> baseline pixel, `registration_quality`...), `measurements`
    (one per visit), `area_change` and the other changes with their uncertainties."""
    from core.explain.facts import explanation_facts

    facts = explanation_facts(result.explanation, result.images, model)
    facts["images"][1]["aligned_to_baseline"] = bool(result.registration.ok)
    return {"kind": "followup", **facts, **result.registration.facts(),
            "pixel_size_mm": result.pixel_size_mm, "measurements": result.measurements, **result.changes}


def file_pixel_size(image: LoadedImage) -> float | None:
    """The pixel size (mm) a DICOM file states (core.io.dicom's PixelSpacing), in the loaded image's pixels."""
    text = (getattr(image, "case_fields", None) or {}).get("pixel_size_mm")
    try:
        value = float(text) * float(image.scale) if text else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and np.isfinite(value) and value > 0 else None


def visit_outlines(baseline: np.ndarray, second: np.ndarray, valid, masks=(None, None)) -> tuple:
    """((baseline outline, follow-up outline), (how each was drawn)). A drawn mask wins; two registered visits
    without one get outlines with one shared threshold (core.followup.paired_outline); otherwise each image gets the
    lesion finder's own (an aligned follow-up's uncovered border first filled in, so it is never a lesion)."""
    if masks[0] is None and masks[1] is None and valid is not None:
        from core.followup.paired_outline import paired_outlines

        return paired_outlines(baseline, second, valid), ("lesion finder, one threshold for both visits",) * 2
    outlines: list[np.ndarray | None] = []
    sources: list[str] = []
    for image, mask, coverage in ((baseline, masks[0], None), (second, masks[1], valid)):
        if mask is not None:
            outlines.append(np.asarray(mask, bool))
            sources.append("drawn")
            continue
        from core.model.lesion import find_lesion

        if coverage is not None and not coverage.all():
            image = cv2.inpaint(image, (~coverage).astype(np.uint8), 3, cv2.INPAINT_TELEA)
        lesion = find_lesion(image)
        outlines.append(lesion.mask if lesion.found else None)
        sources.append("lesion finder")
    return tuple(outlines), tuple(sources)


def _rgb(image: LoadedImage) -> np.ndarray:
    if not isinstance(image, LoadedImage):
        raise TypeError(f"expected a LoadedImage, got {type(image).__name__}")
    return np.asarray(image.image.convert("RGB"))


def _pil(rgb: np.ndarray):
    from PIL import Image

    return Image.fromarray(rgb, "RGB")
