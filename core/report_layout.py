"""The one report renderer (GUI export and `main.py explain --report` alike): a PNG of the explained pair with
its facts, and a JSON sidecar holding the same facts, written atomically. No Qt, no torch at import time.

    write_report(path, explanation, images, model, *, colormap="jet", layers=None, note="", when=None,
                 overwrite=False) -> (png_path, json_path)
    render_report(explanation, images, model, *, colormap="jet", layers=None, note="", when=None)
        -> PIL.Image (RGB)
    report_facts(...same arguments...) -> dict (the JSON sidecar's content)

explanation  core.explain.Explanation of the pair.
images       the pair of core.images.LoadedImage objects that were explained (already cropped; .crop
             and .original_size say how).
model        core.model.ModelInfo (core.model.describe(model)); a SiameseModel is described on the fly.
colormap     a name from core.overlay.COLORMAPS.
layers       per image, {"factual": opacity, "counterfactual": opacity} with opacity in [0, 1]; a missing
             layer or opacity 0 is not drawn. None = factual at 50 % on both images (DEFAULT_LAYERS).
note         the reviewer's free text, printed (wrapped) and stored.
when         datetime of the report (default: now, local time with its UTC offset).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .errors import SiameseLensError
from .files import first_line, printable, settle, write_unit
from .fonts import load_font
from .overlay import blend, colormap_lut
from .version import APP_NAME, __version__

LAYER_NAMES = ("factual", "counterfactual")
DEFAULT_LAYERS = ({"factual": 0.5}, {"factual": 0.5})
PANEL = 520  # longest side of each image in the report, in pixels
MARGIN = 28
TEXT = (20, 20, 20)
MUTED = (95, 95, 95)
NOTE_LINES = 40  # of the drawn note; the JSON sidecar keeps all of it
NOTE_CHARS = 4000
DECISION_COLOURS = {"similar": (20, 120, 50), "different": (170, 40, 30)}


class ReportError(SiameseLensError, OSError):
    """A report could not be written (read-only folder, full disk...); nothing partial is left behind."""


def write_report(path, explanation, images, model, *, colormap="jet", layers=None, note="", when=None,
                 overwrite=False, provenance=(None, None), faithfulness=None) -> tuple[Path, Path]:
    """Write the PNG report to `path` and its JSON sidecar next to it (same name, .json), both atomically.

    Raises FileExistsError if either file exists and overwrite is False, ValueError for a name not ending in
    .png, and ReportError (an OSError) with a one-line message when the files cannot be written.
    """
    png = check_report_path(path, overwrite)
    facts = report_facts(explanation, images, model, colormap=colormap, layers=layers, note=note, when=when,
                         provenance=provenance, faithfulness=faithfulness)
    return write_picture_and_facts(png, lambda: _render(explanation, images, facts), facts, overwrite)


def check_report_path(path, overwrite: bool) -> Path:
    """The report's PNG path, once it is known that it and its sidecar may be written (checked before any work)."""
    png = Path(path)
    if png.suffix.lower() != ".png":
        raise ValueError(f"{png}: a report file name must end in .png")
    if not png.parent.is_dir():
        raise ReportError(f"{png}: cannot write report (folder {png.parent} does not exist)")
    settle([png, png.with_suffix(".json")])  # a writer killed mid-commit: its torn pair is not "an existing report"
    for target in (png, png.with_suffix(".json")):
        if os.path.isdir(target):
            raise ReportError(f"{target}: cannot write report (a folder has that name)")
        if not overwrite and os.path.lexists(target):  # a dangling symlink counts: never written through
            raise FileExistsError(f"{target}: already exists (confirm, or use --force, to overwrite)")
    return png


