"""The follow-up report page (Pillow, no Qt) and its JSON facts: both visits aligned side by side with both lesion
outlines, the difference image, the factual maps, the measurements of each visit with the change and its
uncertainty, the registration, the verdict and the disclaimer; each visit's date when known.

Written with core.review.report.write_picture_and_facts (PNG, PDF or DICOM by the file's suffix, plus the JSON
sidecar)."""

from __future__ import annotations

from datetime import datetime

import cv2
import numpy as np
from PIL import Image, ImageDraw

from core.explain.overlay import blend, colorize
from core.io.fonts import load_font
from core.trust.verdict import COLOURS as VERDICT_COLOURS
from core.trust.verdict import MEANING
from core.version import APP_NAME, __version__
from core.vocabulary import DISCLAIMER

PANEL = 300  # px, each picture's side
MARGIN = 28
GAP = 16
TEXT, MUTED = (20, 20, 20), (95, 95, 95)
OUTLINES = {"baseline": (0, 200, 255), "follow-up": (255, 220, 0)}  # cyan, yellow
DIFFERENCE_TOP = 40.0  # Lab distance shown at the top of the difference image's colour scale
ROWS = (("area_px", "area (px)"), ("area_mm2", "area (mm2)"), ("diameter_px", "longest diameter (px)"),
        ("diameter_mm", "longest diameter (mm)"), ("asymmetry", "asymmetry (0 = symmetric)"),
        ("border_irregularity", "border irregularity (1 = disc)"), ("colours", "dermoscopic colours"))


def followup_report_facts(result, model, record=None, when=None, note: str = "") -> dict:
    """Everything the follow-up report states, as JSON: app, time, case record (acquisition dates of both
    visits), the follow-up facts (core.followup.visits.followup_facts), the note and the disclaimer."""
    from core.followup.visits import followup_facts
    from core.review.case_record import CaseRecord

    when = when or datetime.now().astimezone()
    return {"app": {"name": APP_NAME, "version": __version__}, "created": when.isoformat(timespec="seconds"),
            **(record or CaseRecord()).facts(), **followup_facts(result, model), "note": note or "",
            "disclaimer": DISCLAIMER}


def render(result, facts: dict) -> Image.Image:
    """The report page as an RGB picture."""
    width = 2 * MARGIN + 3 * PANEL + 2 * GAP
    canvas = Image.new("RGB", (width, 1600), "white")
    draw = ImageDraw.Draw(canvas)
    title, body, small = load_font(24, bold=True), load_font(15), load_font(13)
    y = MARGIN
    draw.text((MARGIN, y), "Lesion follow-up (sequential dermoscopy)", font=title, fill=TEXT)
    y += 36
    dates = facts.get("acquired") or [None, None]
    case = " | ".join(f"{label}: {facts[key]}" for key, label in (("case_id", "case"), ("patient_id", "patient"),
                                                                  ("body_site", "site")) if facts.get(key))
    draw.text((MARGIN, y), f"Baseline: {dates[0] or 'date unknown'}    Follow-up: {dates[1] or 'date unknown'}"
              + (f"    {case}" if case else ""), font=body, fill=TEXT)
    y += 28
    pictures = _pictures(result)
    for row in (pictures[:3], pictures[3:]):
        for index, (picture, caption) in enumerate(row):
            x = MARGIN + index * (PANEL + GAP)
            canvas.paste(_fit(picture), (x, y))
            draw.text((x, y + PANEL + 4), caption, font=small, fill=MUTED)
        y += PANEL + 30
    verdict = facts.get("verdict", "")
    pair = "the aligned pair" if facts.get("registration_ok") else "the pair (not aligned)"
    draw.text((MARGIN, y), f"Model verdict on {pair}: {verdict}", font=load_font(18, bold=True),
              fill=VERDICT_COLOURS.get(verdict, TEXT))
    y += 26
    for line in (facts.get("verdict_reason", ""), MEANING, facts.get("registration_message", "")):
        draw.text((MARGIN, y), _clip(line, 130), font=body, fill=TEXT)
        y += 22
    y = _table(draw, facts, MARGIN, y + 10, body)
    for line in _change_lines(facts):
        draw.text((MARGIN, y), _clip(line, 130), font=body, fill=TEXT)
        y += 22
    if facts.get("note"):
        draw.text((MARGIN, y), _clip(f"Reviewer note: {facts['note']}", 130), font=body, fill=TEXT)
        y += 22
    draw.text((MARGIN, y + 8), DISCLAIMER, font=load_font(15, bold=True), fill=TEXT)
    draw.text((MARGIN, y + 32), _clip(f"{APP_NAME} {__version__}, model {facts.get('model', {}).get('name')}, "
                                      f"created {facts.get('created', '')}", 130), font=small, fill=MUTED)
    return canvas.crop((0, 0, width, y + 32 + 20 + MARGIN))


