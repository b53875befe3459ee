"""How a pair report looks: the picture drawn from a report's facts (core.report.report_facts) and the explained
pair. Everything it states comes from the facts, so the PNG and its JSON sidecar cannot disagree. No Qt, no torch.

Each image is shown as explained (cropped) with its chosen layers; a cropped image also gets a small overview of
the whole image with the crop box drawn. Maps smaller than their image are resized to the panel when drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .fonts import load_font
from .overlay import blend, colour_ramp
from .version import APP_NAME
from .vocabulary import LAYERS

PANEL = 520  # longest side of each image in the report, in pixels
MARGIN = 28
BELOW_PANEL = 60  # the two text lines under a panel
OVERVIEW = 120  # longest side of the whole-image overview beside a cropped image
TEXT = (20, 20, 20)
MUTED = (95, 95, 95)
CROP_BOX = (230, 30, 30)
NOTE_LINES = 40  # of the drawn note; the JSON sidecar keeps all of it
NOTE_CHARS = 4000
DECISION_COLOURS = {"similar": (20, 120, 50), "different": (170, 40, 30)}


def render(explanation, images, facts: dict) -> Image.Image:
    panels = [_panel(loaded, explanation, i, facts) for i, loaded in enumerate(images)]
    overviews = [_overview(loaded) for loaded in images]
    below = max([BELOW_PANEL] + [o.height + 16 for o in overviews if o is not None])
    legends = _legend_layers(facts)
    width = 2 * PANEL + 3 * MARGIN
    lines = _fact_lines(facts)
    note_font = load_font(17)
    note_lines = _note_lines(facts["note"], note_font, width - 2 * MARGIN) if facts["note"] else []
    height = (MARGIN + 40 + 44 + 30 + PANEL + below + 34 * len(legends) + 12 + 26 * len(lines)
              + 24 * len(note_lines) + 36 + MARGIN)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    y = MARGIN
    draw.text((MARGIN, y), f"{APP_NAME} report", font=load_font(26, bold=True), fill=TEXT)
    stamp = f"{facts['created']}  ·  {APP_NAME} {facts['app']['version']}"
    draw.text((width - MARGIN, y + 8), stamp, font=load_font(15), fill=MUTED, anchor="ra")
    y += 40
    decision = facts["decision"]
    headline = f"Similarity {100 * facts['similarity']:.1f} %  ·  {decision.upper()}"
    draw.text((MARGIN, y), headline, font=load_font(30, bold=True), fill=DECISION_COLOURS.get(decision, TEXT))
    y += 44
    for i, (panel, overview, image_facts) in enumerate(zip(panels, overviews, facts["images"])):
        x = MARGIN + i * (PANEL + MARGIN)
        draw.text((x, y), _caption(i, image_facts), font=load_font(16, bold=True), fill=TEXT)
        ox, oy = x + (PANEL - panel.width) // 2, y + 30 + (PANEL - panel.height) // 2
        canvas.paste(panel, (ox, oy))
        draw.rectangle((ox - 1, oy - 1, ox + panel.width, oy + panel.height), outline=(180, 180, 180))
        draw.text((x, y + 30 + PANEL + 8), _layer_text(image_facts), font=load_font(15), fill=MUTED)
        draw.text((x, y + 30 + PANEL + 30), _crop_text(image_facts), font=load_font(15), fill=MUTED)
        if overview is not None:  # right-aligned under the panel, beside the crop's text
            vx, vy = x + PANEL - overview.width, y + 30 + PANEL + 8
            canvas.paste(overview, (vx, vy))
            draw.rectangle((vx - 1, vy - 1, vx + overview.width, vy + overview.height), outline=(180, 180, 180))
    y += 30 + PANEL + below
    for layer in legends:
        _legend(draw, canvas, MARGIN, y, layer, facts["colormaps"][layer])
        y += 34
    y += 12
    for label, value in lines:
        draw.text((MARGIN, y), label, font=load_font(17, bold=True), fill=TEXT)
        draw.text((MARGIN + 190, y), value, font=load_font(17), fill=TEXT)
        y += 26
    for line in note_lines:
        draw.text((MARGIN, y), line, font=note_font, fill=TEXT)
        y += 24
    y += 12
    draw.line((MARGIN, y, width - MARGIN, y), fill=(200, 200, 200))
    draw.text((MARGIN, y + 6), facts["disclaimer"], font=load_font(15), fill=MUTED)
    return canvas


def _panel(loaded, explanation, index: int, facts: dict) -> Image.Image:
    """The (cropped) image with its chosen layers, scaled to fit PANEL x PANEL with its aspect ratio kept."""
    width, height = loaded.image.size
    scale = PANEL / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = loaded.image if loaded.image.mode == "RGB" else loaded.image.convert("RGB")  # convert() copies
    rgb = np.asarray(picture.resize(size, Image.LANCZOS, reducing_gap=3.0))
    maps = {"factual": explanation.factual[index], "counterfactual": explanation.counterfactual[index]}
    for name in LAYERS:  # counterfactual drawn over factual, as the GUI stacks them
        opacity = facts["images"][index]["layers"].get(name, 0.0)
        if opacity > 0:
            rgb = blend(rgb, maps[name], facts["colormaps"][name], opacity)  # the map resized to the panel
    return Image.fromarray(rgb)


def _overview(loaded) -> Image.Image | None:
    """The whole image, small, with the crop box drawn; None for an image shown whole."""
    if loaded.crop is None or getattr(loaded, "overview", None) is None:
        return None
    picture = loaded.overview.convert("RGB")
    picture.thumbnail((OVERVIEW, OVERVIEW), Image.BILINEAR)
    factor = picture.width / loaded.original_size[0]
    x, y, w, h = loaded.crop
    box = (round(x * factor), round(y * factor), round((x + w) * factor) - 1, round((y + h) * factor) - 1)
    ImageDraw.Draw(picture).rectangle(box, outline=CROP_BOX, width=2)
    return picture


def _legend_layers(facts: dict) -> list[str]:
    """The layers drawn on either image (the factual one when none is), each gets its colour ramp."""
    shown = [name for name in LAYERS if any(image["layers"].get(name, 0) > 0 for image in facts["images"])]
    return shown or ["factual"]


def _legend(draw: ImageDraw.ImageDraw, canvas: Image.Image, x: int, y: int, layer: str, colormap: str) -> None:
    bar_width, bar_height, bar_x = 300, 18, x + 230
    canvas.paste(Image.fromarray(np.repeat(colour_ramp(colormap, bar_width)[None], bar_height, axis=0)), (bar_x, y))
    font = load_font(15)
    draw.text((x, y), f"{layer} ({colormap}):", font=load_font(15, bold=True), fill=TEXT)
    draw.text((bar_x - 6, y + bar_height // 2), "0", font=font, fill=TEXT, anchor="rm")
    draw.text((bar_x + bar_width + 6, y + bar_height // 2), "1  map value (relevance, transparent at 0)",
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
    return [
        ("Decision", f"{facts['decision']} (threshold {100 * facts['threshold']:.1f} %, "
                     f"distance {facts['distance']:.4f})"),
        ("Method", facts["method"]),
        ("Model", f"{model['name']} ({model['architecture']}, {model['input_size']} px)"),
        ("Model sha256", model["sha256"] or "(not recorded)"),
        ("Test metrics", quality or "(none recorded)"),
    ] + _trust_lines(facts) + [(f"Image {i + 1} is", _similar_case_text(image["similar_case"]))
         for i, image in enumerate(facts["images"]) if image.get("similar_case")]


def _trust_lines(facts: dict) -> list[tuple[str, str]]:
    from .trust import domain_warning, faithfulness_text

    lines = []
    if facts.get("probability_same") is not None:
        lines.append(("P(same class)", f"{100 * facts['probability_same']:.0f} % (calibrated on validation pairs)"))
    if facts.get("in_domain") is not None:
        lines.append(("Domain", domain_warning(facts["in_domain"]).upper() or "both images inside the model's domain"))
    if facts.get("same_content"):
        lines.append(("Maps", "none: the two images have the same content"))
    if facts.get("faithfulness"):
        lines.append(("Faithfulness", faithfulness_text(facts["faithfulness"])))
    return lines


def _similar_case_text(origin: dict) -> str:
    label = f", label {origin['label']}" if origin.get("label") is not None else ""
    query = Path(origin["query"]).name if origin.get("query") else "the query"
    return f"similar case #{origin['rank']} of {query} ({100 * origin['similarity']:.1f} %{label})"


def _caption(index: int, image: dict) -> str:
    name = Path(image["path"]).name if image["path"] else "(pasted image)"
    return _clip(f"Image {index + 1}: {name}", 56)


def _layer_text(image: dict) -> str:
    shown = [f"{name} {round(100 * o)} %" for name, o in image["layers"].items() if o > 0]
    return "Overlays: " + (", ".join(shown) if shown else "none")


def _crop_text(image: dict) -> str:
    w, h = image["original_size"]
    if not image["crop"]:
        return f"Whole image, {w} x {h} px"
    x, y, cw, ch = image["crop"]
    return f"Crop x={x} y={y} w={cw} h={ch} of {w} x {h} px"


def _note_lines(note: str, font, width: int) -> list[str]:
    """The reviewer note as drawn: wrapped, at most NOTE_LINES lines of NOTE_CHARS characters in all, then
    "(truncated)"; the JSON keeps the whole note. Bounds the picture (and its memory) whatever was typed."""
    text = f"Reviewer note: {note}"
    clipped = len(text) > NOTE_CHARS
    lines = _wrap(text[:NOTE_CHARS], font, width)
    if clipped or len(lines) > NOTE_LINES:
        lines = lines[: NOTE_LINES - 1] + ["(truncated: the full note is in the JSON sidecar)"]
    return lines


def _wrap(text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        if len(lines) > NOTE_LINES:
            break
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while font.getlength(line) > width and len(line) > 1:  # one word wider than the page: cut it
                cut = _fitting_prefix(line, font, width)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def _fitting_prefix(word: str, font, width: int) -> int:
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(word[:mid]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
