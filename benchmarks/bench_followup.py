"""Follow-up mode on synthetic follow-ups with a known answer: registration error, area-change error, time per pair.

    python benchmarks/bench_followup.py [--data ../shared/data/skin] [--pairs 40] [--seed 0] [--mode rigid]
                                        [--model weights/skin.pt | --model none]

Each baseline is a skin image (drawn at random with --seed from both classes; registration and measurement have
no trained parts, so no split matters) whose lesion the lesion finder finds, covering 2-40 % of the image. Its
follow-up (core.followup.synthetic): the lesion grown by 0-40 % of its area through a smooth local warp, then the
picture rotated by up to 25 degrees, shifted by up to 12 px and made up to 10 % brighter or darker, plus noise.

Printed as one JSON object:
- registration_error_px: median over pairs of the median distance, on the skin within 30 px around the baseline
  lesion, between where the estimated and the true transform put a follow-up pixel (target <= 3);
- area_change_error: median over pairs of |measured area change / true area change - 1| (target <= 0.10), the
  true change being the area of the baseline's outline after the growth warp over its area before;
- seconds_per_pair: median wall time of core.followup.visits.followup (registration, both measurements and, unless
  --model none, the explanation of the aligned pair) (target <= 1 s); seconds_per_pair_explanation: the
  explanation's part of it (core.explain.pair.explain_pair, the same cost as `explain`);
- also the share of registrations flagged failed, their errors, and the same medians over the pairs flagged ok.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from core.followup.synthetic import make_followup, point_error, skin_ring  # noqa: E402
from core.io.images import from_pil  # noqa: E402
from core.model.lesion import find_lesion  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def baselines(data: Path, count: int, rng: np.random.Generator):
    """(path, rgb, lesion mask) of `count` images whose lesion is found and covers 2-40 % of the image."""
    files = sorted(data.glob("*/*.jpg"))
    for index in rng.permutation(len(files)):
        rgb = np.asarray(Image.open(files[index]).convert("RGB"))
        lesion = find_lesion(rgb)
        if lesion.found and 0.02 <= lesion.share <= 0.40:
            yield files[index], rgb, lesion.mask
            count -= 1
            if count == 0:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "skin"))
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("rigid", "similarity"), default="rigid")
    parser.add_argument("--warp-reach", type=float, default=None,
                        help="how far the growth warp reaches, in lesion radii (default: core.followup.synthetic's)")
    parser.add_argument("--model", default=str(ROOT / "weights" / "skin.pt"), help="'none': no explanation")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from core.followup.registration import register
    from core.followup.visits import followup

    model = None
    if args.model != "none":
        from core.model.weights import load_model

        model = load_model(args.model, device="cpu")
    import core.followup.synthetic as synthetic_module

    if args.warp_reach is not None:
        synthetic_module.WARP_REACH = args.warp_reach
    args.warp_reach = synthetic_module.WARP_REACH
    rng = np.random.default_rng(args.seed)
    rows = []
    for path, rgb, mask in baselines(Path(args.data), args.pairs, rng):
        synthetic = make_followup(rgb, mask, rng)
        started = time.perf_counter()
        if model is not None:
            result = followup(model, from_pil(Image.fromarray(rgb), path=str(path)),
                              from_pil(Image.fromarray(synthetic.followup)), mode=args.mode)
            registration, changes = result.registration, result.changes
            explain_seconds = result.explanation.timings_ms["total"] / 1000.0
        else:
            explain_seconds = 0.0
            registration = register(rgb, synthetic.followup, mode=args.mode)
            changes = _changes(rgb, synthetic.followup, registration)
        area_change, uncertainty = changes["area_change"], changes["area_change_uncertainty"]
        seconds = time.perf_counter() - started
        error = point_error(registration.matrix, synthetic.matrix, skin_ring(mask))
        area_error = abs(area_change / synthetic.area_ratio - 1.0) if area_change else float("nan")
        rows.append({"image": path.name, "ok": registration.ok, "error_px": error, "estimate_px": registration.error_px,
                     "area_error": area_error, "seconds": seconds, "explain_seconds": explain_seconds,
                     "true_area_change": synthetic.area_ratio,
                     "rotation_deg": synthetic.rotation_deg,
                     "within_uncertainty": area_change is not None and
                     abs(area_change - synthetic.area_ratio) <= (uncertainty or 0.0)})
    print(json.dumps(summary(rows, args)))


def _changes(rgb, followup_rgb, registration):
    """The changes as core.followup.visits measures them, without the model."""
    from core.followup.measurements import measure
    from core.followup.registration import warp_to_baseline
    from core.followup.visits import change_facts, visit_outlines

    height, width = rgb.shape[:2]
    if not registration.ok:
        second, valid = followup_rgb, None
    else:
        second = warp_to_baseline(followup_rgb, registration, (width, height))
        valid = warp_to_baseline(np.full(followup_rgb.shape[:2], 255, np.uint8), registration, (width, height)) > 0
    (first, then), _ = visit_outlines(rgb, second, valid)
    return change_facts([measure(rgb, first), measure(second, then)], registration)


def summary(rows: list, args) -> dict:
    def median(key, subset=rows):
        values = [r[key] for r in subset if np.isfinite(r[key])]
        return round(statistics.median(values), 4) if values else None

    ok = [r for r in rows if r["ok"]]
    flagged = [r for r in rows if not r["ok"]]
    return {"pairs": len(rows), "seed": args.seed, "mode": args.mode, "model": args.model,
            "warp_reach_radii": args.warp_reach,
            "registration_error_px": median("error_px"), "area_change_error": median("area_error"),
            "seconds_per_pair": median("seconds"), "seconds_per_pair_explanation": median("explain_seconds"),
            "registration_error_px_p90": round(float(np.percentile([r["error_px"] for r in rows], 90)), 3),
            "area_change_error_p90": round(float(np.nanpercentile([r["area_error"] for r in rows], 90)), 4),
            "area_change_within_stated_uncertainty": round(float(np.mean([r["within_uncertainty"] for r in rows])), 3),
            "flagged_failed": len(flagged),
            "flagged_failed_errors_px": sorted(round(r["error_px"], 2) for r in flagged),
            "ok_registration_error_px": median("error_px", ok), "ok_area_change_error": median("area_error", ok),
            "ok_with_error_over_3px": sum(r["error_px"] > 3 for r in ok),
            "ok_estimate_vs_true_px": [[round(r["estimate_px"], 2), round(r["error_px"], 2)] for r in ok
                                       if r["error_px"] > 3],
            "targets": {"registration_error_px": 3.0, "area_change_error": 0.10, "seconds_per_pair": 1.0}}


if __name__ == "__main__":
    main()
