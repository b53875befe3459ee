"""How soon a follow-up sees a stop: the longest stretch between two of its should_stop questions
(core.followup.visits: before the registration, the measurements and the explanation) on realistic synthetic second
visits of skin images, with the skin model. Closing the window during a follow-up waits that long at most for its
thread (target: under 1 s).

    python benchmarks/bench_followup_stop.py [--pairs 6] [--model weights/skin.pt] [--data ../shared/data/skin]

Printed as one JSON object: per step (register; outlines of both visits; measure, one visit; explain) the median
and largest wall time in seconds and the median CPU time (on a shared, loaded machine the wall time mostly
measures the wait for a core), and `longest_between_questions`: the largest registration, outlines plus two
measurements, or explanation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core.explain.pair as pair_module  # noqa: E402
import core.followup.visits as visits  # noqa: E402
from core.followup.synthetic import make_followup  # noqa: E402
from core.io.images import from_pil  # noqa: E402
from core.model.lesion import find_lesion  # noqa: E402
from core.model.weights import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--model", default="weights/skin.pt")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "skin"))
    args = parser.parse_args()
    times: dict[str, list[float]] = {"register": [], "outlines": [], "measure": [], "explain": []}
    cpu: dict[str, list[float]] = {stage: [] for stage in times}
    timed = {"register": (visits, "register"), "outlines": (visits, "visit_outlines"), "measure": (visits, "measure"),
             "explain": (pair_module, "explain_pair")}
    for stage, (module, name) in timed.items():
        real = getattr(module, name)

        def wrapper(*a, _real=real, _stage=stage, **k):
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                return _real(*a, **k)
            finally:
                times[_stage].append(time.perf_counter() - start)
                cpu[_stage].append(time.process_time() - start_cpu)

        setattr(module, name, wrapper)
    model = load_model(args.model)
    files = sorted(Path(args.data, "malignant").glob("*.jpg"))[:args.pairs]
    for seed, path in enumerate(files):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        later = make_followup(rgb, find_lesion(rgb).mask, np.random.default_rng(seed), max_scale=0.1, vignette=True,
                              max_white_balance=0.1, max_blur=1.0)
        visits.followup(model, from_pil(Image.fromarray(rgb)), from_pil(Image.fromarray(later.followup)),
                        should_stop=lambda: False)
    # between the "measurements" question and the explanation's: the outlines and both visits' measurements
    stages = {stage: {"median_s": round(float(np.median(t)), 3), "max_s": round(float(np.max(t)), 3),
                      "median_cpu_s": round(float(np.median(cpu[stage])), 3)} for stage, t in times.items()}
    longest = max(stages["register"]["max_s"], stages["outlines"]["max_s"] + 2 * stages["measure"]["max_s"],
                  stages["explain"]["max_s"])
    print(json.dumps({"pairs": len(files), **stages, "longest_between_questions": round(longest, 3)}))


if __name__ == "__main__":
    main()
