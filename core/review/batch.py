"""`main.py batch`: score (and optionally report) every pair of a CSV headless, resumably.

DIR/summary.csv gets one row per pair, appended and flushed to disk as each pair finishes; a run that is killed
and started again skips the pairs its summary already holds for the same files (by sha256), crops, model and
method, and repairs a last line that a kill cut short, so every pair appears exactly once. Every pair is scored
by core.explain.pair.explain_pair, with or without a report, so its verdict (core.trust.verdict) follows the same
rules, the out-of-domain check included, as in the window and `explain`; a pair's report is written by
core.review.outputs, as `explain --report` writes it.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

from core.errors import SiameseLensError
from core.explain.facts import model_facts
from core.io.dicom import report_filing
from core.io.files import first_line, folder_problem, printable
from core.io.images import load_image
from core.review.pairs_csv import read_pairs_csv
from core.review.report import write_picture_and_facts
from core.review.worklist import case_identity, crop_text, file_sha256
from core.vocabulary import DEFAULT_METHOD

SUMMARY_COLUMNS = ("image1", "image2", "kind", "similarity", "sha1", "sha2", "crop1", "crop2", "probability",
                   "verdict", "verdict_reason", "decision", "area_change", "threshold", "method", "model_sha256",
                   "seconds", "report", "error")


class BatchError(SiameseLensError):
    """The batch cannot run at all (unusable CSV, a summary from another kind of run)."""


def run_batch(model, pairs_csv, out_dir, *, method: str = DEFAULT_METHOD, report: bool = False, worklist=None,
              progress=None) -> dict:
    """Returns counts: pairs, done_before (already in the summary, from an earlier run or listed twice), scored,
    failed, and errors (one "line N: problem" for each failed pair, this run's or an earlier one's). progress(done,
    total) after each pair."""
    rows = read_pairs_csv(pairs_csv)
    if worklist is not None:
        worklist.require_writable()
    # a pair's case is added once, whichever run (or import) brought it first
    held = worklist.held_cases() if worklist is not None else {}
    out = Path(out_dir)
    summary = out / "summary.csv"
    unusable = folder_problem(out)
    if unusable:
        raise BatchError(f"{unusable}: its summary.csv cannot be written there")
    model_sha = model_facts(model)["sha256"] or ""
    done = _completed(summary)
    counts: dict = {"pairs": len(rows), "done_before": 0, "scored": 0, "failed": 0, "errors": []}
    try:
        out.mkdir(parents=True, exist_ok=True)
        opened = open(summary, "a", newline="", encoding="utf-8")
    except OSError as exc:  # a read-only folder: named with its reason, not as "[Errno 13] Permission denied"
        raise BatchError(f"{printable(summary)}: cannot be written ({exc.strerror or exc})") from None
    with opened as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_COLUMNS)
        if handle.tell() == 0:
            writer.writerow({c: c for c in SUMMARY_COLUMNS})
        for n, (line, row, problem) in enumerate(rows, start=1):
            crops = (crop_text(row.get("crop1")), crop_text(row.get("crop2")))
            shas = (file_sha256(row.get("image1") or ""), file_sha256(row.get("image2") or ""))
            key = (row.get("image1", ""), row.get("image2", ""), *shas, *crops, model_sha, method)
            if key in done:
                counts["done_before"] += 1
                if done[key]:
                    counts["failed"] += 1
                    counts["errors"].append(_on_line(line, done[key]))
                continue
            started = time.perf_counter()
            record = {"image1": row.get("image1", ""), "image2": row.get("image2", ""), "sha1": shas[0] or "",
                      "sha2": shas[1] or "", "crop1": crops[0] or "", "crop2": crops[1] or "", "method": method,
                      "model_sha256": model_sha, "threshold": model.threshold}
            try:
                if problem:
                    raise BatchError(f"line {line}: {problem}")
                record.update(_score(model, row, method, report, out / "reports" / f"pair-{line:05d}.png"))
            except (SiameseLensError, ValueError, OSError) as exc:
                record["error"] = first_line(exc, 300)
                counts["failed"] += 1
                counts["errors"].append(_on_line(line, record["error"]))
            else:
                counts["scored"] += 1
            record["seconds"] = round(time.perf_counter() - started, 4)
            writer.writerow(record)
            done[key] = record.get("error", "")  # a pair listed twice is scored once
            handle.flush()
            os.fsync(handle.fileno())  # the row is on disk before the next pair starts
            if worklist is not None and not record.get("error"):
                _to_worklist(worklist, held, row, record)
            if progress is not None:
                progress(n, len(rows))
    return counts


def _on_line(line: int, error: str) -> str:
    """A failed pair's error with its CSV line (a bad row's error names it already)."""
    return error if error.startswith(f"line {line}: ") else f"line {line}: {error}"


def _score(model, row, method: str, report: bool, report_path: Path) -> dict:
    """One row: a pair explained, or (kind "followup") a follow-up registered, measured and explained; with
    `report`, its report written beside the summary (one left by a killed run is replaced, never trusted)."""
    from core.review.case_record import CaseRecord, from_images

    images = [load_image(row["image1"], crop=row.get("crop1") or None),
              load_image(row["image2"], crop=row.get("crop2") or None)]
    case = (row.get("record") or CaseRecord()).merged(from_images(images))
    if row.get("kind") == "followup":
        from core.followup.visits import followup
        from core.review.followup_report import followup_report_facts, render

        result = followup(model, images[0], images[1], method=method)
        assert result.explanation is not None  # followup (not compare) always explains
        explanation, facts = result.explanation, followup_report_facts(result, model, record=case,
                                                                        note=row.get("note") or "")

        def write():
            return write_picture_and_facts(report_path, lambda: render(result, facts), facts, overwrite=True,
                                           filing=report_filing(result.images, "follow-up", primary=1))
        extra = {"area_change": result.changes.get("area_change")}
    else:
        from core.explain.pair import explain_pair, explained_images
        from core.model.network import describe
        from core.review.outputs import write_report

        explanation = explain_pair(model, images[0], images[1], method=method)

        def write():
            return write_report(report_path, explanation, explained_images(images, explanation), describe(model),
                                overwrite=True, note=row.get("note") or "", record=case)
        extra = {}
    record = {"kind": row.get("kind") or "pair", "similarity": round(explanation.similarity, 6),
              "decision": explanation.decision, "probability": explanation.probability_same,
              "verdict": explanation.verdict, "verdict_reason": explanation.verdict_reason, **extra}
    if report:
        write()
        record["report"] = str(report_path)
    return record


def _completed(summary: Path) -> dict[tuple, str]:
    """Rows already in the summary, keyed like run_batch's pairs (value: the error, '' for success). A last line
    cut short by a kill is removed first, so its pair runs again."""
    if not summary.exists():
        return {}
    data = summary.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(summary, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
    with open(summary, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames and tuple(reader.fieldnames) != SUMMARY_COLUMNS:
            raise BatchError(f"{summary}: not a summary of this kind of run (columns differ); choose another --out")
        return {(r["image1"], r["image2"], r["sha1"] or None, r["sha2"] or None, r["crop1"] or None,
                 r["crop2"] or None, r["model_sha256"], r["method"]): r["error"] for r in reader}


def _to_worklist(worklist, held: dict, row: dict, record: dict) -> None:
    """The pair's result on its case in the worklist, the case added when the worklist does not hold it yet."""
    identity = case_identity(row["image1"], row["image2"], row.get("kind"), row.get("lesion_id"))
    if identity in held:
        case = held[identity][0]
    else:
        case = worklist.add_case(row["image1"], row["image2"], case_id=row.get("case_id") or None,
                                 crop1=row.get("crop1"), crop2=row.get("crop2"), note=row.get("note") or "",
                                 record=row.get("record"), kind=row.get("kind"), lesion_id=row.get("lesion_id") or None)
        held[identity] = (case, row.get("note") or "")
    worklist.record_result(case, model_sha256=record["model_sha256"], method=record["method"],
                           similarity=record["similarity"], decision=record["verdict"],
                           probability=record.get("probability"), report_path=record.get("report"))
