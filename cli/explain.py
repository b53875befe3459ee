"""`explain` command: score a pair, print or JSON-dump the result, write maps, overlays and a report (planned before
any work and written as one unit by core.review.outputs)."""

from __future__ import annotations

import json
import time

from core.errors import InputError
from core.explain.timing import elapsed_ms
from core.io.files import printable
from core.io.images import load_image, parse_crop
from core.review.outputs import plan_outputs, write_outputs
from core.vocabulary import LAYERS

from .dicom_outputs import check_dicom_outputs, require_dicom_sources, sr_unit, store_outputs


def run_explain(args) -> int:
    started = time.perf_counter()
    crops = [_crop_arg(args.crop1, "--crop1"), _crop_arg(args.crop2, "--crop2")]
    links = _count_arg(getattr(args, "correspondence", 0))
    record = case_record_arg(args)
    # every option that decides what is written, before anything is read or computed
    plan = plan_outputs(args.out, args.report, colormaps=_colormaps(args), overwrite=args.force)
    check_dicom_outputs(args)
    images = tuple(load_image(path, crop=crop) for path, crop in zip((args.image1, args.image2), crops, strict=True))
    require_dicom_sources(args, images)
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
    if plan.files and not getattr(args, "first_map", False):  # maps and reports written: refined, as shown
        from core.explain.refine import refined, refines

        if refines(result, args.method):
            result = refined(model, [image.image for image in images], result)
    faithful = None
    if getattr(args, "faithfulness", False):
        from core.explain.faithfulness import faithfulness

        faithful = faithfulness(model, [image.image for image in images], result)
    written: list[str] = []
    facts: dict = {}
    from core.io.dicom import report_filing

    filing = report_filing(images, "pair")
    sr = sr_unit(args, filing, images)  # written with the maps and the report: all of them or none
    if plan.files or args.json or sr:  # the facts (each image hashed) are built by the writer, once, when needed
        outputs = write_outputs(plan, result, images, model, with_facts=args.json, nested=sr, note=args.note,
                                record=record, faithfulness=faithful)
        written, facts = [str(path) for path in outputs.files] + ([str(args.sr)] if sr else []), outputs.facts
    stored = store_outputs(args, filing)
    timings = {"load_images_ms": elapsed_ms(started, t_images), "load_model_ms": elapsed_ms(t_images, t_model),
               **{f"explain_{k}_ms": v for k, v in result.timings_ms.items()},
               "total_ms": elapsed_ms(started, time.perf_counter())}
    if args.json:
        # the facts a report's sidecar holds, plus this run's: allow_nan=False, so valid JSON or an error
        printed = {**record.facts(), **facts, "note": args.note,
                   "device": str(model.device),
                   "timings_ms": timings, "written": written, "stored": stored,
                   **({"faithfulness": faithful} if faithful is not None else {}),
                   **({"correspondence": result.correspondence} if result.correspondence is not None else {})}
        print(json.dumps(printed, allow_nan=False))
    else:
        from core.trust.checks import describe_trust
        from core.trust.verdict import MEANING, band_of, withholds
        from core.vocabulary import DISCLAIMER

        verdict, *trust_lines = describe_trust(result, faithful, band_of(model.metadata))
        print(verdict)
        if withholds(result.verdict, result.in_domain):  # --json keeps the numbers, flagged "extrapolated"
            print("similarity withheld (not assessed: an image lies outside the model's domain)")
        else:
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
        for path in stored:
            print(f"stored {printable(path)} on {printable(args.store)}")
    return 0


def case_record_arg(args):
    """The case record the options give (core.review.case_record); InputError (exit 2) naming what is wrong."""
    from core.review.case_record import make_record, parse_acquired

    try:
        return make_record(case_id=args.case_id, patient_id=args.patient_id, body_site=args.body_site,
                           acquired=parse_acquired(args.acquired), reviewer=args.reviewer)
    except InputError as exc:
        raise InputError(f"case record: {exc}") from None


def _colormaps(args) -> dict | None:
    """--colormap colours every map; without it each layer has its default (core.vocabulary)."""
    return {layer: args.colormap for layer in LAYERS} if args.colormap else None


def _count_arg(value) -> int:
    if value is None or int(value) < 0:
        raise InputError(f"--correspondence: {value}: expected a count of links >= 0")
    return int(value)


def _crop_arg(text, flag):
    if text is None:
        return None
    try:
        return parse_crop(text)
    except InputError as exc:
        raise InputError(f"{flag}: {exc}") from None
