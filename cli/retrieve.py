"""`index` and `retrieve` commands: build a gallery's similar-case index, find a query's nearest cases."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from core.review.gallery import MANIFEST, build_index, index_location, index_note, open_index
from core.review.neighbours import nearest_cases

from .run import EXIT_PARTIAL


def run_index(args) -> int:
    from core.model.weights import load_model
    from core.training.distributed import joined

    with joined(args.device) as (group, device):  # under torchrun: the ranks share the work, rank 0 writes
        model = load_model(args.model, device=device)
        started = time.perf_counter()
        try:
            index, counts = build_index(model, args.gallery, out=args.out, rebuild=args.rebuild,
                                        progress=_progress(sys.stderr) if group.leader else None, group=group)
        except KeyboardInterrupt:
            # Every finished batch is already in the index: the next run continues from there.
            print("interrupted: the index keeps every finished batch; run the same command again to continue",
                  file=sys.stderr)
            return 130
    if not group.leader:
        return 0  # rank 0 reports for the run
    seconds = time.perf_counter() - started
    rate = counts["embedded"] / seconds if counts["embedded"] and seconds > 0 else 0.0
    _name_skipped(counts["skipped"])
    print(f"index {index.location}: {len(index.entries)} images ({counts['embedded']} embedded, "
          f"{counts['unchanged']} unchanged, {counts['removed']} removed, {len(counts['skipped'])} unreadable) "
          f"in {seconds:.1f} s" + (f", {rate:.1f} images/s" if rate else ""))
    note = index_note(index)
    if note:
        print(note)
    return EXIT_PARTIAL if counts["skipped"] else 0


def run_retrieve(args) -> int:
    from core.errors import DataError, InputError
    from core.explain.facts import model_facts
    from core.io.images import load_image
    from core.model.device import resolve_device
    from core.model.weights import file_digest, load_model

    if args.k < 1:
        raise InputError(f"-k must be at least 1, got {args.k}")
    if args.report:
        from core.review.report import check_report_path

        check_report_path(args.report, args.force)  # before any work: a refused path costs nothing
    from .dicom_outputs import check_dicom_outputs, require_dicom_sources, store_outputs

    check_dicom_outputs(args)
    query_image = load_image(args.query)  # a bad query is reported before any gallery is read
    require_dicom_sources(args, [query_image])
    model = load_model(args.model, device=resolve_device(args.device))
    target = Path(args.gallery)
    location = target if (target / MANIFEST).exists() else index_location(target)
    skipped: list[str] = []  # gallery images an index built here left out
    if not (location / MANIFEST).exists():
        if not target.is_dir():
            raise DataError(f"{target}: neither a gallery folder nor an index")
        index, counts = build_index(model, target, progress=_progress(sys.stderr))
        skipped = _name_skipped(counts["skipped"])
    else:
        index = open_index(location, str(model.metadata.get("sha256", "")))
    if not index.entries:
        raise DataError(f"{location}: the index is empty")
    found = nearest_cases(model, index, query_image, args.k)
    written = _write_report(args, model, query_image, found) if args.report else []
    from core.io.dicom import report_filing

    stored = store_outputs(args, report_filing([query_image], "similar cases"))
    if args.json:
        print(json.dumps({"query": {"path": args.query, "sha256": file_digest(args.query)},
                          "model": model_facts(model), "index": str(index.location), "index_note": index_note(index),
                          "hits": found.hits, "vote": found.vote, "in_gallery": found.own, "notes": found.notes,
                          "written": written, "stored": stored, "skipped": skipped}))
        return EXIT_PARTIAL if skipped else 0
    for hit in found.hits:
        label_text = f"  [{hit['label']}]" if hit["label"] is not None else ""
        folded = f"  (+{len(hit['folded'])} near-duplicate(s) folded in)" if hit["folded"] else ""
        print(f"{hit['rank']:>3}  {hit['similarity'] * 100:5.1f} %{label_text}  {hit['path']}{folded}")
    for line in (found.vote, found.in_gallery, *found.notes, index_note(index)):
        if line:
            print(line)
    for path in written:
        print(f"wrote {path}")
    for path in stored:
        print(f"stored {path} on the PACS")
    return EXIT_PARTIAL if skipped else 0


def _name_skipped(problems: list[str]) -> list[str]:
    """One stderr line for each gallery image left out of the index (unreadable)."""
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    return problems


def _write_report(args, model, query, found) -> list[str]:
    """The query beside each hit, every pair with its factual maps, plus the JSON sidecar."""
    from core.explain.pair import explain_pair, explained_images
    from core.io.images import load_image
    from core.model.weights import file_digest
    from core.review.report import write_picture_and_facts
    from core.review.retrieval_report import render_retrieval, retrieval_facts

    hits = found.hits
    queries, cases, explanations = [], [], []
    for hit in hits:
        case = load_image(hit["path"])
        explanation = explain_pair(model, query, case)
        shown = explained_images((query, case), explanation)
        hit["crops"] = [list(box) if box else None for box in explanation.crops]
        hit["verdict"], hit["verdict_reason"] = explanation.verdict, explanation.verdict_reason
        queries.append(shown[0])
        cases.append(shown[1])
        explanations.append(explanation)
    facts = retrieval_facts({"path": args.query, "sha256": file_digest(args.query)}, hits, model, found.vote,
                            args.colormap, in_gallery=found.in_gallery, notes=found.notes)
    from core.io.dicom import report_filing

    # the query's patient and study: the hits are other patients' cases, never named in this patient's file
    paths = write_picture_and_facts(args.report, lambda: render_retrieval(facts, queries, cases, explanations),
                                    facts, args.force, filing=report_filing([query], "similar cases"))
    return [str(p) for p in paths]


def _progress(stream):
    tty = stream.isatty()

    def update(done: int, total: int) -> None:
        if tty:
            stream.write(f"\rindexing {done}/{total}")
            stream.write("\n" if done == total else "")
        elif done == total or done % 512 < 32:
            stream.write(f"indexing {done}/{total}\n")
        stream.flush()

    return update
