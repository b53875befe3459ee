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

from core.explain.overlay import blend, colorize, draw_top_contour
from core.followup.measurements import shown_figure
from core.io.fonts import load_font
from core.io.text_wrap import wrapped
from core.review.report_layout import checked_map, scaled_to
from core.trust.verdict import MEANING, withholds
from core.version import APP_NAME, __version__
from core.vocabulary import DISCLAIMER

PANEL = 300  # px, each picture's side
MARGIN = 28
GAP = 16
TEXT, MUTED = (20, 20, 20), (95, 95, 95)
TITLE_LINE = 16  # px a line of the trend chart's 13 px title takes
OUTLINES = {"baseline": (0, 200, 255), "follow-up": (255, 220, 0)}  # cyan, yellow
DIFFERENCE_TOP = 40.0  # Lab distance shown at the top of the difference image's colour scale
ROWS = (("area_px", "area (px)"), ("area_mm2", "area (mm2)"), ("diameter_px", "longest diameter (px)"),
        ("diameter_mm", "longest diameter (mm)"), ("asymmetry", "asymmetry (0 = symmetric)"),
        ("border_irregularity", "border irregularity (1 = disc)"), ("colours", "dermoscopic colours"))


def followup_report_facts(result, model, record=None, when=None, note: str = "", assessment: str = "",
                          faithfulness: dict | None = None) -> dict:
    """Everything the follow-up report states, as JSON: app, time, case record (acquisition dates of both
    visits, the reviewer), the follow-up facts (core.followup.visits.followup_facts), the interval between the
    visits, the reviewer's assessment and note, the disclaimer, and the faithfulness check's curves of the maps
    drawn (core.explain.faithfulness; absent when no check judged them, and the maps then say so)."""
    from core.followup.visits import followup_facts
    from core.review.case_record import CaseRecord

    when = when or datetime.now().astimezone()
    facts = (record or CaseRecord()).facts()
    return {"app": {"name": APP_NAME, "version": __version__}, "created": when.isoformat(timespec="seconds"),
            **facts, **followup_facts(result, model), "interval_days": _interval(facts.get("acquired")),
            "assessment": assessment or "", "note": note or "", "disclaimer": DISCLAIMER,
            **({"faithfulness": faithfulness} if faithfulness is not None else {})}


def _interval(dates) -> int | None:
    """Days from the first to the last visit, None unless both dates are known."""
    from datetime import date

    if not dates or not dates[0] or not dates[-1]:
        return None
    return (date.fromisoformat(dates[-1]) - date.fromisoformat(dates[0])).days


def render(result, facts: dict) -> Image.Image:
    """The report page as an RGB picture."""
    width = 2 * MARGIN + 3 * PANEL + 2 * GAP
    canvas = Image.new("RGB", (width, 2200), "white")
    draw = ImageDraw.Draw(canvas)
    title, body, small = load_font(24, bold=True), load_font(15), load_font(13)
    y = MARGIN
    draw.text((MARGIN, y), "Lesion follow-up (sequential dermoscopy)", font=title, fill=TEXT)
    y += 36
    dates = facts.get("acquired") or [None, None]
    record = [f"{label}: {facts[key]}" for key, label in (("case_id", "case"), ("patient_id", "patient"),
                                                         ("body_site", "site")) if facts.get(key)]
    interval = facts.get("interval_days")
    draw.text((MARGIN, y), f"Baseline: {dates[0] or 'date unknown'}    Follow-up: {dates[-1] or 'date unknown'}"
              + (f"    interval {interval} days" if interval is not None else "    interval unknown"), font=body,
              fill=TEXT)
    y += 26
    # on lines of their own, wrapped (between fields where they fit): after the dates a long case id ran off the
    # page, and the patient with it
    lines: list[str] = []
    for field in record:
        joined = f"{lines[-1]} | {field}" if lines else field
        if lines and len(joined) <= 110:
            lines[-1] = joined
        else:
            lines.extend(_wrapped(field, 110))
    for line in lines:
        draw.text((MARGIN, y), line, font=body, fill=TEXT)
        y += 22
    if facts.get("visit_order") and len(facts.get("visits") or []) > 2:
        draw.text((MARGIN, y), _clip(f"{len(facts['visits'])} visits; {facts['visit_order']}", 130), font=body,
                  fill=MUTED)
        y += 22
    # what changed leads, in plain black: the model's verdict follows in smaller, neutral type
    for line in _wrapped(f"What changed: {facts.get('change_headline') or '-'}", 78):
        draw.text((MARGIN, y), line, font=load_font(20, bold=True), fill=TEXT)
        y += 28
    y += 6
    pictures = _pictures(result)
    same_content = bool(result.explanation.same_content)
    for row in (pictures[:3], pictures[3:]):
        for index, (picture, caption, is_map) in enumerate(row):
            x = MARGIN + index * (PANEL + GAP)
            panel = _fit(picture)
            if is_map:  # the check's answer on the map itself, by the pair report's rule
                panel = checked_map(np.asarray(panel), facts.get("faithfulness"), same_content)
            canvas.paste(panel, (x, y))
            draw.text((x, y + PANEL + 4), caption, font=small, fill=MUTED)
        y += PANEL + 30
    y = _table(draw, facts, MARGIN, y, body)
    for fact in _change_lines(facts):
        for index, line in enumerate(_wrapped(fact, 110)):
            draw.text((MARGIN + (0 if index == 0 else 20), y), line, font=body, fill=TEXT)
            y += 22
    if len(facts.get("visits") or []) > 2:
        chart = trend_chart(facts["visits"], (width - 2 * MARGIN, 300))
        canvas.paste(chart, (MARGIN, y + 6))
        y += chart.height + 14
    verdict = facts.get("verdict", "")
    pair = "the aligned pair" if facts.get("registration_ok") else "the pair (not aligned)"
    draw.text((MARGIN, y + 6), f"Model's verdict on {pair} (a likeness to the model, not a change): {verdict}",
              font=load_font(15, bold=True), fill=MUTED)
    y += 30
    # wrapped, never clipped: the registration's message ends with its error, a refusal with its reason
    for fact in (facts.get("verdict_reason", ""), MEANING, facts.get("registration_message", ""),
                 f"Maps: {facts.get('method', '-')}; faithfulness: {_faithfulness_words(facts)}"):
        for index, line in enumerate(_wrapped(fact, 125)):
            draw.text((MARGIN + (0 if index == 0 else 20), y), line, font=small, fill=MUTED)
            y += 20
    y = _reviewer_block(draw, facts, MARGIN, y + 10, body, width)
    draw.text((MARGIN, y + 8), DISCLAIMER, font=load_font(15, bold=True), fill=TEXT)
    draw.text((MARGIN, y + 32), _clip(f"{APP_NAME} {__version__}, model {facts.get('model', {}).get('name')}, "
                                      f"created {facts.get('created', '')}", 130), font=small, fill=MUTED)
    return canvas.crop((0, 0, width, y + 32 + 20 + MARGIN))


