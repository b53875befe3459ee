"""`explain` command: score a pair, print or JSON-dump the result, write maps, overlays and a report.

Maps are written at their own size (at most MAX_MAP_SIDE a side, core.explain.pair.map_size); the overlays and the
report resize them to the image they are drawn on.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from core.explain.timing import elapsed_ms
from core.io.files import folder_problem, make_folders, printable, remove_folders
from core.io.images import load_image, parse_crop
from core.review.report import report_colormaps
from core.vocabulary import LAYERS


def run_explain(args) -> int:
    started = time.perf_counter()
    crops = [_crop_arg(args.crop1, "--crop1"), _crop_arg(args.crop2, "--crop2")]
    links = _count_arg(getattr(args, "correspondence", 0))
    record = case_record_arg(args)
    check_outputs(args)  # every option that decides what is written, before anything is read or computed
    images = [load_image(path, crop=crop) for path, crop in zip((args.image1, args.image2), crops)]
    from core.review.case_record import from_images

    record = record.merged(from_images(images))  # what was typed wins over what a DICOM file says
    t_images = time.perf_counter()
    from core.explain.pair import explain_pair, explained_images
    from core.model.device import resolve_device  # torch: only once the inputs are known to be usable
    from core.model.weights import load_model

    model = load_model(args.model, device=resolve_device(args.device))
    t_model = time.perf_counter()
    result = explain_pair(model, images[0], images[1], method=args.method, correspondence=links)
    images = explained_images(images, result)
    faithful = None
    if getattr(args, "faithfulness", False):
        from core.explain.faithfulness import faithfulness

        faithful = faithfulness(model, [image.image for image in images], result)
    colormaps = _colormaps(args)
    written = write_maps(Path(args.out), result, images, colormaps, overwrite=args.force) if args.out else []
    if args.report:
        from core.model.network import describe
        from core.review.report import write_report

        try:
            written += [str(p) for p in write_report(args.report, result, images, describe(model),
                                                      colormaps=colormaps, note=args.note, overwrite=args.force,
                                                      record=record)]
        except BaseException:
            for path in written:  # all outputs or none: the maps go with a report that could not be written
                Path(path).unlink(missing_ok=True)
            raise
    timings = {"load_images_ms": elapsed_ms(started, t_images), "load_model_ms": elapsed_ms(t_images, t_model),
               **{f"explain_{k}_ms": v for k, v in result.timings_ms.items()},
               "total_ms": elapsed_ms(started, time.perf_counter())}
    if args.json:
        from core.explain.facts import explanation_facts

        # the facts a report's sidecar holds, plus this run's: allow_nan=False, so valid JSON or an error
        facts = {**record.facts(), **explanation_facts(result, images, model), "note": args.note,
                 "device": str(model.device),
                 "timings_ms": timings, "written": written,
                 **({"faithfulness": faithful} if faithful is not None else {}),
                 **({"correspondence": result.correspondence} if result.correspondence is not None else {})}
        print(json.dumps(facts, allow_nan=False))
    else:
        from core.trust.checks import describe_trust
        from core.trust.verdict import MEANING
        from core.vocabulary import DISCLAIMER

        verdict, *trust_lines = describe_trust(result, faithful)
        print(verdict)
        print(f"similarity {result.similarity * 100:.1f} % (model threshold {result.threshold * 100:.1f} %, "
              f"distance {result.distance:.4f})")
        for line in trust_lines:
            print(line)
        print(f"method {result.method}, model {model.name}, {timings['total_ms']:.0f} ms")
        if result.correspondence:
            top = result.correspondence[0]
            print(f"correspondence: {len(result.correspondence)} links, the strongest image 1 {top['p1']} -> "
                  f"image 2 {top['p2']} (--json lists them all)")
        print(f"{MEANING} {DISCLAIMER}")
        if result.note:
            print(f"note: {result.note}")
        for path in written:
            print(f"wrote {printable(path)}")
    return 0


def case_record_arg(args):
    """The case record the options give (core.review.case_record); ValueError (exit 2) naming what is wrong."""
    from core.review.case_record import make_record, parse_acquired

    try:
        return make_record(case_id=args.case_id, patient_id=args.patient_id, body_site=args.body_site,
                           acquired=parse_acquired(args.acquired), reviewer=args.reviewer)
    except ValueError as exc:
        raise ValueError(f"case record: {exc}") from None


def map_paths(out_dir: Path) -> list[Path]:
    return [out_dir / f"image{i}_{kind}{ext}" for kind in LAYERS for i in (1, 2) for ext in (".npy", ".png")]


def check_outputs(args) -> None:
    """Raise for any output option that cannot be honoured; writes nothing."""
    _colormaps(args)
    if args.report:
        from core.review.report import check_report_path

        check_report_path(args.report, args.force)
    if args.out:
        out_dir = Path(args.out)
        problem = folder_problem(out_dir)
        if problem:
            raise ValueError(f"--out {printable(out_dir)}: {problem}")
        if out_dir.is_dir():
            from core.io.files import settle

            settle(map_paths(out_dir))  # a killed run's torn set of maps is not "existing maps"
        if not args.force:
            for path in map_paths(out_dir):
                if os.path.lexists(path):
                    raise FileExistsError(f"{printable(path)}: already exists (use --force to overwrite)")


def write_maps(out_dir: Path, result, images, colormaps: dict, overwrite: bool = False) -> list[str]:
    """Each map as float32 .npy (its own size) and as a colour overlay .png on its (cropped) image, written as one
    unit (all eight files or none, never over existing ones unless `overwrite`, never through a symlink); the
    folder and its missing parents are created, and removed again if the maps cannot be written."""
    from core.io.files import write_unit

    items = []
    for kind in LAYERS:
        for index, heatmap in enumerate(getattr(result, kind)):
            stem = out_dir / f"image{index + 1}_{kind}"
            items.append((stem.with_suffix(".npy"), _npy_writer(heatmap)))
            items.append((stem.with_suffix(".png"), _overlay_writer(images[index].image, heatmap, colormaps[kind])))
    created = make_folders(out_dir)
    try:
        write_unit(items, overwrite=overwrite)
    except BaseException:
        remove_folders(created)
        raise
    return [str(path) for path, _ in items]


def _npy_writer(array):
    return lambda handle: np.save(handle, array)


def _overlay_writer(image, heatmap, colormap: str):
    from core.explain.overlay import write_overlay_png

    # drawn as written, one at a time and band by band: four whole overlays of a large image cost hundreds of MB
    return lambda handle: write_overlay_png(handle, image, heatmap, colormap, opacity=0.6)


def _colormaps(args) -> dict:
    """--colormap colours every map; without it each layer has its default (core.vocabulary)."""
    return report_colormaps({layer: args.colormap for layer in LAYERS} if args.colormap else None)


def _count_arg(value) -> int:
    if value is None or int(value) < 0:
        raise ValueError(f"--correspondence: {value}: expected a count of links >= 0")
    return int(value)


def _crop_arg(text, flag):
    if text is None:
        return None
    try:
        return parse_crop(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None
