"""How a pair report looks: the picture drawn from a report's facts (core.review.report.report_facts) and the explained
pair. Everything it states comes from the facts, so the PNG and its JSON sidecar cannot disagree. No Qt, no torch.

Each image is shown as explained (cropped) with its chosen layers; a cropped image also gets a small overview of
the whole image with the crop box drawn. Maps smaller than their image are resized to the panel when drawn.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from core.explain.overlay import blend, colour_ramp, draw_top_contour, hatch
from core.explain.refine import method_words
from core.io.fonts import load_font
from core.io.text_wrap import note_lines
from core.trust.checks import (
    INCONCLUSIVE,
    INCONCLUSIVE_MARK,
    UNCHECKED_REPORT_MARK,
    UNFAITHFUL,
    UNFAITHFUL_MARK,
    check_verdict,
)
from core.trust.verdict import COLOURS as VERDICT_COLOURS
from core.trust.verdict import MEANING, SHOWN_ANYWAY_LINE, WITHHELD_LINE
from core.version import APP_NAME
from core.vocabulary import LAYERS

PANEL = 520  # longest side of each image in the report, in pixels
MARGIN = 28
WIDTH = 2 * PANEL + 3 * MARGIN
THUMB = 130  # longest side of the small unannotated copy of each image (and of the whole-image overview)
OVERVIEW = THUMB
BELOW_PANEL = 8 + 48 + THUMB + 8  # the two text lines, then the copies, under a panel
# A map drawn over a lesion at full opacity hides the lesion it explains: a report draws at most this opacity.
MAX_OPACITY = 0.6
TEXT = (20, 20, 20)
MUTED = (95, 95, 95)
RULE = (200, 200, 200)
CROP_BOX = (230, 30, 30)
RECORD_ROWS = 3  # the case record's two columns of three fields
RECORD_CHARS = 44  # a field's line; a longer value (a worklist's case id) wraps, up to RECORD_LINES lines
RECORD_LINES = 4
TECH_LINE = 20
LAYER_MEANINGS = {"factual": "where the evidence for the score's leaning lies (towards alike or unlike)",
                  "counterfactual": "where the evidence against it lies"}


def panel_top(facts: dict) -> int:
    """y of the image panels' row (below the header, the case record, the verdict, the line saying why numbers and
    maps are withheld or shown anyway, and the captions)."""
    return MARGIN + 44 + _record_height(facts) + 16 + 42 + 26 + 26 + (26 if withheld_line(facts) else 0) + 10 + 30


def _record_layout(facts: dict) -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """The case record's rows: each its height in lines and its two fields (label, value's lines). A value is
    wrapped, never cut at RECORD_CHARS: an identifier clipped on a clinical document ("C-913 follow-up of the
    left scapula naevus,...") can name another case."""
    fields = _record_rows(facts)
    rows = []
    for r in range(RECORD_ROWS):
        cells = [(label, _record_value_lines(value)) for label, value in (fields[r], fields[r + RECORD_ROWS])]
        rows.append((max(len(lines) for _label, lines in cells), cells))
    return rows


def _record_value_lines(value: str) -> list[str]:
    lines = textwrap.wrap(" ".join(value.split()), RECORD_CHARS, break_long_words=True) or ["-"]
    if len(lines) > RECORD_LINES:  # past four lines (MAX_FIELD allows 120 characters), the page says it goes on
        lines = lines[:RECORD_LINES - 1] + [_clip(lines[RECORD_LINES - 1], RECORD_CHARS)[:-1] + "…"]
    return lines


def _record_height(facts: dict) -> int:
    return 24 * sum(height for height, _cells in _record_layout(facts))


def withheld_line(facts: dict) -> str:
    """Why a not-assessed pair's page shows no similarity and no maps, or that the reviewer chose to see them; ""
    for any other pair."""
    if facts.get("withheld"):
        return WITHHELD_LINE
    return SHOWN_ANYWAY_LINE if facts.get("shown_anyway") else ""


def render(explanation, images, facts: dict) -> Image.Image:
    """The report page: header and case record; the verdict in words; both images with their maps, a small
    unannotated copy and (when cropped) the whole image; what the colours mean; the reviewer's assessment and
    note; the disclaimer; then, smaller, the technical facts."""
    panels = [_panel(loaded, explanation, i, facts) for i, loaded in enumerate(images)]
    legends = _legend_layers(facts)
    note_font, tech_font = load_font(17), load_font(13)
    wrapped = note_lines(facts["note"], note_font, WIDTH - 2 * MARGIN) if facts["note"] else []
    tech = _fact_lines(facts)
    top = panel_top(facts)
    height = (top + PANEL + BELOW_PANEL + 10 + 34 * len(legends) + 12 + 28 + 24 * len(wrapped) + 16 + 40
              + 30 + TECH_LINE * len(tech) + MARGIN)
    canvas = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(canvas)
    y = MARGIN
    draw.text((MARGIN, y), f"{APP_NAME}: image comparison report", font=load_font(26, bold=True), fill=TEXT)
    draw.text((WIDTH - MARGIN, y + 8), facts["created"], font=load_font(15), fill=MUTED, anchor="ra")
    y += 44
    for height, cells in _record_layout(facts):
        for column, (label, lines) in enumerate(cells):
            x = MARGIN + column * (WIDTH // 2)
            draw.text((x, y), label, font=load_font(16, bold=True), fill=TEXT)
            for index, line in enumerate(lines):
                draw.text((x + 150, y + 24 * index), line, font=load_font(16), fill=TEXT)
        y += 24 * height
    y += 8
    draw.line((MARGIN, y, WIDTH - MARGIN, y), fill=RULE)
    y += 8
    # The verdict heads the findings, in green or red only when the model decides (core.trust.verdict).
    label = facts["verdict"]
    draw.text((MARGIN, y), f"Verdict: {label}", font=load_font(30, bold=True), fill=VERDICT_COLOURS[label])
    y += 42
    draw.text((MARGIN, y), _clip(facts["verdict_reason"], 120), font=load_font(17), fill=TEXT)
    y += 26
    draw.text((MARGIN, y), MEANING, font=load_font(15), fill=MUTED)
    if withheld_line(facts):
        y += 26
        draw.text((MARGIN, y), _clip(withheld_line(facts), 120), font=load_font(17, bold=True), fill=TEXT)
    y = panel_top(facts) - 30  # the captions' row (panel_top is what tests and readers locate the panels by)
    for i, (panel, loaded, image_facts) in enumerate(zip(panels, images, facts["images"], strict=True)):
        x = MARGIN + i * (PANEL + MARGIN)
        draw.text((x, y), _caption(i, image_facts, facts), font=load_font(16, bold=True), fill=TEXT)
        ox, oy = x + (PANEL - panel.width) // 2, y + 30 + (PANEL - panel.height) // 2
        canvas.paste(panel, (ox, oy))
        draw.rectangle((ox - 1, oy - 1, ox + panel.width, oy + panel.height), outline=(180, 180, 180))
        below = y + 30 + PANEL + 8
        draw.text((x, below), _layer_text(image_facts, facts), font=load_font(15), fill=MUTED)
        draw.text((x, below + 22), _crop_text(image_facts), font=load_font(15), fill=MUTED)
        left = x
        for picture in (_plain(loaded), _overview(loaded)):  # the unannotated copy, then the whole image
            if picture is None:
                continue
            canvas.paste(picture, (left, below + 48))
            draw.rectangle((left - 1, below + 47, left + picture.width, below + 48 + picture.height), outline=RULE)
            left += picture.width + 12
    y += 30 + PANEL + BELOW_PANEL + 10
    for layer in legends:
        _legend(draw, canvas, MARGIN, y, layer, facts["colormaps"][layer])
        y += 34
    y += 12
    draw.text((MARGIN, y), "Reviewer's assessment", font=load_font(17, bold=True), fill=TEXT)
    draw.text((MARGIN + 230, y), _reviewer_text(facts), font=load_font(17), fill=TEXT)
    y += 28
    for line in wrapped:
        draw.text((MARGIN, y), line, font=note_font, fill=TEXT)
        y += 24
    y += 16
    draw.rectangle((MARGIN, y, WIDTH - MARGIN, y + 30), outline=(170, 40, 30), width=2)
    draw.text((MARGIN + 10, y + 6), facts["disclaimer"], font=load_font(16, bold=True), fill=(170, 40, 30))
    y += 40
    draw.line((MARGIN, y, WIDTH - MARGIN, y), fill=RULE)
    draw.text((MARGIN, y + 6), "Technical details", font=load_font(14, bold=True), fill=MUTED)
    y += 30
    for label, value in tech:
        draw.text((MARGIN, y), label, font=load_font(13, bold=True), fill=MUTED)
        draw.text((MARGIN + 150, y), _clip(value, 125), font=tech_font, fill=MUTED)
        y += TECH_LINE
    return canvas


def _record_rows(facts: dict) -> list[tuple[str, str]]:
    """The case record, every field shown ("-" where not given), so a reader sees what is missing."""
    acquired = facts.get("acquired") or [None, None]
    return [("Case", facts.get("case_id") or "-"), ("Patient", facts.get("patient_id") or "-"),
            ("Body site", facts.get("body_site") or "-"), ("Image 1 taken", acquired[0] or "-"),
            ("Image 2 taken", acquired[1] or "-"), ("Reviewer", facts.get("reviewer") or "-")]


def _reviewer_text(facts: dict) -> str:
    verdict = facts.get("reviewer_verdict")
    if verdict is None:
        return "none recorded" + ("" if facts["note"] else " (no note)")
    return f"{verdict}s with the model's verdict ({facts['verdict']})"


def _panel(loaded, explanation, index: int, facts: dict) -> Image.Image:
    """The (cropped) image with its chosen layers, scaled to fit PANEL x PANEL with its aspect ratio kept."""
    width, height = loaded.image.size
    scale = PANEL / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = loaded.image if loaded.image.mode == "RGB" else loaded.image.convert("RGB")  # convert() copies
    rgb = np.asarray(picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
    maps = {"factual": explanation.factual[index], "counterfactual": explanation.counterfactual[index]}
    layers = facts["images"][index]["layers"]
    shown = [] if facts.get("withheld") else [name for name in LAYERS if min(layers.get(name, 0.0), MAX_OPACITY) > 0]
    for name in shown:  # counterfactual drawn over factual, as the GUI stacks them; none when withheld
        opacity = min(facts["images"][index]["layers"][name], MAX_OPACITY)
        rgb = blend(rgb, maps[name], facts["colormaps"][name], opacity)  # the map resized to the panel
    if "factual" in shown:  # the regions that carry the score: the factual map's top fifth
        rgb = draw_top_contour(rgb, maps["factual"])
    if not shown:
        return Image.fromarray(rgb)
    return checked_map(rgb, facts.get("faithfulness"), bool(facts.get("same_content")))


def checked_map(rgb: np.ndarray, faithfulness: dict | None, same_content: bool = False) -> Image.Image:
    """A picture that shows a map, marked with what the faithfulness check said of that map: every report that
    draws a map (the pair's, the follow-up's) marks it by this one rule, as the window does. The words go in a band
    below the picture, never over it (a lesion at the crop's bottom edge stays whole); the picture is shrunk to
    make room, so the panel keeps its size."""
    verdict = check_verdict(faithfulness)
    if verdict == UNFAITHFUL:  # the check failed: marked on the image itself
        return _mark(rgb, UNFAITHFUL_MARK, hatched=True)
    if verdict == INCONCLUSIVE:  # the check could not tell: said under the image, without the hatch
        return _mark(rgb, INCONCLUSIVE_MARK)
    if verdict is None and not same_content:  # not judged: said so, as the window does
        return _mark(rgb, UNCHECKED_REPORT_MARK)
    return Image.fromarray(rgb)


MARK_BAND = 34  # px: the band under a checked map that carries the check's words


def _mark(rgb: np.ndarray, text: str, hatched: bool = False) -> Image.Image:
    """The picture shrunk (aspect kept; hatched after, so its lines stay crisp) above a dark band carrying `text`,
    in a panel of the picture's own size."""
    height, width = rgb.shape[:2]
    band = min(MARK_BAND, height // 3)
    scale = (height - band) / height
    shrunk = np.asarray(Image.fromarray(rgb).resize((max(1, round(width * scale)), height - band),
                                                    Image.Resampling.BILINEAR))
    panel = Image.new("RGB", (width, height), (255, 255, 255))
    panel.paste(Image.fromarray(hatch(shrunk) if hatched else shrunk), ((width - shrunk.shape[1]) // 2, 0))
    draw = ImageDraw.Draw(panel)
    size = 18
    font = load_font(size, bold=True)
    while size > 10 and draw.textlength(text, font=font) > width - 8:  # a small panel: the words fit whole
        size -= 1
        font = load_font(size, bold=True)
    draw.rectangle((0, height - band, width, height), fill=(30, 30, 30))
    draw.text((width // 2, height - band // 2), text, font=font, fill=(255, 220, 90), anchor="mm")
    return panel


def scaled_to(picture: Image.Image, side: int) -> Image.Image:
    """`picture` as RGB, scaled up or down (bilinear, aspect kept) to `side` px on its longer side: how the
    follow-up and similar-case reports size a picture to its panel."""
    factor = side / max(picture.size)
    size = (max(1, round(picture.width * factor)), max(1, round(picture.height * factor)))
    return picture.convert("RGB").resize(size, Image.Resampling.BILINEAR)


def _plain(loaded) -> Image.Image:
    """The image as explained, small and without any map: what the lesion looks like under the colours."""
    picture = loaded.image.convert("RGB")
    picture.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR)
    return picture


def _overview(loaded) -> Image.Image | None:
    """The whole image, small, with the crop box drawn; None for an image shown whole."""
    if loaded.crop is None or getattr(loaded, "overview", None) is None:
        return None
    picture = loaded.overview.convert("RGB")
    picture.thumbnail((OVERVIEW, OVERVIEW), Image.Resampling.BILINEAR)
    factor = picture.width / loaded.original_size[0]
    x, y, w, h = loaded.crop
    left, top = round(x * factor), round(y * factor)
    # at least one pixel: a crop of an image far wider than tall spans under one overview pixel (Pillow refuses a
    # box whose far corner lies before its near one)
    box = (left, top, max(left, round((x + w) * factor) - 1), max(top, round((y + h) * factor) - 1))
    ImageDraw.Draw(picture).rectangle(box, outline=CROP_BOX, width=2)
    return picture


def _legend_layers(facts: dict) -> list[str]:
    """The layers drawn on either image (the factual one when none is), each gets its colour ramp; none when the maps
    are withheld."""
    if facts.get("withheld"):
        return []
    shown = [name for name in LAYERS if any(image["layers"].get(name, 0) > 0 for image in facts["images"])]
    return shown or ["factual"]


def _legend(draw: ImageDraw.ImageDraw, canvas: Image.Image, x: int, y: int, layer: str, colormap: str) -> None:
    bar_width, bar_height, bar_x = 220, 18, x + 230
    canvas.paste(Image.fromarray(np.repeat(colour_ramp(colormap, bar_width)[None], bar_height, axis=0)), (bar_x, y))
    font = load_font(15)
    draw.text((x, y), f"{layer} ({colormap}):", font=load_font(15, bold=True), fill=TEXT)
    draw.text((bar_x - 6, y + bar_height // 2), "0", font=font, fill=TEXT, anchor="rm")
    draw.text((bar_x + bar_width + 6, y + bar_height // 2), f"1   {LAYER_MEANINGS[layer]}",
              font=font, fill=TEXT, anchor="lm")


def _number(value) -> str:
    """A metric as read: a count as an integer ("pairs 760"), a rate with three decimals ("auc 0.951")."""
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def _fact_lines(facts: dict) -> list[tuple[str, str]]:
    model = facts["model"]
    metrics = model.get("test_metrics") or {}
    quality = ", ".join(f"{k} {_number(v)}" for k, v in metrics.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool))
    if model["untrained"]:
        quality = "UNTRAINED model: scores are meaningless"
    similarity = (f"{100 * facts['similarity']:.1f} % (model threshold {100 * facts['threshold']:.1f} %, "
                  f"distance {facts['distance']:.4f}; not the verdict)")
    return [
        ("Similarity", "withheld (not assessed)" if facts.get("withheld") else similarity),
        ("Method", method_words(facts["method"], facts.get("refined_from", ""))),
        ("Model", f"{model['name']} ({model['architecture']}, {model['input_size']} px)"),
        ("Model sha256", model["sha256"] or "(not recorded)"),
        ("Test metrics", quality or "(none recorded)"),
    ] + _trust_lines(facts) + [(f"Image {i + 1} is", _similar_case_text(image["similar_case"]))
         for i, image in enumerate(facts["images"]) if image.get("similar_case")] + [
        row for i, image in enumerate(facts["images"]) for row in (
            (f"Image {i + 1} file", _clip_start(image["path"] or "(pasted, no file)", 120)),
            (f"Image {i + 1} sha256", f"{image['sha256']} (of the {image['sha256_of']})"))] + [
        ("Timing", _timing(facts["timings_ms"])),
        ("Software", f"{facts['app']['name']} {facts['app']['version']}")]


def _timing(timings: dict) -> str:
    """The first map's time, and the refinement's when the map carried is the refined one (it took both)."""
    refined = f", refined in {timings['refine']:.0f} ms" if "refine" in timings else ""
    return f"{timings.get('total', 0):.0f} ms{refined}"


def _trust_lines(facts: dict) -> list[tuple[str, str]]:
    from core.trust.checks import faithfulness_text
    from core.trust.verdict import domain_unchecked_text, shown_probability

    lines = []
    band = facts["model"].get("verdict_band")
    if facts.get("probability_same") is not None and facts.get("withheld"):
        lines.append(("P(same class)", "withheld (not assessed)"))
    elif facts.get("probability_same") is not None:
        shown = shown_probability(facts["probability_same"], tuple(band) if band else None)
        lines.append(("P(same class)", f"{shown} (calibrated on validation pairs)"))
    if band:
        lines.append(("Verdict band", f"inconclusive for P(same class) {100 * band[0]:.0f}-{100 * band[1]:.0f} %"))
    if facts.get("in_domain") is not None:
        inside = all(facts["in_domain"])
        lines.append(("Domain", "both images inside the model's domain" if inside else facts["verdict_reason"].upper()))
    else:  # whatever the verdict: the reason line above may be clipped
        lines.append(("Domain", facts.get("domain_unchecked") or domain_unchecked_text()))
    if facts.get("same_content"):
        lines.append(("Maps", "none: the two images have the same content"))
    if facts.get("withheld") or facts.get("same_content"):  # no maps drawn: nothing to judge
        return lines
    lines.append(("Faithfulness", faithfulness_text(facts.get("faithfulness"))))
    return lines


def _similar_case_text(origin: dict) -> str:
    label = f", label {origin['label']}" if origin.get("label") is not None else ""
    query = Path(origin["query"]).name if origin.get("query") else "the query"
    return f"similar case #{origin['rank']} of {query} ({100 * origin['similarity']:.1f} %{label})"


def _caption(index: int, image: dict, facts: dict) -> str:
    name = Path(image["path"]).name if image["path"] else "(pasted image)"
    taken = (facts.get("acquired") or [None, None])[index]
    return _clip(f"Image {index + 1}: {name}" + (f", taken {taken}" if taken else ""), 56)


def _layer_text(image: dict, facts: dict) -> str:
    if facts.get("withheld"):
        return "Overlays: withheld (not assessed)"
    shown = [f"{name} {round(100 * min(o, MAX_OPACITY))} %" for name, o in image["layers"].items() if o > 0]
    return "Overlays: " + (", ".join(shown) if shown else "none")


def _crop_text(image: dict) -> str:
    """In the file's pixels (a huge file was downsampled on load by its scale)."""
    w, h = image["original_size"]
    if not image["crop"]:
        return f"Whole image, {w} x {h} px"
    x, y, cw, ch = (round(v * image.get("scale", 1.0)) for v in image["crop"])
    return f"Crop x={x} y={y} w={cw} h={ch} of {w} x {h} px"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip_start(text: str, limit: int) -> str:
    """A path keeps its end (the file's name) when shortened."""
    return text if len(text) <= limit else "…" + text[-(limit - 1):]
