"""`batch` and `worklist` commands: many pairs headless, and the worklist's CSV import / export."""

from __future__ import annotations

import sys
import time

from .run import EXIT_PARTIAL


def run_batch_command(args) -> int:
    from core.model.device import resolve_device
    from core.model.weights import load_model
    from core.review.batch import run_batch
    from core.review.worklist import Worklist

    worklist = Worklist(args.worklist) if args.worklist else None
    model = load_model(args.model, device=resolve_device(args.device))
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rpairs {done}/{total}" + ("\n" if done == total else ""))
            sys.stderr.flush()

    try:
        counts = run_batch(model, args.pairs_csv, args.out, method=args.method, report=args.report,
                           worklist=worklist, progress=progress)
    finally:
        if worklist is not None:
            worklist.close()
    seconds = time.perf_counter() - started
    for error in counts["errors"]:
        print(f"failed {error}", file=sys.stderr)
    rate = counts["scored"] / seconds if counts["scored"] else 0.0
    print(f"{args.out}/summary.csv: {counts['pairs']} pairs, {counts['scored']} scored now"
          + (f" ({rate:.1f} pairs/s)" if rate else "") + f", {counts['done_before']} skipped (already in the summary), "
          f"{counts['failed']} failed")
    return EXIT_PARTIAL if counts["failed"] else 0


def run_worklist_command(args) -> int:
    import os

    from core.io.files import counted, printable
    from core.review.worklist import Worklist

    if args.export_csv and os.path.lexists(args.export_csv) and not args.force:  # before the import writes anything
        # the file given may be the very CSV imported, or another worklist's export
        raise FileExistsError(f"{printable(args.export_csv)}: already exists (use --force to overwrite)")
    worklist = Worklist(args.worklist)
    problems: list[str] = []
    try:
        if args.import_csv:
            imported = worklist.import_csv(args.import_csv)
            problems = imported.problems
            for problem in problems:
                print(f"skipped {problem}", file=sys.stderr)
            for kept in imported.notes_kept:
                print(kept, file=sys.stderr)
            print(f"{worklist.path}: {counted(len(imported.added), 'case')} added, {len(imported.already)} already "
                  f"in the worklist (left as they were), {counted(len(problems), 'row')} skipped")
        if args.export_csv:
            count = worklist.export_csv(args.export_csv)
            print(f"{args.export_csv}: {count} cases exported")
        if not args.import_csv and not args.export_csv:
            cases = worklist.cases()
            by_status = {status: sum(c.status == status for c in cases)
                         for status in ("new", "in review", "done", "flagged")}
            print(f"{worklist.path}: {len(cases)} cases (" + ", ".join(f"{n} {s}" for s, n in by_status.items()) + ")")
    finally:
        worklist.close()
    return EXIT_PARTIAL if problems else 0
