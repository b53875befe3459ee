"""Report of a similar-case query: the query beside each of its nearest cases, every pair with its factual maps,
and a JSON sidecar with the same facts. No Qt."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from PIL import Image, ImageDraw

from core.explain.facts import model_facts
from core.explain.overlay import blend
from core.io.fonts import load_font
from core.review.report_layout import checked_map, scaled_to
from core.trust.verdict import COLOURS as VERDICT_COLOURS
from core.trust.verdict import withholds
from core.version import APP_NAME, __version__
from core.vocabulary import DISCLAIMER

THUMB = 220
MARGIN = 24
ROW_GAP = 18
TEXT_WIDTH = 360
TEXT = (20, 20, 20)
MUTED = (95, 95, 95)


def retrieval_facts(query: dict, hits: list[dict], model, vote: str | None, colormap: str, when=None,
                    in_gallery: str | None = None, notes: list[str] | None = None) -> dict:
    """query: {"path", "sha256"}; hits: the `retrieve --json` hits; model: a SiameseModel or its ModelInfo;
    in_gallery, notes: core.review.neighbours.Neighbours' words for the query's own content and what was folded."""
    when = when or datetime.now().astimezone()
    return {"app": {"name": APP_NAME, "version": __version__}, "created": when.isoformat(timespec="seconds"),
            "disclaimer": DISCLAIMER,
            "query": query, "model": model_facts(model), "hits": hits, "vote": vote, "in_gallery": in_gallery,
            "notes": list(notes or []),
            "colormap": colormap, "maps": "factual map of each pair (query left, case right)"}


def render_retrieval(facts: dict, query_images: list, hit_images: list, explanations: list) -> Image.Image:
    """query_images[i] / hit_images[i]: the LoadedImage pair as explained (already cropped) for hit i."""
    rows = len(hit_images)
    width = 2 * THUMB + TEXT_WIDTH + 4 * MARGIN
    lines = [line for line in (facts["vote"], facts.get("in_gallery"), *facts.get("notes", [])) if line]
    header = 62 + 18 * max(1, len(lines))
    height = MARGIN + header + rows * (THUMB + ROW_GAP) + 30 + MARGIN
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, MARGIN), f"{APP_NAME}: similar cases", font=load_font(24, bold=True), fill=TEXT)
    subtitle = f"query {facts['query']['path']}  ·  model {facts['model']['name']}  ·  {facts['created']}"
    draw.text((MARGIN, MARGIN + 34), _clip(subtitle, 110), font=load_font(14), fill=MUTED)
    for n, line in enumerate(lines):  # the vote first, in bold; then the query's own content and what was folded
        draw.text((MARGIN, MARGIN + 54 + 18 * n), _clip_end(line, 105), font=load_font(14, bold=n == 0), fill=TEXT)
    y = MARGIN + header
    for hit, query, case, explanation in zip(facts["hits"], query_images, hit_images, explanations, strict=True):
        # maps no check judged say so on themselves; a pair not assessed shows none (as every picture of a pair)
        shown = not withholds(explanation.verdict, explanation.in_domain)
        for column, (image, heat) in enumerate(((query, explanation.factual[0]), (case, explanation.factual[1]))):
            thumb = _thumbnail(image.image, heat if shown else None, facts["colormap"])
            if shown:
                thumb = checked_map(np.asarray(thumb), None, bool(explanation.same_content))
            canvas.paste(thumb, (MARGIN + column * (THUMB + MARGIN) + (THUMB - thumb.width) // 2,
                                 y + (THUMB - thumb.height) // 2))
        x = MARGIN + 2 * (THUMB + MARGIN)
        draw.text((x, y + 4), f"#{hit['rank']}  {100 * hit['similarity']:.1f} %", font=load_font(20, bold=True),
                  fill=TEXT)
        if hit.get("label") is not None:
            draw.text((x, y + 34), f"label: {hit['label']}", font=load_font(16), fill=TEXT)
        draw.text((x, y + 60), _clip(hit["path"], 48), font=load_font(13), fill=MUTED)
        if hit.get("folded"):
            draw.text((x, y + 116), f"+{len(hit['folded'])} near-duplicate(s) folded in", font=load_font(13),
                      fill=MUTED)
        # the pair's own verdict (core.trust.verdict): a near case may still be inconclusive or outside the domain
        draw.text((x, y + 86), f"verdict: {explanation.verdict}", font=load_font(16, bold=True),
                  fill=VERDICT_COLOURS[explanation.verdict])
        y += THUMB + ROW_GAP
    draw.text((MARGIN, y + 4), DISCLAIMER, font=load_font(14), fill=MUTED)
    return canvas


def _thumbnail(image: Image.Image, heat: np.ndarray | None, colormap: str) -> Image.Image:
    """The image at THUMB px with its map (None: none) blended over it."""
    rgb = np.asarray(scaled_to(image, THUMB))
    return Image.fromarray(rgb if heat is None else blend(rgb, heat, colormap, 0.5))  # the map resized to it


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _clip_end(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
