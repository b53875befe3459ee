"""`evaluate` command: pair accuracy, ROC AUC and confusion matrix of a model on a data set, as text or JSON."""

from __future__ import annotations

import json
import os
import sys
import time

from core.errors import InputError
from core.model.device import resolve_device

from .run import EXIT_PARTIAL


def run_evaluate(args) -> int:
    from core.evaluation.evaluate import evaluate_dataset, is_skin_model
    from core.evaluation.lift import DEFAULT_LIFT_PAIRS
    from core.model.weights import load_model

    check_evaluate_args(args)
    started = time.perf_counter()
    model = load_model(args.model, device=resolve_device(args.device))
    lift_pairs = args.lift_pairs if args.lift_pairs is not None else (DEFAULT_LIFT_PAIRS if is_skin_model(model) else 0)
    result = evaluate_dataset(model, args.data_dir, max_pairs=args.pairs, include_seen=args.include_seen)
    named = name_skipped(result.unreadable, set())
    if lift_pairs > 0:  # explains a sample of the same pairs
        from core.evaluation.lift import dataset_lift

        result.lesion_lift = dataset_lift(model, args.data_dir, lift_pairs, max_pairs=args.pairs,
                                          include_seen=args.include_seen)
    retrieval = None
    if args.retrieval:
        from core.evaluation.evaluate import evaluate_retrieval

        retrieval = evaluate_retrieval(model, args.data_dir)
        name_skipped(retrieval["unreadable"], named)
    explanations = None
    if getattr(args, "explanations", 0) > 0:
        from core.evaluation.explanation_metrics import evaluate_explanations

        methods = args.methods.split(",") if getattr(args, "methods", None) else None
        explanations = evaluate_explanations(model, args.data_dir, args.explanations, methods)
    if args.roc:
        from core.io.plots import save_roc

        save_roc(result.roc["fpr"], result.roc["tpr"], result.auc, args.roc, f"ROC: {model.name} on {args.data_dir}")
    if args.risk_coverage:
        if not result.risk_coverage:
            raise InputError(f"--risk-coverage: {model.name} has no calibration; run `main.py calibrate` on it first")
        from core.io.plots import save_risk_coverage

        save_risk_coverage(result.risk_coverage, result.selective, args.risk_coverage,
                           f"Selective accuracy: {model.name} on {args.data_dir}")
    seconds = time.perf_counter() - started
    if args.json:
        payload = {"model": model.name, "model_sha256": model.metadata.get("sha256"), "data_dir": args.data_dir,
                   **result.to_dict(), **({"retrieval": retrieval} if retrieval else {}),
                   **({"explanations": explanations} if explanations else {}), "seconds": round(seconds, 2)}
        print(json.dumps(payload))
        return EXIT_PARTIAL if named else 0
    c = result.confusion
    print(f"model      {model.name}  ({args.model or 'default'})")
    print(f"pairs      {result.pairs} ({result.positives} same-class) from {result.images} images"
          + (f", {result.excluded_seen} seen in training left out" if result.excluded_seen else ""))
    if result.skipped_images:
        print(f"skipped    {result.skipped_images} unreadable image(s) and the {result.skipped_pairs} pair(s) drawn "
              "with them (named on stderr)")
    print(f"accuracy   {result.accuracy:.4f} at the model's threshold {result.threshold:.4f}")
    interval = (f" (95 % interval {result.auc_ci95[0]:.3f}-{result.auc_ci95[1]:.3f}, bootstrap over images)"
                if result.auc_ci95 else "")
    print(f"ROC AUC    {result.auc:.4f}{interval}")
    if result.selective:
        sel = result.selective
        accuracy = "no pair decided" if sel["accuracy"] is None else f"accuracy {sel['accuracy']:.4f}"
        print(f"verdicts   {accuracy} on the {sel['decided']} decided pairs, coverage {sel['coverage']:.4f} "
              f"(inconclusive for P(same class) {100 * sel['band'][0]:.0f}-{100 * sel['band'][1]:.0f} %)")
    else:
        print("verdicts   none: the model has no calibrated verdict band (run main.py calibrate)")
    print(f"best       balanced accuracy {result.best_balanced_accuracy:.4f} at threshold {result.best_threshold:.4f}")
    print("confusion  predicted similar | predicted different")
    print(f"  same     {c['true_similar']:>16} | {c['false_different']}")
    print(f"  other    {c['false_similar']:>16} | {c['true_different']}")
    if result.lesion_lift:
        lift = result.lesion_lift
        crop = f", uniform over the crop {lift['crop_uniform']}" if lift.get("crop_uniform") is not None else ""
        print(f"lift       factual {lift['factual']}, counterfactual {lift['counterfactual']} (centred blob "
              f"{lift['blob']}{crop}) on {lift['images']} lesions of {lift['pairs']} pairs")
    if retrieval:
        print(f"retrieval  P@1 {retrieval['precision_at_1']:.4f}, P@5 {retrieval['precision_at_5']:.4f}, "
              f"mAP {retrieval['mean_average_precision']:.4f}, 5-NN accuracy {retrieval['knn5_accuracy']:.4f} "
              f"({retrieval['queries']} unseen queries, {retrieval['gallery']} training images"
              + (f", {retrieval['skipped_images']} unreadable skipped)" if retrieval["skipped_images"] else ")"))
    if explanations:
        print_explanation_table(explanations)
    print(f"time       {seconds:.1f} s")
    return EXIT_PARTIAL if named else 0


