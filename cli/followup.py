"""`followup` command: one lesion at two or more visits. Registers each later visit onto the baseline (the earliest),
measures every visit, explains the baseline against the last visit with the model (core.followup.history), prints
what changed first, or JSON, and writes a report."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from core.errors import InputError
from core.explain.timing import elapsed_ms
from core.io.files import printable

from .dicom_outputs import check_dicom_outputs, require_dicom_sources, sr_unit, store_outputs


def run_followup(args) -> int:
    started = time.perf_counter()
    from core.io.images import load_image

    if len(args.visits) < 2:
        raise InputError(f"followup: give at least two visits (BASELINE FOLLOWUP ...), got {len(args.visits)}")
    from core.followup.measurements import read_pixel_size

    try:
        pixel_size = read_pixel_size(args.pixel_size_mm)
    except InputError as exc:
        raise InputError(f"--pixel-size-mm: {exc}") from None
    dates = _dates(args.acquired, len(args.visits))
    from argparse import Namespace

    from .explain import case_record_arg

    record = case_record_arg(Namespace(**{**vars(args), "acquired": ""}))
    if args.report:
        from core.review.report import check_report_path

        check_report_path(args.report, args.force)
    check_dicom_outputs(args)
    images = [load_image(path) for path in args.visits]
    if (args.mask1 or args.mask2) and len(images) > 2:
        raise InputError("--mask1/--mask2: drawn outlines are taken for two visits only")
    require_dicom_sources(args, images)
    masks = [_mask(path, image, flag) for path, image, flag in
             zip((args.mask1, args.mask2), images, ("--mask1", "--mask2"), strict=False)] + [None] * (len(images) - 2)
    from core.followup.history import check_same_patient, follow_lesion, history_facts

    check_same_patient(images)  # before the model is loaded: a refusal costs nothing
    from core.followup.visits import followup  # noqa: F401  (torch-free import check of the follow-up core)
    from core.model.device import resolve_device  # torch: only once the inputs are known to be usable
    from core.model.weights import load_model

    model = load_model(args.model, device=resolve_device(args.device))
    history = follow_lesion(model, images, dates, pixel_size_mm=pixel_size, mode=args.registration, masks=masks,
                            method=args.method)
    from core.review.case_record import from_images

    first_last = [history.images[0], history.images[-1]]
    # what was typed wins over what a DICOM file says; the two-visit record is the baseline's and the last visit's
    record = replace(record.merged(from_images(first_last)), acquired=(history.dates[0], history.dates[-1]))
    result = history.last
    if args.report and result.explanation is not None:  # the maps drawn refined, as explain --report's and the window's
        from core.explain.refine import refined, refines

        if refines(result.explanation, args.method):
            result = replace(result, explanation=refined(model, [image.image for image in result.images],
                                                         result.explanation))
    from core.review.followup_report import followup_report_facts

    facts = {**followup_report_facts(result, model, record=record, note=args.note), **history_facts(history)}
    written: list[str] = []
    from core.io.dicom import report_filing

    filing = report_filing(result.images, "follow-up", primary=1)  # the last visit's study: it is about it
    sr = sr_unit(args, filing, result.images)
    if args.report:  # the SR nested in the report's unit: the report, its sidecar and the SR, or none of them
        from core.review.followup_report import render
        from core.review.report import write_picture_and_facts

        written = [str(p) for p in write_picture_and_facts(args.report, lambda: render(result, facts), facts,
                                                             args.force, filing, (lambda: sr(facts)) if sr else None)]
    elif sr:
        sr(facts)
    written += [str(args.sr)] if sr else []
    stored = store_outputs(args, filing)
    facts = {**facts, "device": str(model.device), "written": written, "stored": stored,
             "timings_ms": {**facts["timings_ms"], "total_ms": elapsed_ms(started, time.perf_counter())}}
    if args.json:
        print(json.dumps(facts, allow_nan=False, default=_plain))
    else:
        _print_text(result, facts)
    return 0


def _dates(text: str | None, count: int) -> list[str]:
    """--acquired D1,D2,... : one date per visit (any may be empty; fewer than the visits: the rest unknown)."""
    from core.review.case_record import check_date

    parts = [p.strip() for p in str(text or "").split(",")] if text else []
    if len(parts) > count:
        raise InputError(f"--acquired: give at most one date per visit ({count}), got {len(parts)}")
    try:
        return [check_date(p) for p in parts] + [""] * (count - len(parts))
    except InputError as exc:
        raise InputError(f"case record: {exc}") from None


def _print_text(result, facts: dict) -> None:
    from core.trust.verdict import MEANING
    from core.vocabulary import DISCLAIMER

    print(facts["change_headline"])  # what changed leads
    print(facts["visit_order"] + (f"; {facts['interval_days']} days between the first and last visit"
                                  if facts.get("interval_days") is not None else ""))
    print(facts["registration_message"])
    for visit in facts["visits"]:
        m = visit["measurements"]
        name = f"visit {visit['visit']}" + (" (baseline)" if visit["baseline"] else "") + (
            f", {visit['date']}" if visit["date"] else "")
        if not m["found"]:
            print(f"{name}: no lesion found (draw its outline: --mask1/--mask2)")
            continue
        unit = (f"{m['area_mm2']:.2f} mm2, longest diameter {m['diameter_mm']:.2f} mm" if m["area_mm2"] is not None
                else f"{m['area_px']} px, longest diameter {m['diameter_px']:.1f} px")
        change = ""
        if not visit["baseline"]:
            change = f"; {(visit['changes'] or {}).get('change_headline', '')}"
        scale = m.get("pixel_scale") or {}
        grid = " (on the baseline's grid)" if scale.get("on_baseline_grid") else ""
        print(f"{name}: area {unit}, asymmetry {m['asymmetry']:.3f}, border irregularity "
              f"{m['border_irregularity']:.2f}, {m['colours']} colour(s) ({', '.join(m['colour_names'])}){change}"
              + (f"; scale {scale['said']}{grid}" if scale else ""))
    pair = "the aligned pair" if facts["registration_ok"] else "the pair (not aligned)"
    print(f"model verdict on {pair} (baseline and last visit): {facts['verdict']} ({facts['verdict_reason']})")
    print(f"{MEANING} {DISCLAIMER}")
    for path in facts["written"]:
        print(f"wrote {printable(path)}")
    for path in facts["stored"]:
        print(f"stored {printable(path)} on the PACS")


def _mask(path, image, flag):
    """A drawn lesion outline: an image file of the visit's size, lesion where it is bright (>= 128)."""
    if path is None:
        return None
    import numpy as np

    from core.io.images import load_image

    mask = np.asarray(load_image(path).image.convert("L")) >= 128
    if mask.shape[::-1] != image.image.size:
        raise InputError(f"{flag} {printable(path)}: the outline is {mask.shape[1]}x{mask.shape[0]} px, its image "
                         f"{image.image.size[0]}x{image.image.size[1]} px")
    if not mask.any():
        raise InputError(f"{flag} {printable(path)}: the outline is empty (no pixel >= 128)")
    return mask


def _plain(value):
    """numpy scalars in the facts, as plain numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
