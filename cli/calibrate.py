"""`calibrate` command: fit a model's calibration and out-of-domain summary and store them in its weights file."""

from __future__ import annotations

import json


def run_calibrate(args) -> int:
    from core.evaluation.calibrate import recalibrate_file

    report = recalibrate_file(args.model_path, args.data_dir, cache_dir=args.cache_dir or None, tta=args.tta)
    if args.json:
        print(json.dumps(report, allow_nan=False))
        return 0
    if "tta" in report:
        t = report["tta"]
        for mode, m in t["measured"].items():
            print(f"tta {mode:<9}validation AUC {m['val_auc']:.4f}, {m['ms_per_pair']:.1f} ms per pair")
        print(f"tta          chosen: {t['chosen']}; threshold {t['threshold']:.3f} on validation; "
              f"test AUC {t['test_auc']:.4f}")
    c, d = report["calibration"], report["domain"]
    print(f"calibration  Platt a={c['a']:.3f} b={c['b']:.3f} on the {c['fitted_on']}")
    print(f"test ECE     {c['test_ece_raw']:.4f} raw similarity -> {c['test_ece']:.4f} calibrated "
          f"({c['test_pairs']} pairs)")
    v = report["verdict"]
    low, high = v["band"]
    decided = ("no band reaches it: every pair inconclusive" if v["selective_accuracy"] is None else
               f"{100 * v['coverage']:.1f} % of validation pairs decided, "
               f"{100 * v['selective_accuracy']:.1f} % correctly")
    tested = ("" if v.get("test_selective_accuracy") is None else
              f"; test: {100 * v['test_coverage']:.1f} % decided, {100 * v['test_selective_accuracy']:.1f} % correctly")
    print(f"verdict      inconclusive for P(same class) {100 * low:.0f}-{100 * high:.0f} % (target accuracy "
          f"{100 * v['target_accuracy']:.0f} %): {decided}{tested}")
    print(f"domain       {d['method']}, threshold at p{d['percentile']:g} of the validation images; "
          f"{100 * d['test_flagged']:.1f} % of test images flagged; same content below d={d['duplicate_distance']:.4f}")
    w = report["weights"]
    print(f"wrote        {w['path']} (tensors unchanged, sha256 {w['sha256'][:12]}..., {w['size_bytes']} bytes)")
    return 0

