"""`explain` command: score a pair, print or JSON-dump the result, write maps, overlays and a report."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from core.files import printable
from core.images import load_image, parse_crop
from core.files import file_sha256 as file_digest


def run_explain(args) -> int:
    started = time.perf_counter()
    crops = [_crop_arg(args.crop1, "--crop1"), _crop_arg(args.crop2, "--crop2")]
    check_outputs(args)  # every option that decides what is written, before anything is read or computed
    images = [load_image(path, crop=crop) for path, crop in zip((args.image1, args.image2), crops)]
    t_images = time.perf_counter()
    from core.device import resolve_device  # torch: only once the inputs are known to be usable
    from core.explain import explain_pair, explained_images
    from core.weights import load_model

    model = load_model(args.model, device=resolve_device(args.device))
    t_model = time.perf_counter()
    result = explain_pair(model, images[0], images[1], method=args.method)
    images = explained_images(images, result)
    faithful = None
    if getattr(args, "faithfulness", False):
        from core.faithfulness import faithfulness

        faithful = faithfulness(model, [image.image for image in images], result)
    written = write_maps(Path(args.out), result, images, args.colormap, overwrite=args.force) if args.out else []
    if args.report:
        from core.model import describe
        from core.report import write_report

        try:
            written += [str(p) for p in write_report(args.report, result, images, describe(model),
                                                      colormap=args.colormap, note=args.note, overwrite=args.force)]
        except BaseException:
            for path in written:  # all outputs or none: the maps go with a report that could not be written
                Path(path).unlink(missing_ok=True)
            raise
    timings = {"load_images_ms": _ms(started, t_images), "load_model_ms": _ms(t_images, t_model),
               **{f"explain_{k}_ms": v for k, v in result.timings_ms.items()},
               "total_ms": _ms(started, time.perf_counter())}
    if args.json:
        # allow_nan=False: the output is always valid JSON, or an error
        print(json.dumps(summary(result, model, images, timings, written, device=str(model.device),
                                 faithfulness=faithful), allow_nan=False))
    else:
        print(f"similarity {result.similarity * 100:.1f} %  ->  {result.decision} "
              f"(threshold {result.threshold * 100:.1f} %, distance {result.distance:.4f})")
        print(f"method {result.method}, model {model.name}, {timings['total_ms']:.0f} ms")
        from core.trust import describe_trust

        for line in describe_trust(result, faithful):
            print(line)
        if result.note:
            print(f"note: {result.note}")
        for path in written:
            print(f"wrote {printable(path)}")
    return 0


def summary(result, model, images, timings: dict, written: list[str], device: str, faithfulness=None) -> dict:
    """The facts of one explanation as plain JSON-able data (CLI --json, self-test)."""
    return {
        "similarity": result.similarity,
        "distance": result.distance,
        "decision": result.decision,
        "threshold": result.threshold,
        "method": result.method,
        "note": result.note,
        "probability_same": result.probability_same,
        "in_domain": list(result.in_domain) if result.in_domain is not None else None,
        "same_content": bool(result.same_content),
        **({"faithfulness": faithfulness} if faithfulness is not None else {}),
        "model": {"name": model.name, "sha256": model.metadata.get("sha256"), "path": model.metadata.get("path"),
                  "untrained": bool(model.metadata.get("untrained", False))},
        "device": device,
        "images": [
            {"path": img.path, "sha256": file_digest(img.path) if img.path else None,
             "original_size": list(img.original_size), "size": list(img.size),
             "crop": list(img.crop) if img.crop else None, "scale": getattr(img, "scale", 1.0)}
            for img in images
        ],
        "timings_ms": timings,
        "written": written,
    }


MAP_KINDS = ("factual", "counterfactual")


def map_paths(out_dir: Path) -> list[Path]:
    return [out_dir / f"image{i}_{kind}{ext}" for kind in MAP_KINDS for i in (1, 2) for ext in (".npy", ".png")]


def check_outputs(args) -> None:
    """Raise for any output option that cannot be honoured; writes nothing."""
    from core.overlay import colormap_lut

    colormap_lut(args.colormap)
    if args.report:
        from core.report import check_report_path

        check_report_path(args.report, args.force)
    if args.out:
        out_dir = Path(args.out)
        if os.path.lexists(out_dir) and not out_dir.is_dir():
            raise ValueError(f"--out {printable(out_dir)}: exists and is not a folder")
        if not out_dir.parent.is_dir():
            raise ValueError(f"--out {printable(out_dir)}: folder {printable(out_dir.parent)} does not exist")
        if out_dir.is_dir():
            from core.files import settle

            settle(map_paths(out_dir))  # a killed run's torn set of maps is not "existing maps"
        if not args.force:
            for path in map_paths(out_dir):
                if os.path.lexists(path):
                    raise FileExistsError(f"{printable(path)}: already exists (use --force to overwrite)")


def write_maps(out_dir: Path, result, images, colormap: str, overwrite: bool = False) -> list[str]:
    """Each map as float32 .npy and as a colour overlay .png on its (cropped) image, written as one unit (all
    eight files or none, never over existing ones unless `overwrite`, never through a symlink)."""
    from core.files import write_unit

    created = not out_dir.exists()
    out_dir.mkdir(exist_ok=True)
    items = []
    for kind in MAP_KINDS:
        for index, heatmap in enumerate(getattr(result, kind)):
            stem = out_dir / f"image{index + 1}_{kind}"
            items.append((stem.with_suffix(".npy"), _npy_writer(heatmap)))
            items.append((stem.with_suffix(".png"), _overlay_writer(images[index].image, heatmap, colormap)))
    try:
        write_unit(items, overwrite=overwrite)
    except BaseException:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    return [str(path) for path, _ in items]


def _npy_writer(array):
    return lambda handle: np.save(handle, array)


def _overlay_writer(image, heatmap, colormap: str):
    from core.overlay import blend

    # drawn when written, one at a time: four overlays of a large image held at once cost hundreds of MB
    return lambda handle: Image.fromarray(blend(np.asarray(image), heatmap, colormap, opacity=0.6)).save(handle, format="PNG")


def _crop_arg(text, flag):
    if text is None:
        return None
    try:
        return parse_crop(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 2)
