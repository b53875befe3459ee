"""What OpenMP's wait policy does to the window's work: a pair explained, then refined, at torch's default threads.

The window's runner thread explains pair after pair and refines each map in the background (core.explain.refine),
in one long-lived process, at torch's default thread count. OpenMP reads its wait policy once, when torch loads,
so each policy gets fresh processes; each round runs one per policy, in turn, so background load hits them alike.
Each process explains the bundled sample pair once to warm up, then times explain_pair 5 times and the refinement
twice. Reported: per policy, the median over rounds of each process's medians.

    python benchmarks/bench_wait_policy.py [--rounds 3] [--policies default,PASSIVE]

Run it on quiet cores and again beside other work (a training run, a second copy of this benchmark): the default
(spinning) policy is fastest alone and slowest beside anything else (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, statistics, sys, time
sys.path.insert(0, {root!r})
import torch
from core import explain_pair, load_image, load_model
from core.explain.refine import refined
from core.paths import resources_dir

model = load_model()  # the default model, as the window opens it
a, b = (load_image(p) for p in sorted((resources_dir() / "samples").glob("*.jpg"))[:2])
explanation = explain_pair(model, a, b)
explain, refine = [], []
for _ in range(5):
    started = time.perf_counter()
    explanation = explain_pair(model, a, b)
    explain.append(time.perf_counter() - started)
for _ in range(2):
    started = time.perf_counter()
    refined(model, (a.image, b.image), explanation)
    refine.append(time.perf_counter() - started)
print(json.dumps({{"threads": torch.get_num_threads(), "explain": statistics.median(explain),
                  "refine": statistics.median(refine)}}))
"""


def measured(policy: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT))], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--policies", default="default,PASSIVE", help="OMP_WAIT_POLICY values; 'default': unset")
    args = parser.parse_args()
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    runs: dict = {p: [] for p in policies}
    for _ in range(args.rounds):
        for policy in policies:
            runs[policy].append(measured(policy))
    load = os.getloadavg()[0]
    print(f"{args.rounds} rounds, torch threads {runs[policies[0]][0]['threads']}, load average now {load:.1f}")
    for policy, results in runs.items():
        explain = statistics.median(r["explain"] for r in results) * 1000
        refine = statistics.median(r["refine"] for r in results) * 1000
        print(f"  {policy:<8} explain_pair median {explain:7.1f} ms   refinement median {refine:7.0f} ms")


if __name__ == "__main__":
    main()
