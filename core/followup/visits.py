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
`registration.ok` is False with its message; no change figure is given then (None in JSON, a dash on screen):
two visits that do not align on the skin may be another magnification, or another lesion.

A caller that may have to stop (closing the window) passes `should_stop`: it is asked between the stages
(registration, measurements, explanation) and, when it says so, core.errors.Stopped is raised; there
is no partial result. Each stage takes about a second at most on two CPU cores, so a stop is seen within that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.errors import Stopped
from core.followup.measurements import CLIPPED_MAX, REPEATABILITY, measure
from core.followup.registration import Registration, register, warp_to_baseline
from core.io.images import LoadedImage, from_pil

if TYPE_CHECKING:  # torch only when a follow-up is computed
    from core.explain.pair import Explanation

# Standard uncertainty of where an outline lies, in px: with it the stated area-change uncertainty covered the true
# change in 85 % and 75 % of synthetic follow-ups (benchmarks/bench_followup.py, seeds 0 and 1), about the 68 % a
# one-sigma figure should; 1 px covered 92 % (too cautious to show a 10 % growth).
OUTLINE_UNCERTAINTY_PX = 0.5
# An outline with any of its edge on the picture's edge (at_frame) is not measured against another visit: the lesion
# may go on outside the picture. On 109 registered synthetic follow-ups of validation lesions (bench_followup.py
# --split val --pairs 120), the 77 outlines clear of the edge had a median area-change error of 1.2 % (91 % within
# the stated uncertainty); the 32 touching it, 2.7-27 % (12-57 % within it), six with the change's sign wrong.
AT_FRAME_MAX = 0.0
# A change is "beyond measurement uncertainty" when it exceeds this many standard uncertainties (an expanded
# uncertainty with coverage factor 2, about 95 %): one follow-up in twenty of an unchanged lesion would otherwise
# read as change at a factor of 1.6.
CHANGE_COVERAGE = 2.0
# how an outline drawn with the baseline's own threshold is named in each visit's measurements (`outline`)
BASELINE_THRESHOLD = "lesion finder, the baseline's threshold"


@dataclass
class FollowUp:
    registration: Registration
    aligned: np.ndarray | None  # follow-up RGB on the baseline's grid (None: registration failed)
    valid: np.ndarray | None  # bool, baseline grid: where the aligned follow-up has pixels
    masks: tuple  # lesion outlines (baseline, follow-up) as bool arrays; the follow-up's on the aligned grid
    measurements: list  # one dict per visit (core.followup.measurements.measure)
    changes: dict  # follow-up against baseline, with uncertainties (see change_facts)
    explanation: Explanation | None  # of (baseline, aligned follow-up); None from compare (no model)
    images: tuple  # the pair as explained (core.explain.pair.explained_images)
    pixel_size_mm: float | None
    visits: tuple = (None, None)  # the two images as measured: baseline, follow-up (aligned when registered)


def followup(model, baseline: LoadedImage, followup_image: LoadedImage, pixel_size_mm: float | None = None,
             mode: str = "auto", masks=(None, None), method: str | None = None, should_stop=None) -> FollowUp:
    """Register, measure and explain a follow-up pair. masks: lesion outlines drawn by the reviewer (bool arrays,
    each in its own image's pixels), None for the lesion finder's. pixel_size_mm: the baseline's pixel size
    (None: from its DICOM PixelSpacing if it has one, else unknown and every measurement is in pixels; which it was
    is each visit's `pixel_scale`, see pixel_scale). mode:
    core.followup.registration's ("auto" chooses rigid or similarity by the evidence). should_stop: asked between
    the stages; Stopped when it turns true."""
    from core.explain.pair import explain_pair, explained_images
    from core.vocabulary import DEFAULT_METHOD

    compared = compare(baseline, followup_image, pixel_size_mm, mode, masks, should_stop)
    second = followup_image
    if compared.registration.ok:
        # the model sees the uncovered corners filled with the follow-up mirrored at its edge: black corners would
        # take a real dermoscopy image out of the model's domain (7 of 12 synthetic follow-ups), mirrored skin not
        height, width = compared.visits[0].shape[:2]
        shown = warp_to_baseline(_rgb(followup_image), compared.registration, (width, height),
                                 border=cv2.BORDER_REFLECT_101)
        second = replace(from_pil(_pil(shown), path=followup_image.path), case_fields=followup_image.case_fields,
                         dicom=followup_image.dicom)
    check_stop(should_stop, "explanation")
    explanation = explain_pair(model, baseline, second, method=method or DEFAULT_METHOD)
    images = explained_images((baseline, second), explanation)
    return replace(compared, explanation=explanation, images=images)