def name_skipped(problems: list[str], named: set[str]) -> set[str]:
    """One stderr line for each unreadable image not yet named (retrieval reads the evaluation's images again)."""
    for problem in problems:
        if problem not in named:
            print(f"skipped {problem}", file=sys.stderr)
            named.add(problem)
    return named


def print_explanation_table(explanations: dict) -> None:
    """One row per method: deletion/insertion AUC (blur and ROAD, random maps in brackets; lower deletion and
    higher insertion are better), lesion mass and pointing game, randomisation rank correlation (lower is
    better), max-sensitivity (lower is better), time per pair."""
    def cell(value, width=5):
        return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"

    print(f"explanations, means over {explanations['pairs']} unseen pairs (random maps in brackets: del/ins the mean "
          "of three, ROAD one)")
    print(f"  {'method':<13} {'del':>5} {'(rnd)':>7} {'ins':>5} {'(rnd)':>7} {'ROADdel':>7} {'(rnd)':>7} "
          f"{'ROADins':>7} {'(rnd)':>7} {'lesion':>6} {'point':>5} {'random':>6} {'maxsens':>7} {'ms':>8}")
    for method, m in explanations["methods"].items():
        print(f"  {method:<13} {cell(m.get('deletion_auc'))} ({cell(m.get('deletion_auc_random'))}) "
              f"{cell(m.get('insertion_auc'))} ({cell(m.get('insertion_auc_random'))}) "
              f"{cell(m.get('road_deletion_auc'), 7)} ({cell(m.get('road_deletion_auc_random'))}) "
              f"{cell(m.get('road_insertion_auc'), 7)} ({cell(m.get('road_insertion_auc_random'))}) "
              f"{cell(m.get('lesion_mass'), 6)} {cell(m.get('pointing_game'))} {cell(m.get('randomisation'), 6)} "
              f"{cell(m.get('max_sensitivity'), 7)} {m.get('explain_ms') or 0:>4.0f}+{m.get('metrics_ms') or 0:<5.0f}"
              f" ({m['pairs']} pairs)")


def check_evaluate_args(args) -> None:
    if args.pairs is not None and args.pairs < 1:
        raise InputError(f"--pairs must be at least 1 (or left out for two pairs per image), got {args.pairs}")
    if args.lift_pairs is not None and args.lift_pairs < 0:
        raise InputError(f"--lift-pairs must be 0 or more, got {args.lift_pairs}")
    if getattr(args, "explanations", 0) < 0:
        raise InputError(f"--explanations must be 0 or more, got {args.explanations}")
    if getattr(args, "methods", None):
        from core.explain.methods import METHODS

        unknown = [m for m in args.methods.split(",") if m not in METHODS]
        if unknown:
            raise InputError(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    check_plot_paths([args.roc, getattr(args, "risk_coverage", None)], getattr(args, "force", False))


PLOT_SUFFIXES = (".png", ".pdf")  # what core.io.plots writes by the name (any other suffix would get PNG bytes)


def check_plot_paths(plots: list, overwrite: bool) -> None:
    """Refuse, before any work, a plot path that is not a .png or .pdf, that would overwrite a file without
    --force (as every output of the command line), or that names the same file as another plot."""
    from pathlib import Path

    from core.io.files import printable
    from core.review.report import check_targets

    given = [Path(plot) for plot in plots if plot]
    if len({os.path.realpath(plot) for plot in given}) < len(given):  # the second would replace the first
        raise InputError(f"{printable(given[0])}: --roc and --risk-coverage name the same file")
    for plot in given:
        if plot.suffix.lower() not in PLOT_SUFFIXES:
            raise InputError(f"{printable(plot)}: a plot file name must end in {', '.join(PLOT_SUFFIXES)}")
        check_targets([plot], overwrite)