def trend_chart(visits: list, size: tuple[int, int]) -> Image.Image:
    """Area and longest diameter of each visit relative to the baseline over days since it (the visit number when a
    date is missing), each with its band of +- one standard uncertainty; a visit without figures leaves a gap."""
    from core.followup.history import trend

    series = trend(visits)
    width, height = size
    small = load_font(13)
    # wrapped to the chart: one line was cut at the right of the follow-up dock's 560 px chart
    title = wrapped("Relative to the baseline (x1.00), band: +- one standard uncertainty;  area (blue), longest "
                    f"diameter (red) over {series['x_label']}", small, width - 16)
    left, right, top, bottom = 70, 20, 18 + TITLE_LINE * len(title), 40
    chart = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(chart)
    known = [(x, v) for name in ("area", "diameter") for x, v in zip(series["x"], series[name], strict=True) if v]
    lows = [v[0] - v[1] for _, v in known] + [1.0]
    highs = [v[0] + v[1] for _, v in known] + [1.0]
    y0, y1 = min(lows) - 0.02, max(highs) + 0.02
    x0, x1 = min(series["x"]), max(series["x"])
    x1 = x1 if x1 > x0 else x0 + 1

    def at(x, y):
        return (left + (x - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom))

    draw.rectangle([left, top, width - right, height - bottom], outline=MUTED)
    for k in range(5):
        value = y0 + (y1 - y0) * k / 4
        draw.text((6, at(x0, value)[1] - 7), f"x{value:.2f}", font=small, fill=MUTED)
    draw.line([at(x0, 1.0), at(x1, 1.0)], fill=(200, 200, 200))
    for x in series["x"]:
        draw.text((at(x, y0)[0] - 8, height - bottom + 6), f"{x:g}", font=small, fill=MUTED)
    for name, colour in (("area", (31, 119, 180)), ("diameter", (214, 39, 40))):
        points = [(x, v) for x, v in zip(series["x"], series[name], strict=True) if v]
        band = [at(x, v[0] + v[1]) for x, v in points] + [at(x, v[0] - v[1]) for x, v in reversed(points)]
        if len(band) >= 3:
            overlay = Image.new("RGBA", size, (0, 0, 0, 0))
            ImageDraw.Draw(overlay).polygon(band, fill=(*colour, 50))
            chart.paste(overlay, (0, 0), overlay)
            draw = ImageDraw.Draw(chart)
        line = [at(x, v[0]) for x, v in points]
        if len(line) > 1:
            draw.line(line, fill=colour, width=3)
        for px, py in line:
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
    for k, words in enumerate(title):
        draw.text((8, 6 + TITLE_LINE * k), words, font=small, fill=TEXT)
    return chart


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