def compare(baseline: LoadedImage, followup_image: LoadedImage, pixel_size_mm: float | None = None,
            mode: str = "auto", masks=(None, None), should_stop=None) -> FollowUp:
    """followup without the model: registration, both visits' outlines and measurements, the changes
    (`explanation` and `images` are None). A visit history (core.followup.history) compares each visit so."""
    check_stop(should_stop, "registration")
    rgb_b, rgb_f = _rgb(baseline), _rgb(followup_image)
    scale = pixel_scale(baseline, pixel_size_mm)
    size = scale["pixel_size_mm"]
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
        visit2, scale2 = aligned, {**scale, "on_baseline_grid": True}  # on the baseline's grid: its pixel size
    else:
        aligned = valid = None
        mask_f, visit2 = masks[1], rgb_f
        scale2 = pixel_scale(followup_image, pixel_size_mm)
    check_stop(should_stop, "measurements")
    (found_b, found_f), sources = visit_outlines(rgb_b, visit2, valid, (masks[0], mask_f))
    # no outline is no lesion found (an empty mask): measure's None would run the lesion finder once more
    measurements = [measure(image, np.zeros(image.shape[:2], bool) if outline is None else outline, pixels)
                    for image, outline, pixels in ((rgb_b, found_b, size),
                                                   (visit2, found_f, scale2["pixel_size_mm"]))]
    for measured, source, outline, coverage, kept in zip(measurements, sources, (found_b, found_f), (None, valid),
                                                         (scale, scale2), strict=True):
        measured["outline"] = source
        measured["pixel_scale"] = kept
        measured["outline_at_frame"] = at_frame(outline, coverage)
    return FollowUp(registration=registration, aligned=aligned, valid=valid, masks=(found_b, found_f),
                    measurements=measurements, changes=change_facts(measurements, registration),
                    explanation=None, images=(), pixel_size_mm=size, visits=(rgb_b, visit2))


