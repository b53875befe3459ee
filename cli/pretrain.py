"""`pretrain` command: self-supervised pretraining of a backbone (core.training.pretrain); options checked before
any work, train's progress bar, the summary line."""

from __future__ import annotations

import sys

from .probe import check_data_dirs
from .train import ProgressBar, at_least, check_out, positive_finite


def run_pretrain(args) -> int:
    from core.training.checkpoint import checkpoint_path_for
    from core.training.pretrain import PretrainOptions, pretrain

    check_pretrain_args(args)
    options = PretrainOptions(
        data_dirs=list(args.data_dirs), out=args.out, architecture=args.architecture, input_size=args.input_size,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
        threads=args.threads, cache_dir=args.cache_dir, probe_every=args.probe, resume=args.resume, name=args.name,
    )
    bar = ProgressBar(sys.stderr)
    result = pretrain(options, progress=bar.update)
    bar.close()
    if result.interrupted:
        print(f"interrupted: the last finished epoch saved to {result.out}; continue with the same command plus "
              f"--resume (checkpoint {checkpoint_path_for(result.out)})", file=sys.stderr)
    loss = result.history[-1]["loss"] if result.history else None
    probes = "".join(f", {p['data_set']} k-NN accuracy {_rate(p['knn_accuracy'])} pair AUC {_rate(p['pair_auc'])}"
                     for p in result.probe)
    print(f"saved {result.out}: SimSiam, {result.epochs} epochs, last loss {_rate(loss, 4)}{probes}, "
          f"{result.seconds / 60:.1f} min; fine-tune with: main.py train DATA_DIR --init-from {result.out}")
    return 130 if result.interrupted else 0


def check_pretrain_args(args) -> None:
    """Refuse, before anything is read or written, the options pretrain would fail on."""
    at_least(args, {"epochs": 1, "batch_size": 2, "threads": 0, "probe": 0})
    positive_finite(args, ("lr",))
    check_out(args.out, args.force or args.resume)  # as train: before the data sets are read
    check_data_dirs(args.data_dirs)


def _rate(value, digits: int = 3) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"
