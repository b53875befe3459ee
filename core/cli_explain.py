"""`explain` command: score a pair, print or JSON-dump the result, write maps, overlays and a report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .images import load_image, parse_crop
from .weights import file_digest


def run_explain(args) -> int:
    from .explain import explain_pair, explained_images
    from .device import resolve_device
    from .weights import load_model

    started = time.perf_counter()
    crops = [_crop_arg(args.crop1, "--crop1"), _crop_arg(args.crop2, "--crop2")]
    images = [load_image(path, crop=crop) for path, crop in zip((args.image1, args.image2), crops)]
    t_images = time.perf_counter()
    model = load_model(args.model, device=resolve_device(args.device))
    t_model = time.perf_counter()
    result = explain_pair(model, images[0], images[1], method=args.method)
    images = explained_images(images, result)
    written = write_maps(Path(args.out), result, images, args.colormap) if args.out else []
    if args.report:
        from .model import describe
        from .report import write_report

        written += [str(p) for p in write_report(args.report, result, images, describe(model), colormap=args.colormap,
                                                  note=args.note, overwrite=args.force)]
    timings = {"load_images_ms": _ms(started, t_images), "load_model_ms": _ms(t_images, t_model),
               **{f"explain_{k}_ms": v for k, v in result.timings_ms.items()},
               "total_ms": _ms(started, time.perf_counter())}
    if args.json:
        print(json.dumps(summary(result, model, images, timings, written, device=str(model.device))))
    else:
        print(f"similarity {result.similarity * 100:.1f} %  ->  {result.decision} "
              f"(threshold {result.threshold * 100:.1f} %, distance {result.distance:.4f})")
        print(f"method {result.method}, model {model.name}, {timings['total_ms']:.0f} ms")
        if result.note:
            print(f"note: {result.note}")
        for path in written:
            print(f"wrote {path}")
    return 0


def summary(result, model, images, timings: dict, written: list[str], device: str) -> dict:
    """The facts of one explanation as plain JSON-able data (CLI --json, self-test)."""
    return {
        "similarity": result.similarity,
        "distance": result.distance,
        "decision": result.decision,
        "threshold": result.threshold,
        "method": result.method,
        "note": result.note,
        "model": {"name": model.name, "sha256": model.metadata.get("sha256"), "path": model.metadata.get("path"),
                  "untrained": bool(model.metadata.get("untrained", False))},
        "device": device,
        "images": [
            {"path": img.path, "sha256": file_digest(img.path) if img.path else None,
             "original_size": list(img.original_size), "size": list(img.size),
             "crop": list(img.crop) if img.crop else None}
            for img in images
        ],
        "timings_ms": timings,
        "written": written,
    }


def write_maps(out_dir: Path, result, images, colormap: str) -> list[str]:
    """Each map as float32 .npy and as a colour overlay .png on its (cropped) image."""
    from .overlay import blend

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in ("factual", "counterfactual"):
        for index, heatmap in enumerate(getattr(result, kind)):
            stem = out_dir / f"image{index + 1}_{kind}"
            np.save(stem.with_suffix(".npy"), heatmap)
            rgb = np.asarray(images[index].image)
            Image.fromarray(blend(rgb, heatmap, colormap, opacity=0.6)).save(stem.with_suffix(".png"))
            written += [str(stem.with_suffix(".npy")), str(stem.with_suffix(".png"))]
    return written


def _crop_arg(text, flag):
    if text is None:
        return None
    try:
        return parse_crop(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 2)
