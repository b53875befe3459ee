"""Follow-up mode on synthetic second visits with a known answer: registration rate, false acceptances, errors,
area-change error, colour stability, repeatability, time per pair.

    python benchmarks/bench_followup.py [--split val|test] [--pairs 60] [--seed 0] [--mode auto]
                                        [--variation realistic|mild] [--kind growth|repeat|impostor]
                                        [--model none | weights/skin.pt] [--data ../shared/data/skin]

Baselines are skin images of one split of the skin model (weights/skin.json's `split`, re-created as training
made it: choose on `val`, report on `test`) whose lesion the lesion finder finds, covering 2-40 % of the image.
Each second visit (core.followup.synthetic, --variation realistic: REALISTIC) has the lesion grown by 0-40 % of
its area (--kind growth), or unchanged (--kind repeat: a re-acquisition, for repeatability and colour stability),
or is another lesion's second visit (--kind impostor: must never register), or two later visits of one baseline
(--kind history: one baseline outline for the whole history, history_consistency), then the dermoscope put down again:
any rotation, magnification +-10 %, a tilt of up to 4 degrees, a shift, dark corners, exposure and white balance
+-10 %, blur up to 1.2 px, noise.

Printed as one JSON object:
- registered: share of pairs whose registration was accepted (target >= 0.90); accepted_over_5px: accepted
  registrations more than 5 px off (target 0); registration_error_px: median over accepted pairs of the median
  distance, on the skin within 30 px around the baseline lesion, between where the estimated and the true
  transform put a follow-up pixel (target <= 1);
- compared: accepted pairs with change figures (both outlines found and clear of the picture's edge);
  not_compared_at_edge: accepted pairs without, because an outline reaches the edge (core.followup.visits.at_frame);
  area_change_error: median over compared pairs of |measured area change / true area change - 1| (target <= 0.05);
  area_change_within_uncertainty: share of them whose true change lies within the stated standard uncertainty;
- seconds_per_pair: median wall time of core.followup.visits.compare (registration, outlines, measurements), plus
  the explanation when --model is given (target <= 1 s); cpu_seconds_per_pair: the process's CPU time for it (on a
  shared, loaded machine the wall time mostly measures the wait for a core);
- repeat: per measurement the standard deviation between the two visits of an unchanged lesion (relative for
  area and diameter, divided by sqrt(2) for one visit's), and how often the colour count or the colour names
  changed; impostor: how many were accepted (target 0); colour: how often the colour count or names change when
  only the light changes (exposure x white balance, +-10 % each, three random changes per lesion).
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

from core.followup.synthetic import REALISTIC, make_followup, point_error, skin_ring  # noqa: E402
from core.io.images import from_pil  # noqa: E402
from core.model.lesion import find_lesion  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def baselines(data: Path, split: str, rng: np.random.Generator):
    """(path, rgb, lesion mask) of the split's images whose lesion is found and covers 2-40 % of the image, in a
    random order of `rng`."""
    from core.data.datasets import scan_dataset, split_by_image

    meta = json.loads((ROOT / "weights" / "skin.json").read_text())["split"]
    dataset = scan_dataset(data)
    indices = split_by_image(dataset, int(meta["seed"]), float(meta["val_fraction"]),
                             float(meta["test_fraction"]))[split]
    for index in rng.permutation(indices):
        rgb = np.asarray(Image.open(dataset.paths[index]).convert("RGB"))
        lesion = find_lesion(rgb)
        if lesion.found and 0.02 <= lesion.share <= 0.40:
            yield dataset.paths[index], rgb, lesion.mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "skin"))
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=("auto", "rigid", "similarity"), default="auto")
    parser.add_argument("--variation", choices=("realistic", "mild"), default="realistic",
                        help="mild: the former synthetic follow-ups (rotation +-25 deg, shift, brightness)")
    parser.add_argument("--kind", choices=("growth", "repeat", "impostor", "colour", "history"),
                        default="growth")
    parser.add_argument("--model", default="none", help="a weights file: also time the explanation")
    parser.add_argument("--rows", help="also write every pair's figures to this JSON file")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from core.followup.visits import compare, followup

    model = None
    if args.model != "none":
        from core.model.weights import load_model

        model = load_model(args.model, device="cpu")
    rng = np.random.default_rng(args.seed)
    variation = REALISTIC if args.variation == "realistic" else {}
    pool = baselines(Path(args.data), args.split, rng)
    if args.kind == "colour":
        print(json.dumps(colour_stability(pool, args, rng)))
        return
    if args.kind == "history":
        print(json.dumps(history_consistency(pool, args, rng, variation)))
        return
    rows = []
    previous = next(pool) if args.kind == "impostor" else None
    for path, rgb, mask in pool:
        source_rgb, source_mask = (previous[1], previous[2]) if previous is not None else (rgb, mask)
        growth = 0.0 if args.kind == "repeat" else None
        synthetic = make_followup(source_rgb, source_mask, rng, growth=growth, **variation)
        pair = (from_pil(Image.fromarray(rgb), path=str(path)), from_pil(Image.fromarray(synthetic.followup)))
        started, cpu = time.perf_counter(), time.process_time()
        result = (followup(model, *pair, mode=args.mode) if model is not None else compare(*pair, mode=args.mode))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        registration, changes = result.registration, result.changes
        error = point_error(registration.matrix, synthetic.matrix, skin_ring(mask))
        area_change, uncertainty = changes["area_change"], changes["area_change_uncertainty"]
        first, second = result.measurements
        rows.append({"image": path.name, "ok": registration.ok, "mode": registration.mode, "error_px": error,
                     "estimate_px": registration.error_px, "seconds": seconds, "cpu_seconds": cpu_seconds,
                     "quality": registration.quality, "scale": registration.scale,
                     "scale_error": registration.scale_error, "true_scale": 1.0 / synthetic.scale,
                     "agreement_px": registration.feature_agreement_px, "inliers": registration.feature_inliers,
                     "area_error": abs(area_change / synthetic.area_ratio - 1.0) if area_change else float("nan"),
                     "within_uncertainty": area_change is not None and
                     abs(area_change - synthetic.area_ratio) <= (uncertainty or 0.0),
                     "area_change": area_change, "diameter_change": changes["diameter_change"],
                     "at_frame": [first.get("outline_at_frame"), second.get("outline_at_frame")],
                     "true_area_ratio": synthetic.area_ratio,
                     "asymmetry_change": changes["asymmetry_change"],
                     "border_irregularity_change": changes["border_irregularity_change"],
                     "colours": [first["colours"], second["colours"]],
                     "colour_names": [first["colour_names"], second["colour_names"]],
                     "colour_shares": [first["colour_shares"], second["colour_shares"]],
                     "headline": changes["change_headline"], "beyond": changes["change_beyond_uncertainty"],
                     "new_colours": changes["new_colours"]})
        previous = (path, rgb, mask) if args.kind == "impostor" else None
        if len(rows) >= args.pairs:
            break
    print(json.dumps(summary(rows, args)))
    if args.rows:
        Path(args.rows).write_text(json.dumps(rows, default=float))


def colour_stability(pool, args, rng: np.random.Generator) -> dict:
    """The colours named on one outline under three random exposure x white-balance changes of +-10 % each (the
    same pixels, only the light changed): how often the count or the names change."""
    from core.followup.measurements import CLIPPED_MAX, clipped_share, colours

    gains = [rng.uniform(0.9, 1.1) * rng.uniform(0.9, 1.1, 3) for _ in range(3)]
    count = names = trials = compared = compared_changed = 0
    counts = []
    for _, rgb, mask in pool:
        first = colours(rgb, mask)
        counts.append(len(first))
        for gain in gains:
            lit = np.clip(rgb * gain, 0, 255).astype(np.uint8)
            other = colours(lit, mask)
            count, names, trials = count + (len(other) != len(first)), names + (set(other) != set(first)), trials + 1
            if max(clipped_share(rgb, mask), clipped_share(lit, mask)) <= CLIPPED_MAX:  # what a follow-up compares
                compared, compared_changed = compared + 1, compared_changed + (len(other) != len(first))
        if len(counts) >= args.pairs:
            break
    return {"lesions": len(counts), "split": args.split, "seed": args.seed, "kind": "colour", "trials": trials,
            "colour_count_changed": count, "colour_names_changed": names,
            "not_over_exposed": compared, "colour_count_changed_not_over_exposed": compared_changed,
            "colours_per_lesion": np.bincount(counts).tolist()}


def history_consistency(pool, args, rng: np.random.Generator, variation: dict) -> dict:
    """Histories of three visits of one lesion (the baseline, then two synthetic later visits grown 0-20 % and
    20-40 % in area, each re-photographed independently), each later visit compared with the baseline as a
    history does (core.followup.history): how often the baseline's area differs between the two pairs, and how far
    a visit's stated area ratio is from its area over the history's baseline area (visits[0]) and from the trend's
    figure; the area-change error of the compared visits against the truth."""
    from core.followup.history import History, history_facts, trend
    from core.followup.visits import compare

    histories, baseline_differs, mismatch, errors = 0, 0, [], []
    for path, rgb, mask in pool:
        growths = (float(rng.uniform(0.0, 0.2)), float(rng.uniform(0.2, 0.4)))
        visits = [make_followup(rgb, mask, rng, growth=growth, **variation) for growth in growths]
        images = [from_pil(Image.fromarray(rgb), path=str(path))] + [from_pil(Image.fromarray(v.followup))
                                                                     for v in visits]
        history = History(images=images, dates=[""] * 3, given=[0, 1, 2], order_note="",
                          comparisons=[compare(images[0], image, mode=args.mode) for image in images[1:]])
        entries = history_facts(history)["visits"]
        areas = [result.measurements[0]["area_px"] for result in history.comparisons]
        histories += 1
        baseline_differs += len(set(areas)) > 1
        series = trend(entries)["area"]
        for entry, visit, figure in zip(entries[1:], visits, series[1:], strict=True):
            ratio = (entry["changes"] or {}).get("area_change")
            if ratio is None:
                continue
            own = entry["measurements"]["area_px"] / entries[0]["measurements"]["area_px"]
            mismatch.append(max(abs(ratio / own - 1.0), abs(figure[0] / own - 1.0)))
            errors.append(abs(ratio / visit.area_ratio - 1.0))
        if histories >= args.pairs:
            break
    return {"histories": histories, "split": args.split, "seed": args.seed, "kind": "history",
            "baseline_area_differs_between_pairs": baseline_differs, "visits_compared": len(errors),
            "ratio_vs_history_baseline_mismatch_max": round(max(mismatch), 4) if mismatch else None,
            "ratio_vs_history_baseline_mismatch_over_0.5pct": sum(m > 0.005 for m in mismatch),
            "area_change_error": round(float(np.median(errors)), 4) if errors else None,
            "area_change_error_p90": round(float(np.percentile(errors, 90)), 4) if errors else None}


def summary(rows: list, args) -> dict:
    def median(key, subset):
        values = [r[key] for r in subset if r[key] is not None and np.isfinite(r[key])]
        return round(statistics.median(values), 4) if values else None

    ok = [r for r in rows if r["ok"]]
    out = {"pairs": len(rows), "split": args.split, "seed": args.seed, "mode": args.mode, "kind": args.kind,
           "variation": args.variation, "model": args.model,
           "registered": round(len(ok) / max(1, len(rows)), 3), "accepted": len(ok),
           "modes_chosen": {m: sum(r["mode"] == m for r in ok) for m in ("rigid", "similarity")},
           "seconds_per_pair": median("seconds", rows), "cpu_seconds_per_pair": median("cpu_seconds", rows),
           "seconds_per_pair_p90": round(float(np.percentile([r["seconds"] for r in rows], 90)), 3)}
    if args.kind == "impostor":
        return {**out, "targets": {"accepted": 0}}
    out.update({"accepted_over_5px": sum(r["error_px"] > 5 for r in ok),
                "accepted_over_3px": sum(r["error_px"] > 3 for r in ok),
                "registration_error_px": median("error_px", ok),
                "registration_error_px_p90": round(float(np.percentile([r["error_px"] for r in ok], 90)), 3)
                if ok else None,
                "rejected_errors_px": sorted(round(r["error_px"], 1) for r in rows if not r["ok"])})
    if args.kind == "growth":  # over the pairs compared: registered, both outlines found and clear of the edge
        compared = [r for r in ok if r["area_change"] is not None]
        out.update({"compared": len(compared),
                    "not_compared_at_edge": sum(r["area_change"] is None and any((share or 0) > 0
                                                                                 for share in r["at_frame"])
                                                for r in ok),
                    "area_change_error": median("area_error", compared),
                    "area_change_error_p90": round(float(np.percentile([r["area_error"] for r in compared], 90)), 4)
                    if compared else None,
                    "area_change_within_uncertainty": round(float(np.mean([r["within_uncertainty"]
                                                                           for r in compared])), 3)
                    if compared else None,
                    "targets": {"registered": 0.90, "accepted_over_5px": 0, "registration_error_px": 1.0,
                                "area_change_error": 0.05, "seconds_per_pair": 1.0}})
        return out
    found = [r for r in ok if r["area_change"] is not None]

    def spread(key, relative):
        values = np.array([r[key] for r in found], float)
        values = np.log(values) if relative else values
        return round(float(np.std(values, ddof=1) / np.sqrt(2.0)), 4) if len(values) > 2 else None

    def typical(key):  # median and p90 of |change| between the two visits (relative for area and diameter)
        values = np.abs(np.log([r[key] for r in found])) if key in ("area_change", "diameter_change") else \
            np.abs([r[key] for r in found])
        return [round(float(np.median(values)), 4), round(float(np.percentile(values, 90)), 4)] if found else None

    out.update({"abs_change_median_p90": {key.removesuffix("_change"): typical(key) for key in
                                          ("area_change", "diameter_change", "asymmetry_change",
                                           "border_irregularity_change")},
                "repeatability": {"area": spread("area_change", True), "diameter": spread("diameter_change", True),
                                  "asymmetry": spread("asymmetry_change", False),
                                  "border_irregularity": spread("border_irregularity_change", False)},
                "colour_share_repeatability": _share_spread(found),
                "colour_count_changed": sum(r["colours"][0] != r["colours"][1] for r in found),
                "colour_names_changed": sum(set(r["colour_names"][0] or []) != set(r["colour_names"][1] or [])
                                            for r in found),
                "new_colour_counted": sum(bool(set(r["colour_names"][1] or []) - set(r["colour_names"][0] or []))
                                          for r in found),
                "new_colour_reported": sum(bool(r["new_colours"]) for r in found),
                "reported_as_change": sum(bool(r["beyond"]) for r in found), "compared": len(found)})
    return out


def _share_spread(found: list) -> float | None:
    """Standard deviation of one visit's share of a colour (the difference between two visits over sqrt(2)), over
    the colours covering at least 1 % of the lesion at either visit."""
    gaps = [r["colour_shares"][1][name] - r["colour_shares"][0][name] for r in found for name in r["colour_shares"][0]
            if max(r["colour_shares"][0][name], r["colour_shares"][1][name]) >= 0.01]
    return round(float(np.std(gaps, ddof=1) / np.sqrt(2.0)), 4) if len(gaps) > 2 else None


if __name__ == "__main__":
    main()
