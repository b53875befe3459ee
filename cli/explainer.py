"""`explainer` command: train a model's amortised first map and store it in its weights file."""

from __future__ import annotations

import json
import sys

from core.errors import InputError


def run_explainer(args) -> int:
    from core.training.explainer import ExplainerOptions, train_explainer

    if not 4 <= args.pairs <= 100_000:
        raise InputError(f"--pairs must be 4..100000, got {args.pairs}")
    if not 1 <= args.width <= 512:
        raise InputError(f"--width must be 1..512, got {args.width}")
    if not 1 <= args.target_seeds <= 16:
        raise InputError(f"--target-seeds must be 1..16, got {args.target_seeds}")
    if not 0.0 <= args.insertion_weight <= 1.0:
        raise InputError(f"--insertion-weight must be 0..1, got {args.insertion_weight}")
    if not 0 <= args.fit_seed < 2**32:
        raise InputError(f"--fit-seed must be 0..{2**32 - 1}, got {args.fit_seed}")

    def progress(done: int, total: int) -> None:
        if not args.json:
            sys.stderr.write(f"\rtargets {done}/{total}   ")
            sys.stderr.flush()

    def on_epoch(epoch: int, loss: float) -> None:
        if not args.json:
            sys.stderr.write(f"\rfitting epoch {epoch}, held-out loss {loss:.4f}   ")
            sys.stderr.flush()

    report = train_explainer(args.model_path, args.data_dir, ExplainerOptions(pairs=args.pairs, width=args.width,
                                                                     target_seeds=args.target_seeds,
                                                                     seed=args.fit_seed,
                                                                     insertion_weight=args.insertion_weight),
                             args.cache_dir, progress=progress, on_epoch=on_epoch)
    if args.json:
        print(json.dumps(report, allow_nan=False))
        return 0
    sys.stderr.write("\n")
    print(f"explainer    {report['parameters']} parameters, fitted on {report['fit_pairs']} training pairs, "
          f"stopped at epoch {report['epochs']} on {report['holdout_pairs']} held-out training pairs "
          f"(fit seed {report['fit_seed']})")
    print(f"agreement    median rank correlation with the {report['target']} map on those pairs: "
          f"{report['holdout_rank_correlation']} (Grad-CAM's: {report['holdout_rank_correlation_gradcam']})")
    w = report["weights"]
    print(f"wrote        {w['path']} (sha256 {w['sha256'][:12]}..., {w['size_bytes']} bytes)")
    return 0
