"""How the window's faithfulness check answers on validation pairs: faithful / inconclusive / unfaithful
(core.trust.checks.check_verdict, three random maps) against the earlier rule (one random map, strict), and what
each costs.

    nice -n 10 python benchmarks/bench_check_verdicts.py ../shared/data/skin ../shared/data/flowers --pairs 40 \
        --threads 1 --json /tmp/check-verdicts.json

Per model (weights/<folder name>.pt unless --weights), on its validation pairs (benchmarks/bench_explanations.
split_pairs, never the test split), the maps as the window shows them: the first map (the default method,
Grad-CAM) and its refinement (core.explain.refine: blur integrated gradients), each judged by
core.explain.faithfulness with seeds (0,) (the earlier check) and RANDOM_SEEDS (the check now), timed in the same
run. Pairs whose maps the window withholds or does not draw (outside the domain, same content) are counted and
left out. "moves" is how far the explained score moves in any curve of the check (the map's or a random map's):
the distribution core.trust.checks.FLAT is chosen from.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench_check_margin import data_parser, models  # noqa: E402
from benchmarks.bench_explanations import split_pairs  # noqa: E402
from core.explain.faithfulness import RANDOM_SEEDS, faithfulness  # noqa: E402
from core.explain.pair import explain_pair, explained_images  # noqa: E402
from core.explain.refine import refined, refines  # noqa: E402
from core.io.files import atomic_write  # noqa: E402
from core.io.images import load_image  # noqa: E402
from core.model.weights import load_model  # noqa: E402
from core.trust.checks import FAITHFUL, UNFAITHFUL, better_than_chance, check_verdict, flat  # noqa: E402

MAPS = ("first", "refined")
FLAT_CHOICES = (0.005, 0.01, 0.02)


def moves(curves: dict) -> float:
    """The largest change of the explained score in any curve of the check, from the unperturbed pair."""
    original = curves["deletion_map"][0]
    every = [curves["deletion_map"], curves["insertion_map"], *curves["deletion_randoms"],
             *curves["insertion_randoms"]]
    return float(max(abs(v - original) for curve in every for v in curve))


def pair_rows(model, data: str, count: int, log) -> tuple[list[dict], Counter]:
    rows, skipped = [], Counter()
    for n, (p1, p2, same) in enumerate(split_pairs(model, data, "val", count)):
        images = [load_image(p1), load_image(p2)]
        first = explain_pair(model, *images)
        if first.same_content:
            skipped["same content"] += 1
            continue
        if not refines(first):  # the window withholds the maps of a pair it does not assess
            skipped["maps withheld"] += 1
            continue
        views = [image.image for image in explained_images(images, first)]
        shown = {"first": first, "refined": refined(model, views, first)}
        for name in MAPS:
            old = faithfulness(model, views, shown[name], seeds=(0,))
            new = faithfulness(model, views, shown[name], seeds=RANDOM_SEEDS)
            rows.append({"pair": [str(p1), str(p2)], "same": same, "map": name,
                         "old": FAITHFUL if better_than_chance(old) else UNFAITHFUL,
                         "new": check_verdict(new), "flat": flat(new), "moves": moves(new),
                         "old_ms": old["ms"], "new_ms": new["ms"],
                         "aucs": {k: new[k] for k in new if "_auc_" in k}})
        log(f"{data} pair {n + 1}/{count}: " + ", ".join(f"{r['map']} {r['old']}->{r['new']}" for r in rows[-2:]))
    return rows, skipped


def summary(rows: list[dict], skipped: Counter) -> dict:
    out: dict = {"skipped": dict(skipped)}
    for name in MAPS:
        mine = [r for r in rows if r["map"] == name]
        if not mine:
            continue
        new = Counter(r["new"] for r in mine)
        old = Counter(r["old"] for r in mine)
        total = len(mine)
        every_move = np.asarray([r["moves"] for r in mine])
        out[name] = {
            "pairs": total,
            "new": {k: f"{new[k]} ({100 * new[k] / total:.0f} %)" for k in (FAITHFUL, "inconclusive", UNFAITHFUL)},
            "old": {k: f"{old[k]} ({100 * old[k] / total:.0f} %)" for k in (FAITHFUL, UNFAITHFUL)},
            "old -> new": dict(Counter(f"{r['old']} -> {r['new']}" for r in mine)),
            "disagree": sum(r["old"] != r["new"] for r in mine),
            "flat fires": int(sum(r["flat"] for r in mine)),
            "moves p10/p50": [round(float(np.percentile(every_move, q)), 4) for q in (10, 50)],
            "flat at": {str(f): int(np.sum(every_move <= f)) for f in FLAT_CHOICES},
            "ms median old / new": [float(np.median([r["old_ms"] for r in mine])),
                                    float(np.median([r["new_ms"] for r in mine]))],
        }
    return out


def main(argv=None) -> int:
    parser = data_parser(__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", help="write every pair's row and the summary here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    report, every = {}, {}
    for data, weights in models(args):
        rows, skipped = pair_rows(load_model(weights), data, args.pairs,
                                  lambda line: print(line, file=sys.stderr, flush=True))
        every[weights] = rows
        report[weights] = summary(rows, skipped)
    print(json.dumps(report, indent=1))
    if args.json:
        atomic_write(args.json, json.dumps({"summary": report, "rows": every}, indent=1).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
