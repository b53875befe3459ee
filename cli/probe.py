"""`probe` command: k-NN accuracy and pair AUC of a model's backbone features on labelled data sets
(core.evaluation.probe)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.errors import InputError
from core.io.files import printable
from core.model.device import resolve_device


def run_probe(args) -> int:
    from core.evaluation.probe import probe_folders
    from core.model.weights import load_model

    check_data_dirs(args.data_dirs)
    if args.k < 1:
        raise InputError(f"-k must be at least 1, got {args.k}")
    started = time.perf_counter()
    model = load_model(args.model_path, device=resolve_device(args.device))
    results = probe_folders(model, args.data_dirs, args.cache_dir or None, args.k)
    if args.json:
        print(json.dumps({"model": model.name, "model_sha256": model.metadata.get("sha256"), "k": args.k,
                          "data_sets": results, "seconds": round(time.perf_counter() - started, 2)}))
        return 0
    print(f"model  {model.name}  ({args.model_path}), backbone features, leave-one-out {args.k}-NN, cosine")
    for r in results:
        print(f"{r['data_set']}: k-NN accuracy {_rate(r['knn_accuracy'])} (majority class {r['majority_share']:.3f}), "
              f"pair AUC {_rate(r['pair_auc'])} ({r['pairs']} pairs), {r['images']} images in {r['classes']} classes")
    return 0


def check_data_dirs(data_dirs) -> None:
    """Every DATA_DIR an existing folder, none given twice (pretrain, probe); one line naming the first that is not."""
    seen = set()
    for data_dir in data_dirs:
        path = Path(data_dir)
        if not path.exists():
            raise InputError(f"{printable(data_dir)}: no such folder")
        if not path.is_dir():
            raise InputError(f"{printable(data_dir)}: not a folder of class folders")
        if path.resolve() in seen:
            raise InputError(f"{printable(data_dir)}: given twice")
        seen.add(path.resolve())


def _rate(value) -> str:
    return "undefined" if value is None else f"{value:.3f}"