def at_frame(outline: np.ndarray | None, coverage: np.ndarray | None = None) -> float | None:
    """The share of the outline's edge that lies on the picture's edge (its border, or next to where an aligned
    follow-up has no pixels): there the lesion may go on outside the picture. None without an outline."""
    if outline is None or not outline.any():
        return None
    mask = outline.astype(np.uint8)
    edge = mask.astype(bool) & ~cv2.erode(mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT,
                                          borderValue=0).astype(bool)
    frame = np.zeros(outline.shape, bool)
    frame[[0, -1], :] = frame[:, [0, -1]] = True
    if coverage is not None:
        frame |= cv2.dilate((~coverage).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return round(float((edge & frame).sum()) / float(edge.sum()), 4)


def check_stop(should_stop, stage: str) -> None:
    """Stopped before `stage` when the caller's should_stop() says so."""
    if should_stop is not None and should_stop():
        raise Stopped(f"follow-up stopped before its {stage}")


def change_facts(measurements: list, registration: Registration) -> dict:
    """Follow-up against baseline: area and diameter ratios with their standard uncertainties, the lesion's
    centroid shift relative to the skin (uncertain by the registration's error), the other measurements'
    differences, `change_headline`, the sentence a report leads with, and `change_brief`, what a worklist's column
    shows (change_brief). Every change figure is None when the
    visits are not registered (each visit's pixels are then another scale: no figure would mean anything) or
    either visit has no outline."""
    base, follow = measurements
    figures = {"area_change": None, "area_change_uncertainty": None, "diameter_change": None,
               "diameter_change_uncertainty": None, "centroid_shift_px": None, "centroid_shift_uncertainty_px": None,
               "asymmetry_change": None, "asymmetry_change_uncertainty": None, "border_irregularity_change": None,
               "border_irregularity_change_uncertainty": None, "colours_change": None,
               "new_colours": None, "change_beyond_uncertainty": None, "comparable": False, "colours_compared": False}
    if not registration.ok:
        note = "not registered: no change figures (the visits could not be aligned on the skin around the lesion)"
        return {**figures, "change_note": note, "change_headline": note,
                "change_brief": ["not compared", "not aligned"]}
    missing = [name for name, m in (("baseline", base), ("follow-up", follow)) if not m["found"]]
    if missing:
        note = f"no lesion found in the {' and the '.join(missing)}: nothing to compare (draw the outline)"
        return {**figures, "change_note": note, "change_headline": note, "change_brief": ["not compared", "no lesion"]}
    cut = [name for name, m in (("baseline", base), ("follow-up", follow)) if (m.get("outline_at_frame") or 0.0)
           > AT_FRAME_MAX]
    if cut:
        note = (f"the lesion reaches the edge of the {' and the '.join(cut)} picture: part of it may lie outside, so "
                "its size and shape are not compared (photograph the whole lesion with skin around it)")
        return {**figures, "change_note": note, "change_headline": note,
                "change_brief": ["not compared", "at the edge"]}
    scale_error = registration.scale_error if registration.mode == "similarity" else 0.0
    scale_error = scale_error if np.isfinite(scale_error) else 0.0
    area = follow["area_px"] / base["area_px"]
    area_rel = max(np.sqrt(sum((OUTLINE_UNCERTAINTY_PX * m["perimeter_px"] / m["area_px"]) ** 2 for m in measurements)
                           + (2.0 * scale_error) ** 2), np.sqrt(2.0) * REPEATABILITY["area"])
    diameter = follow["diameter_px"] / base["diameter_px"]
    diameter_rel = max(np.sqrt(sum((OUTLINE_UNCERTAINTY_PX / m["diameter_px"]) ** 2 for m in measurements)
                               + scale_error ** 2), np.sqrt(2.0) * REPEATABILITY["diameter"])
    shift = float(np.hypot(*np.subtract(follow["centroid_px"], base["centroid_px"])))
    # a new colour: counted now, and its share grown beyond what re-photographing the same lesion varies by (a
    # colour at 4 % then 6 % of the lesion crossed the counting line, it did not appear)
    rise = CHANGE_COVERAGE * np.sqrt(2.0) * REPEATABILITY["colour_share"]
    clipped = max(base["clipped"], follow["clipped"]) > CLIPPED_MAX  # over-exposed: its colours are lost
    new = [] if clipped else [name for name in follow["colour_names"] if name not in base["colour_names"]
                              and follow["colour_shares"][name] - base["colour_shares"][name] > rise]
    beyond = bool(abs(area - 1.0) > CHANGE_COVERAGE * area * area_rel
                  or abs(diameter - 1.0) > CHANGE_COVERAGE * diameter * diameter_rel)
    facts = {**figures, "area_change": round(area, 4), "area_change_uncertainty": round(float(area * area_rel), 4),
             "diameter_change": round(diameter, 4),
             "diameter_change_uncertainty": round(float(diameter * diameter_rel), 4),
             "centroid_shift_px": round(shift, 2),
             "centroid_shift_uncertainty_px": round(float(registration.error_px), 2),
             "asymmetry_change": round(follow["asymmetry"] - base["asymmetry"], 4),
             "asymmetry_change_uncertainty": round(float(np.sqrt(2.0) * REPEATABILITY["asymmetry"]), 4),
             "border_irregularity_change": round(follow["border_irregularity"] - base["border_irregularity"], 4),
             "border_irregularity_change_uncertainty": round(
                 float(np.sqrt(2.0) * REPEATABILITY["border_irregularity"]), 4),
             "colours_change": None if clipped else follow["colours"] - base["colours"], "new_colours": new,
             "change_beyond_uncertainty": beyond, "comparable": True, "colours_compared": not clipped,
             "change_note": "colours not compared: a visit is over-exposed (part of the lesion or skin clipped)"
             if clipped else ""}
    return {**facts, "change_headline": change_headline(facts), "change_brief": change_brief(facts)}


def change_headline(changes: dict) -> str:
    """What changed, in one line: 'area +27 % +- 4 %, diameter +14 % +- 2 %: beyond measurement uncertainty', or
    'no change beyond measurement uncertainty (area ...)'; a visit pair without figures gets its note."""
    if changes.get("area_change") is None:
        return changes.get("change_note") or "no change figures"
    parts = []
    for name in ("area", "diameter"):
        ratio, spread = changes[f"{name}_change"], changes[f"{name}_change_uncertainty"]
        parts.append(f"{name} {_percent(ratio - 1.0)} +- {abs(spread) * 100:.0f} %")
    figures = ", ".join(parts)
    line = (f"{figures}: beyond measurement uncertainty" if changes["change_beyond_uncertainty"]
            else f"no change beyond measurement uncertainty ({figures})")
    if changes.get("new_colours"):
        line += f"; new colour{'s' * (len(changes['new_colours']) > 1)}: {', '.join(changes['new_colours'])}"
    elif changes.get("colours_compared") is False:
        line += "; colours not compared (a visit is over-exposed)"
    return line


def change_brief(changes: dict) -> list[str]:
    """What changed in two words and a figure, for a list of cases: ['changed', 'area +27 %'] beyond measurement
    uncertainty, ['no change', 'area +2 %'] within it (a model's "similar" must not stand for either)."""
    if changes.get("area_change") is None:
        return ["not compared", ""]
    lead = "changed" if changes["change_beyond_uncertainty"] else "no change"
    figure = f"area {_percent(changes['area_change'] - 1.0)}"
    return [lead, figure + (", new colour" if changes.get("new_colours") else "")]


def _percent(fraction: float) -> str:
    value = round(fraction * 100)
    return f"{value:+d} %" if value else "0 %"


def followup_facts(result: FollowUp, model) -> dict:
    """JSON-ready facts: the explanation's (core.explain.facts.explanation_facts; image 2 is the aligned follow-up), the
    registration (`transform`: follow-up pixel -> baseline pixel, `registration_quality`...), `measurements`
    (one per visit, each with its `pixel_scale`), `pixel_scale` (the baseline's) and `scale` (where both visits'
    mm come from, in words), `area_change` and the other changes with their uncertainties."""
    from core.explain.facts import explanation_facts

    facts = explanation_facts(result.explanation, result.images, model)
    facts["images"][1]["aligned_to_baseline"] = bool(result.registration.ok)
    return {"kind": "followup", **facts, **result.registration.facts(),
            "pixel_size_mm": result.pixel_size_mm, "pixel_scale": result.measurements[0].get("pixel_scale"),
            "scale": scale_words(result.measurements), "measurements": result.measurements, **result.changes}


def pixel_scale(image: LoadedImage, typed_mm: float | None) -> dict:
    """Where a visit's mm come from, decided here once for a pair and every visit of a history: the size typed by
    the reviewer (--pixel-size-mm, the dock's field) over the file's own (DICOM PixelSpacing), else the file's,
    else none (no mm figure). JSON-ready: `pixel_size_mm` (used, or None), `source` ("typed", "file" or "none"),
    `file_pixel_size_mm` (what the file says, None when nothing), `on_baseline_grid` (a registered follow-up is
    measured on the baseline's grid, so with its scale) and `said`, the words every report and the dock show: a
    typed size that overrides a file's own spacing is never silent."""
    own = file_pixel_size(image)
    if typed_mm is not None:
        said = f"{typed_mm:g} mm per pixel, typed by the reviewer"
        if own is not None:
            same = abs(own - typed_mm) <= 1e-9 * own
            said += ", as the file's PixelSpacing says" if same else f", the file says {own:g} mm"
        source, used = "typed", typed_mm
    elif own is not None:
        said, source, used = f"{own:g} mm per pixel, from the file's PixelSpacing", "file", own
    else:
        said, source, used = "pixel size unknown: no mm figures (measured in pixels)", "none", None
    return {"pixel_size_mm": used, "source": source, "file_pixel_size_mm": own, "on_baseline_grid": False,
            "said": said}


def scale_words(measurements: list) -> str:
    """One line on where the baseline's and the follow-up's mm come from (each visit's `pixel_scale`); "" for
    measurements made before the scale was kept."""
    scales = [m.get("pixel_scale") for m in measurements[:2] if m]
    if not scales or any(scale is None for scale in scales):
        return ""
    if len(scales) == 1:
        return f"Scale: {scales[0]['said']}"
    base, follow = scales
    if follow.get("on_baseline_grid"):
        return f"Scale: {base['said']} (the follow-up measured on the baseline's grid)"
    return f"Scale: baseline {base['said']}; follow-up (not registered) {follow['said']}"


def file_pixel_size(image: LoadedImage) -> float | None:
    """The pixel size (mm) a DICOM file states (core.io.dicom's PixelSpacing), in the loaded image's pixels."""
    text = (getattr(image, "case_fields", None) or {}).get("pixel_size_mm")
    try:
        value = float(text) * float(image.scale) if text else None
    except (TypeError, ValueError):
        return None
    return value if value is not None and np.isfinite(value) and value > 0 else None


def visit_outlines(baseline: np.ndarray, second: np.ndarray, valid, masks=(None, None)) -> tuple:
    """((baseline outline, follow-up outline), (how each was drawn)). A drawn mask wins. Otherwise the baseline's
    outline is drawn with its own threshold (core.followup.paired_outline.baseline_outline), the same outline
    whichever visit it is compared with, so a lesion's history has one baseline; a registered follow-up is
    outlined with that threshold too (paired_outlines), an unregistered one by the lesion finder on its own (an
    aligned follow-up's uncovered border first filled in, so it is never a lesion)."""
    from core.followup.paired_outline import baseline_outline, paired_outlines

    if masks[0] is None and masks[1] is None and valid is not None:
        return paired_outlines(baseline, second, valid), (BASELINE_THRESHOLD,) * 2
    outlines: list[np.ndarray | None] = []
    sources: list[str] = []
    for index, (image, mask, coverage) in enumerate(((baseline, masks[0], None), (second, masks[1], valid))):
        if mask is not None:
            outlines.append(np.asarray(mask, bool))
            sources.append("drawn")
            continue
        if index == 0:
            outlines.append(baseline_outline(baseline))
            sources.append(BASELINE_THRESHOLD)
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
