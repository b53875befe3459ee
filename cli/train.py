"""`train` command: options checked before any work, a progress bar, the summary line."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from core.errors import InputError
from core.io.files import printable
from core.training.distributed import environment
from core.training.train import TrainOptions, checkpoint_path_for, train


def run_train(args) -> int:
    check_train_args(args)
    options = TrainOptions(
        data_dir=args.data_dir, out=args.out, architecture=args.architecture, input_size=args.input_size,
        embedding_dim=args.embedding_dim, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, margin=args.margin, augment=args.augment,
        in_batch_pairs=not args.paper_pairs_only, attention_weight=args.attention_weight,
        lesion_weight=args.lesion_weight, patience=args.patience,
        seed=args.seed, device=args.device, threads=args.threads, cache_dir=args.cache_dir, resume=args.resume,
        name=args.name, init_from=args.init_from, lesion_crop=args.lesion_crop, crop_margin=args.crop_margin,
        color_constancy=args.color_constancy,
    )
    bar = ProgressBar(sys.stderr)
    result = train(options, progress=bar.update)  # under torchrun: called on rank 0 only
    bar.close()
    if not environment().leader:
        return 130 if result.interrupted else 0  # rank 0 reports for the run
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.interrupted:
        print(f"interrupted: best model so far saved to {result.out}; continue with the same command plus --resume "
              f"(checkpoint {checkpoint_path_for(result.out)})", file=sys.stderr)
    print(f"saved {result.out}: best epoch {result.best_epoch}, validation AUC {result.best_val_auc:.4f}, "
          f"threshold {result.threshold:.4f}, test AUC {result.test['auc']:.4f}, "
          f"test accuracy {result.test['accuracy']:.4f}, "
          f"{result.seconds / 60:.1f} min")
    return 130 if result.interrupted else 0


def check_train_args(args) -> None:
    """Refuse, before anything is read or written, the options train would fail on (or quietly misuse)."""
    at_least(args, {"epochs": 1, "batch_size": 2, "patience": 1, "threads": 0, "embedding_dim": 2})
    positive_finite(args, ("lr", "margin"))
    positive_finite(args, ("weight_decay", "attention_weight", "lesion_weight", "crop_margin"), allow_zero=True)
    check_out(args.out, args.force or args.resume)
    out = Path(args.out)
    if args.init_from and Path(args.init_from).resolve() == out.resolve() and not args.resume:
        raise InputError(f"--init-from {printable(args.init_from)}: is the --out file itself")


def check_out(out, overwrite: bool) -> None:
    """--out must name a .pt file in an existing folder (train, pretrain), new unless `overwrite` (--force, or
    --resume, which continues the run that wrote it): a finished model is never replaced by accident."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {printable(out)}: is a folder; "
                         f"give the weights file, e.g. {printable(out / 'model.pt')}")
    if out.suffix.lower() != ".pt":
        # the metadata sidecar is OUT with .json, the curves OUT with .curves.png: any other suffix can make one
        # of them the weights file itself (train --out m.json overwrote the weights with the metadata)
        raise InputError(f"--out {printable(out)}: a weights file name must end in .pt")
    if not out.parent.is_dir():
        raise InputError(f"--out {printable(out)}: folder {printable(out.parent)} does not exist")
    for target in (out, out.with_suffix(".json")):  # the weights and their metadata sidecar
        if not overwrite and os.path.lexists(target):
            raise FileExistsError(f"--out {printable(target)}: already exists (use --force to overwrite, or "
                                  "--resume to continue its training)")


def at_least(args, minimums: dict) -> None:
    for key, low in minimums.items():
        value = getattr(args, key, None)
        if value is not None and value < low:
            raise InputError(f"--{key.replace('_', '-')} must be at least {low}, got {value}")


def positive_finite(args, keys, allow_zero: bool = False) -> None:
    for key in keys:
        value = getattr(args, key, None)
        if value is None:
            continue
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = "0 or more" if allow_zero else "above 0"
            raise InputError(f"--{key.replace('_', '-')} must be a finite number {bound}, got {value}")


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
        # an epoch's end: its validation AUC, or the words the run gives in "summary" (pretrain)
        auc = (p["summary"] if "summary" in p else f" val AUC {p['val_auc']:.4f} (best {p['best_auc']:.4f})") \
            if p.get("done") else ""
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