def write_picture_and_facts(path, render, facts: dict, overwrite: bool = False) -> tuple[Path, Path]:
    """Any report: the picture render() draws, as PNG at `path`, and `facts` as its JSON sidecar, written as one
    unit (both or neither). Used by pair reports and similar-case reports alike."""
    png = check_report_path(path, overwrite)
    sidecar = png.with_suffix(".json")
    buffer = io.BytesIO()
    render().save(buffer, format="PNG", optimize=False)
    picture = buffer.getvalue()
    # The JSON names the PNG it belongs to by content: a reader can tell a pair that belongs together.
    facts["report_png"] = png.name
    facts["report_png_sha256"] = hashlib.sha256(picture).hexdigest()
    # backslashreplace: a path that is not valid UTF-8 is kept as a JSON escape instead of failing the write
    text = json.dumps(facts, indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace")
    try:
        write_unit([(png, picture), (sidecar, text)], overwrite=overwrite)
    except FileExistsError:
        raise
    except OSError as exc:
        # the reason alone: the file it names may be a temporary the user never asked for
        raise ReportError(f"{printable(png)}: cannot write report ({printable(exc.strerror or first_line(exc))})") from None
    return png, sidecar


def render_report(explanation, images, model, *, colormap="jet", layers=None, note="", when=None) -> Image.Image:
    """The report picture alone (RGB), as write_report saves it."""
    facts = report_facts(explanation, images, model, colormap=colormap, layers=layers, note=note, when=when)
    return _render(explanation, images, facts)


def report_facts(explanation, images, model, *, colormap="jet", layers=None, note="", when=None,
                 provenance=(None, None), faithfulness=None) -> dict:
    """Everything the report states, as JSON-ready data. provenance: per image, None or where it was opened from
    in the similar cases ({"query", "rank", "label", "similarity", "gallery"})."""
    colormap_lut(colormap)  # validates the name before anything is drawn
    info = _describe(model)
    layers = _layers(layers)
    when = when or datetime.now().astimezone()
    meta = info.metadata or {}
    if len(images) != 2:
        raise ValueError("a report needs exactly two images")
    described = []
    for loaded, image_layers, origin in zip(images, layers, provenance):
        described.append({
            "path": loaded.path,
            "original_size": list(loaded.original_size),
            "crop": list(loaded.crop) if loaded.crop else None,
            "size": list(loaded.image.size),
            "layers": image_layers,
            **({"similar_case": dict(origin)} if origin else {}),
        })
    return {
        "app": {"name": APP_NAME, "version": __version__},
        "created": when.isoformat(timespec="seconds"),
        "similarity": round(float(explanation.similarity), 6),
        "distance": round(float(explanation.distance), 6),
        "decision": explanation.decision,
        "threshold": float(explanation.threshold),
        "method": explanation.method,
        "model": {
            "name": info.name,
            "architecture": info.architecture,
            "input_size": info.input_size,
            "sha256": info.sha256,
            "path": info.path,
            "test_metrics": meta.get("test_metrics"),
            "untrained": bool(meta.get("untrained", False)),
        },
        "images": described,
        "colormap": colormap,
        "note": note or "",
        "explanation_note": explanation.note,
        "timings_ms": dict(explanation.timings_ms),
        # how far the score and maps can be trusted (core.trust, core.faithfulness); None = not available
        "probability_same": getattr(explanation, "probability_same", None),
        "in_domain": list(explanation.in_domain) if getattr(explanation, "in_domain", None) is not None else None,
        "same_content": bool(getattr(explanation, "same_content", False)),
        **({"faithfulness": faithfulness} if faithfulness else {}),
    }


# --- drawing ---------------------------------------------------------------------------------------------

def _render(explanation, images, facts: dict) -> Image.Image:
    panels = [_panel(loaded, explanation, i, facts) for i, loaded in enumerate(images)]
    width = 2 * PANEL + 3 * MARGIN
    lines = _fact_lines(facts)
    note_font = load_font(17)
    note_lines = _note_lines(facts["note"], note_font, width - 2 * MARGIN) if facts["note"] else []
    height = (MARGIN + 40 + 44 + 30 + PANEL + 60 + 46 + 26 * len(lines) + 24 * len(note_lines) + MARGIN)
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
    for i, (panel, image_facts) in enumerate(zip(panels, facts["images"])):
        x = MARGIN + i * (PANEL + MARGIN)
        draw.text((x, y), _caption(i, image_facts), font=load_font(16, bold=True), fill=TEXT)
        ox, oy = x + (PANEL - panel.width) // 2, y + 30 + (PANEL - panel.height) // 2
        canvas.paste(panel, (ox, oy))
        draw.rectangle((ox - 1, oy - 1, ox + panel.width, oy + panel.height), outline=(180, 180, 180))
        draw.text((x, y + 30 + PANEL + 8), _layer_text(image_facts), font=load_font(15), fill=MUTED)
        draw.text((x, y + 30 + PANEL + 30), _crop_text(image_facts), font=load_font(15), fill=MUTED)
    y += 30 + PANEL + 60
    _legend(draw, canvas, MARGIN, y, facts["colormap"])
    y += 46
    for label, value in lines:
        draw.text((MARGIN, y), label, font=load_font(17, bold=True), fill=TEXT)
        draw.text((MARGIN + 190, y), value, font=load_font(17), fill=TEXT)
        y += 26
    for line in note_lines:
        draw.text((MARGIN, y), line, font=note_font, fill=TEXT)
        y += 24
    return canvas


def _panel(loaded, explanation, index: int, facts: dict) -> Image.Image:
    """The (cropped) image with its chosen layers, scaled to fit PANEL x PANEL with its aspect ratio kept."""
    width, height = loaded.image.size
    scale = PANEL / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    rgb = np.asarray(loaded.image.convert("RGB").resize(size, Image.LANCZOS))
    maps = {"factual": explanation.factual[index], "counterfactual": explanation.counterfactual[index]}
    for name in LAYER_NAMES:  # counterfactual drawn over factual, as the GUI stacks them
        opacity = facts["images"][index]["layers"].get(name, 0.0)
        if opacity > 0:
            heat = cv2.resize(maps[name].astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
            rgb = blend(rgb, np.clip(heat, 0.0, 1.0), facts["colormap"], opacity)
    return Image.fromarray(rgb)


def _legend(draw: ImageDraw.ImageDraw, canvas: Image.Image, x: int, y: int, colormap: str) -> None:
    bar_width, bar_height = 300, 18
    ramp = colormap_lut(colormap)[np.linspace(0, 255, bar_width).astype(np.uint8)]
    canvas.paste(Image.fromarray(np.repeat(ramp[None], bar_height, axis=0)), (x + 110, y))
    font = load_font(15)
    draw.text((x, y), f"{colormap}:", font=load_font(15, bold=True), fill=TEXT)
    draw.text((x + 104, y + bar_height // 2), "0", font=font, fill=TEXT, anchor="rm")
    draw.text((x + 116 + bar_width, y + bar_height // 2), "1  map value (relevance, transparent at 0)",
              font=font, fill=TEXT, anchor="lm")


def _fact_lines(facts: dict) -> list[tuple[str, str]]:
    model = facts["model"]
    metrics = model.get("test_metrics") or {}
    quality = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, (int, float)))
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


def _layers(layers) -> list[dict]:
    chosen = DEFAULT_LAYERS if layers is None else layers
    if len(chosen) != 2:
        raise ValueError("layers must give one {layer: opacity} dict per image")
    out = []
    for image_layers in chosen:
        unknown = set(image_layers) - set(LAYER_NAMES)
        if unknown:
            raise ValueError(f"unknown overlay layer(s) {', '.join(sorted(unknown))}; use {', '.join(LAYER_NAMES)}")
        out.append({name: round(min(max(float(image_layers.get(name, 0.0)), 0.0), 1.0), 3) for name in LAYER_NAMES})
    return out


def _describe(model):
    if hasattr(model, "sha256"):
        return model
    from .model import describe  # a SiameseModel was passed: torch is already loaded

    return describe(model)