def difference_image(baseline: np.ndarray, aligned: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Colour-coded Lab distance between the visits (0 .. DIFFERENCE_TOP), the follow-up's brightness and colour
    first matched to the baseline's on the common area (an exposure change is not a change of the lesion);
    grey where the follow-up has no pixels."""
    both = valid & (aligned.sum(-1) > 0)
    gain = np.ones(3)
    if both.any():
        gain = np.median(baseline[both].astype(np.float64), 0) / np.maximum(np.median(aligned[both], 0), 1.0)
    matched = np.clip(aligned * gain, 0, 255).astype(np.uint8)
    lab = [cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32) for image in (baseline, matched)]
    distance = np.sqrt(((lab[0] - lab[1]) ** 2).sum(-1))
    out = colorize(np.clip(distance / DIFFERENCE_TOP, 0, 1), "inferno")
    out[~both] = 128
    return out


def _pictures(result) -> list[tuple[np.ndarray, str]]:
    baseline, second = result.visits
    mask_b, mask_f = result.masks
    aligned = result.registration.ok
    first = _outlined(baseline, [(mask_b, OUTLINES["baseline"])])
    follow = _outlined(second, [(mask_b, OUTLINES["baseline"])] * aligned + [(mask_f, OUTLINES["follow-up"])])
    if aligned:
        difference = (difference_image(baseline, second, result.valid), "difference (Lab distance 0-40)")
    else:
        difference = (np.full_like(baseline, 235), "no difference image: registration failed")
    none = " (none: same image content)" if result.explanation.same_content else ""
    maps = []
    for index, name in enumerate(("baseline", "follow-up")):
        image = np.asarray(result.images[index].image)
        maps.append((blend(image, result.explanation.factual[index], "jet", 0.5), f"factual map, {name}{none}"))
    counter = (blend(np.asarray(result.images[1].image), result.explanation.counterfactual[1], "winter", 0.5),
               f"counterfactual map, follow-up{none}")
    return [(first, "baseline; outline cyan"),
            (follow, "follow-up aligned; yellow (cyan: baseline)" if aligned else "follow-up NOT aligned; yellow"),
            difference, *maps, counter]


def _outlined(rgb: np.ndarray, outlines) -> np.ndarray:
    out = np.ascontiguousarray(rgb).copy()
    thickness = max(1, round(max(rgb.shape[:2]) / 220))
    for mask, colour in outlines:
        if mask is None or mask.shape != rgb.shape[:2]:
            continue
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, colour, thickness)
    return out


def _fit(rgb: np.ndarray) -> Image.Image:
    picture = Image.fromarray(np.ascontiguousarray(rgb))
    factor = PANEL / max(picture.size)  # scaled up too: a 224 px dermoscopy image fills its panel
    picture = picture.resize((max(1, round(picture.width * factor)), max(1, round(picture.height * factor))),
                             Image.Resampling.BILINEAR)
    framed = Image.new("RGB", (PANEL, PANEL), (245, 245, 245))
    framed.paste(picture, ((PANEL - picture.width) // 2, (PANEL - picture.height) // 2))
    return framed


def _table(draw, facts: dict, x: int, y: int, font) -> int:
    columns = (x, x + 300, x + 470, x + 640)
    for column, header in zip(columns, ("measurement", "baseline", "follow-up", "follow-up / baseline"), strict=True):
        draw.text((column, y), header, font=load_font(15, bold=True), fill=TEXT)
    y += 24
    base, follow = (facts.get("measurements") or [{}, {}])[:2]
    ratios = {"area_px": ("area_change", "area_change_uncertainty"),
              "diameter_px": ("diameter_change", "diameter_change_uncertainty")}
    for key, label in ROWS:
        if base.get(key) is None and follow.get(key) is None:
            continue
        ratio = ""
        if key in ratios and facts.get(ratios[key][0]) is not None:
            ratio = f"{facts[ratios[key][0]]:.3f} +/- {facts[ratios[key][1]]:.3f}"
        for column, text in zip(columns, (label, _number(base.get(key)), _number(follow.get(key)), ratio), strict=True):
            draw.text((column, y), text, font=font, fill=TEXT)
        y += 21
    names = [", ".join(m.get("colour_names") or []) or "-" for m in (base, follow)]
    draw.text((x, y), _clip(f"colours: baseline {names[0]}; follow-up {names[1]}", 130), font=font, fill=MUTED)
    return y + 30


def _change_lines(facts: dict) -> list[str]:
    lines = []
    if facts.get("centroid_shift_px") is not None:
        lines.append(f"Lesion centre moved {facts['centroid_shift_px']:.1f} px against the skin "
                     f"(registration uncertainty about {facts.get('centroid_shift_uncertainty_px', 0):.1f} px).")
    size = facts.get("pixel_size_mm")
    lines.append(f"Pixel size {size:g} mm (baseline)." if size else "Pixel size unknown: measurements in pixels.")
    if facts.get("change_note"):
        lines.append(facts["change_note"])
    return lines


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
