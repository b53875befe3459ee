"""Small line charts drawn with Pillow (training curves, ROC), so the product needs no plotting library."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from core.io.files import atomic_write
from core.io.fonts import load_font

COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 84, 70  # the plot area's distance from each edge
TITLE_SIZE, LABEL_SIZE = 22, 16


def text_boxes(size, title: str, x_label: str, y_label: str) -> dict[str, tuple[float, float, float, float]]:
    """Where line_chart draws its texts: name -> (left, top, right, bottom). The title and, under it, the y axis's
    label share the band above the plot area, each on its own line; the x axis's label is centred under the plot."""
    width, height = size
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font, small = load_font(TITLE_SIZE), load_font(LABEL_SIZE)
    boxes = {"title": measure.textbbox((LEFT, 14), title, font=font)}
    boxes["y_label"] = measure.textbbox((8, boxes["title"][3] + 8), y_label, font=small)
    x_width = measure.textlength(x_label, font=small)
    boxes["x_label"] = measure.textbbox((round(LEFT + (width - LEFT - RIGHT - x_width) / 2), height - 32), x_label,
                                        font=small)
    return boxes


def line_chart(series: dict[str, tuple[list[float], list[float]]], path, title: str, x_label: str, y_label: str,
               y_range: tuple[float, float] | None = None, diagonal: bool = False, size=(900, 600)) -> Path:
    """Draw named (xs, ys) series on shared axes and save a PNG."""
    width, height = size
    left, right, top, bottom = LEFT, RIGHT, TOP, BOTTOM
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font, small = load_font(TITLE_SIZE), load_font(LABEL_SIZE)
    xs_all = [x for xs, _ in series.values() for x in xs] or [0.0, 1.0]
    ys_all = [y for _, ys in series.values() for y in ys if y == y] or [0.0, 1.0]
    x0, x1 = min(xs_all), max(xs_all)
    y0, y1 = y_range or (min(ys_all), max(ys_all))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def to_px(x, y):
        return (left + (x - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom))

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for k in range(6):
        fy = y0 + (y1 - y0) * k / 5
        _, py = to_px(x0, fy)
        draw.line([(left - 5, py), (left, py)], fill="black")
        draw.text((8, py - 9), f"{fy:.3g}", fill="black", font=small)
        fx = x0 + (x1 - x0) * k / 5
        px, _ = to_px(fx, y0)
        draw.line([(px, height - bottom), (px, height - bottom + 5)], fill="black")
        draw.text((px - 12, height - bottom + 8), f"{fx:.3g}", fill="black", font=small)
    if diagonal:
        draw.line([to_px(x0, y0), to_px(x1, y1)], fill=(170, 170, 170), width=1)
    for n, (label, (xs, ys)) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        points = [to_px(x, y) for x, y in zip(xs, ys, strict=True) if y == y]
        if len(points) > 1:
            draw.line(points, fill=colour, width=3)
        elif points:
            draw.ellipse([points[0][0] - 3, points[0][1] - 3, points[0][0] + 3, points[0][1] + 3], fill=colour)
        draw.text((left + 15, top + 10 + 24 * n), label, fill=colour, font=small)
    boxes = text_boxes(size, title, x_label, y_label)
    for name, text, face in (("title", title, font), ("x_label", x_label, small), ("y_label", y_label, small)):
        _draw_in(draw, boxes[name], text, face)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    atomic_write(path, lambda handle: image.save(handle, format=image_format))  # a chart is there whole or not at all
    return path


def _draw_in(draw: ImageDraw.ImageDraw, box, text: str, font) -> None:
    """Draw `text` so that its ink box is `box` (textbbox of the same text and font)."""
    dx, dy = font.getbbox(text)[:2]
    draw.text((box[0] - dx, box[1] - dy), text, fill="black", font=font)


def save_training_curves(history: list[dict], path, title: str) -> Path:
    epochs = [h["epoch"] for h in history]
    series = {
        "training loss": (epochs, [h["loss"] for h in history]),
        "validation AUC": (epochs, [h["val_auc"] for h in history]),
    }
    return line_chart(series, path, f"Training curves: {title}", "epoch", "loss / AUC",
                      y_range=(0.0, max(1.0, *[h["loss"] for h in history])))


def save_roc(fpr, tpr, auc: float, path, title: str) -> Path:
    return line_chart({f"ROC (AUC {auc:.3f})": (list(fpr), list(tpr))}, path, title, "false positive rate",
                      "true positive rate", y_range=(0.0, 1.0), diagonal=True)


def save_risk_coverage(curve: dict, point: dict | None, path, title: str) -> Path:
    """Accuracy of the decided pairs against the share decided, as a band around P = 0.5 widens; `point` (the
    model's own band, core.trust.verdict.selective) is drawn as a marker series of one point."""
    series = {"symmetric bands around P(same) 0.5": (list(curve["coverage"]), list(curve["accuracy"]))}
    if point and point.get("accuracy") is not None:
        low, high = point["band"]
        c, a = point["coverage"], point["accuracy"]
        series[f"model's band {100 * low:.0f}-{100 * high:.0f} %: {100 * a:.1f} % at {100 * c:.0f} % decided"] = (
            [c, c], [a - 0.004, a + 0.004])
    return line_chart(series, path, title, "coverage (share of pairs given a verdict)",
                      "selective accuracy (accuracy of the decided pairs)")
