"""`train` and `evaluate` commands: progress bar, summaries, JSON output."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from .device import resolve_device
from .files import printable
from .train import TrainOptions, checkpoint_path_for, train


def run_train(args) -> int:
    check_train_args(args)
    options = TrainOptions(
        data_dir=args.data_dir, out=args.out, architecture=args.architecture, input_size=args.input_size,
        embedding_dim=args.embedding_dim, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, margin=args.margin, augment=args.augment,
        in_batch_pairs=not args.paper_pairs_only, attention_weight=args.attention_weight, patience=args.patience,
        seed=args.seed, device=args.device, threads=args.threads, cache_dir=args.cache_dir, resume=args.resume,
        name=args.name, init_from=args.init_from, lesion_crop=args.lesion_crop, crop_margin=args.crop_margin,
        color_constancy=args.color_constancy,
    )
    bar = ProgressBar(sys.stderr)
    result = train(options, progress=bar.update)
    bar.close()
    if result.interrupted:
        print(f"interrupted: best model so far saved to {result.out}; continue with the same command plus --resume "
              f"(checkpoint {checkpoint_path_for(result.out)})", file=sys.stderr)
    print(f"saved {result.out}: best epoch {result.best_epoch}, validation AUC {result.best_val_auc:.4f}, "
          f"threshold {result.threshold:.4f}, test AUC {result.test['auc']:.4f}, test accuracy {result.test['accuracy']:.4f}, "
          f"{result.seconds / 60:.1f} min")
    return 130 if result.interrupted else 0


def run_evaluate(args) -> int:
    from .evaluate import evaluate_dataset, is_skin_model
    from .lift import DEFAULT_LIFT_PAIRS
    from .weights import load_model

    check_evaluate_args(args)
    started = time.perf_counter()
    model = load_model(args.model, device=resolve_device(args.device))
    lift_pairs = args.lift_pairs if args.lift_pairs is not None else (DEFAULT_LIFT_PAIRS if is_skin_model(model) else 0)
    result = evaluate_dataset(model, args.data_dir, max_pairs=args.pairs, include_seen=args.include_seen,
                              lift_pairs=lift_pairs)
    retrieval = None
    if args.retrieval:
        from .evaluate import evaluate_retrieval

        retrieval = evaluate_retrieval(model, args.data_dir)
    explanations = None
    if getattr(args, "explanations", 0) > 0:
        from .faithfulness import evaluate_explanations

        explanations = evaluate_explanations(model, args.data_dir, args.explanations)
    if args.roc:
        from .plots import save_roc

        save_roc(result.roc["fpr"], result.roc["tpr"], result.auc, args.roc, f"ROC: {model.name} on {args.data_dir}")
    seconds = time.perf_counter() - started
    if args.json:
        payload = {"model": model.name, "model_sha256": model.metadata.get("sha256"), "data_dir": args.data_dir,
                   **result.to_dict(), **({"retrieval": retrieval} if retrieval else {}),
                   **({"explanations": explanations} if explanations else {}), "seconds": round(seconds, 2)}
        print(json.dumps(payload))
        return 0
    c = result.confusion
    print(f"model      {model.name}  ({args.model or 'default'})")
    print(f"pairs      {result.pairs} ({result.positives} same-class) from {result.images} images"
          + (f", {result.excluded_seen} seen in training left out" if result.excluded_seen else ""))
    print(f"accuracy   {result.accuracy:.4f} at the model's threshold {result.threshold:.4f}")
    print(f"ROC AUC    {result.auc:.4f}")
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
              f"({retrieval['queries']} unseen queries, {retrieval['gallery']} training images)")
    if explanations:
        for method, m in explanations["methods"].items():
            print(f"faithful   {method:<9} deletion AUC {m['deletion_auc']:.3f} (random {m['deletion_auc_random']:.3f}), "
                  f"insertion AUC {m['insertion_auc']:.3f} (random {m['insertion_auc_random']:.3f}), "
                  f"{m['explain_ms']:.0f} + {m['faithfulness_ms']:.0f} ms per pair ({m['pairs']} pairs)")
    print(f"time       {seconds:.1f} s")
    return 0


def check_train_args(args) -> None:
    """Refuse, before anything is read or written, the options train would fail on (or quietly misuse)."""
    _at_least(args, {"epochs": 1, "batch_size": 2, "patience": 1, "threads": 0, "embedding_dim": 2})
    if not 16 <= args.input_size <= 1024:
        raise ValueError(f"--input-size must be in 16..1024 pixels, got {args.input_size}")
    _positive_finite(args, ("lr", "margin"))
    _positive_finite(args, ("weight_decay", "attention_weight", "crop_margin"), allow_zero=True)
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {printable(out)}: is a folder; give the weights file, e.g. {printable(out / 'model.pt')}")
    if out.suffix.lower() != ".pt":
        # the metadata sidecar is OUT with .json, the curves OUT with .curves.png: any other suffix can make one
        # of them the weights file itself (train --out m.json overwrote the weights with the metadata)
        raise ValueError(f"--out {printable(out)}: a weights file name must end in .pt")
    if not out.parent.is_dir():
        raise ValueError(f"--out {printable(out)}: folder {printable(out.parent)} does not exist")
    if args.init_from and Path(args.init_from).resolve() == out.resolve() and not args.resume:
        raise ValueError(f"--init-from {printable(args.init_from)}: is the --out file itself")


def check_evaluate_args(args) -> None:
    if args.pairs is not None and args.pairs < 1:
        raise ValueError(f"--pairs must be at least 1 (or left out for two pairs per image), got {args.pairs}")
    if args.lift_pairs is not None and args.lift_pairs < 0:
        raise ValueError(f"--lift-pairs must be 0 or more, got {args.lift_pairs}")
    if getattr(args, "explanations", 0) < 0:
        raise ValueError(f"--explanations must be 0 or more, got {args.explanations}")
    if args.roc:
        from .report import check_report_path

        check_report_path(args.roc, overwrite=True)  # a .png in an existing folder, not a folder


def _at_least(args, minimums: dict) -> None:
    for key, low in minimums.items():
        value = getattr(args, key, None)
        if value is not None and value < low:
            raise ValueError(f"--{key.replace('_', '-')} must be at least {low}, got {value}")


def _positive_finite(args, keys, allow_zero: bool = False) -> None:
    for key in keys:
        value = getattr(args, key, None)
        if value is None:
            continue
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = "0 or more" if allow_zero else "above 0"
            raise ValueError(f"--{key.replace('_', '-')} must be a finite number {bound}, got {value}")


class ProgressBar:
    """One self-rewriting line on a terminal; one line per epoch otherwise (logs, CI)."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()

    def update(self, p: dict) -> None:
        if not self.tty and not p["done"]:
            return
        width = 24
        filled = int(width * p["batch"] / max(p["batches"], 1))
        auc = f" val AUC {p['val_auc']:.4f} (best {p['best_auc']:.4f})" if p.get("done") else ""
        line = (f"epoch {p['epoch']}/{p['epochs']} [{'#' * filled}{'.' * (width - filled)}] "
                f"loss {p['loss']:.4f}{auc} ETA {_duration(p['eta_s'])}")
        if self.tty:
            self.stream.write("\r" + line.ljust(110) + ("\n" if p["done"] else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