def _faithfulness_words(facts: dict) -> str:
    from core.trust.checks import faithfulness_text

    if facts.get("extrapolated"):
        return "none: the maps are withheld, the pair not assessed"
    return faithfulness_text(facts.get("faithfulness"))


def _pictures(result) -> list[tuple[np.ndarray, str, bool]]:
    """Each panel's picture, caption, and whether it shows a map (then it carries the check's mark)."""
    baseline, second = result.visits
    mask_b, mask_f = result.masks
    aligned = result.registration.ok
    first = _outlined(baseline, [(mask_b, OUTLINES["baseline"])])
    follow = _outlined(second, [(mask_b, OUTLINES["baseline"])] * aligned + [(mask_f, OUTLINES["follow-up"])])
    follow_caption = "follow-up aligned; yellow (cyan: baseline)" if aligned else "follow-up NOT aligned; yellow"
    if aligned:
        difference = (difference_image(baseline, second, result.valid), "difference (Lab distance 0-40)")
    else:
        difference = (np.full_like(baseline, 235), "no difference image: registration failed")
    none = " (none: same image content)" if result.explanation.same_content else ""
    if withholds(result.explanation.verdict, result.explanation.in_domain):  # as every picture of a pair does
        blank = np.full_like(baseline, 235)
        return [(first, "baseline; outline cyan", False), (follow, follow_caption, False), (*difference, False),
                *[(blank, f"{layer} map withheld: pair not assessed", False)
                  for layer in ("factual", "factual", "counterfactual")]]
    maps = []
    for index, name in enumerate(("baseline", "follow-up")):
        image = _panel_sized(result.images[index].image)  # the outline drawn at the page's resolution, thin
        factual = result.explanation.factual[index]
        maps.append((draw_top_contour(blend(image, factual, "jet", 0.5), factual), f"factual map, {name}{none}",
                     True))
    counter = (blend(_panel_sized(result.images[1].image), result.explanation.counterfactual[1], "winter", 0.5),
               f"counterfactual map, follow-up{none}", True)
    return [(first, "baseline; outline cyan", False), (follow, follow_caption, False), (*difference, False), *maps,
            counter]


def _panel_sized(picture: Image.Image) -> np.ndarray:
    """The picture as large as its panel draws it (as _fit scales it)."""
    return np.asarray(scaled_to(picture, PANEL))


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
    # scaled up too: a 224 px dermoscopy image fills its panel
    picture = scaled_to(Image.fromarray(np.ascontiguousarray(rgb)), PANEL)
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
        if key in ratios:  # a dash: no change figure (visits not registered, or an outline missing)
            ratio = (f"{facts[ratios[key][0]]:.2f} +/- {facts[ratios[key][1]]:.2f}"  # as the dock says it
                     if facts.get(ratios[key][0]) is not None else "-")
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
    lines += _scale_lines(facts)
    if facts.get("change_note"):
        lines.append(facts["change_note"])
    return lines


def _scale_lines(facts: dict) -> list[str]:
    """Where the mm figures' scale came from (core.followup.visits.scale_words): the baseline's and the follow-up's,
    and a history's visit between them measured on its own scale (not registered)."""
    said = facts.get("scale")
    if not said:  # facts of a version before the scale was kept
        size = facts.get("pixel_size_mm")
        return [f"Pixel size {size:g} mm (baseline)." if size else "Pixel size unknown: measurements in pixels."]
    lines = [said]
    for visit in (facts.get("visits") or [])[1:-1]:
        scale = (visit.get("measurements") or {}).get("pixel_scale") or {}
        if scale and not scale.get("on_baseline_grid"):
            lines.append(f"Scale of V{visit['visit']} (not registered): {scale['said']}")
    return lines


def _reviewer_block(draw, facts: dict, x: int, y: int, font, width: int) -> int:
    """Who reviewed the follow-up, their assessment and note: blank lines to fill in by hand when not given."""
    draw.line([(x, y), (width - x, y)], fill=MUTED)
    y += 8
    draw.text((x, y), "Reviewer", font=load_font(16, bold=True), fill=TEXT)
    y += 24
    for label, value in (("Name", facts.get("reviewer")), ("Assessment", facts.get("assessment")),
                         ("Note", facts.get("note"))):
        if value:
            for index, line in enumerate(_wrapped(f"{label}: {value}", 120)):
                draw.text((x + (0 if index == 0 else 20), y), line, font=font, fill=TEXT)
                y += 21
        else:
            draw.text((x, y), f"{label}:", font=font, fill=TEXT)
            draw.line([(x + 110, y + 17), (width - x, y + 17)], fill=MUTED)
            y += 26
    return y + 6


def _wrapped(text: str, limit: int) -> list[str]:
    import textwrap

    return textwrap.wrap(" ".join(str(text).split()), limit) or [""]


def _number(value) -> str:
    return "-" if value is None else shown_figure(value)


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
