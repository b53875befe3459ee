"""Cold start from source against a bare `python -c "import torch"`, measured as ratios in one run (issue #33).

Each round starts three fresh processes, in turn, so background load hits all three alike:
  import torch   `python -c "import torch"`, launch to exit: the floor any start of a torch app pays;
  explain        `python main.py explain IMG1 IMG2` on the bundled samples with the default model, launch to exit;
  window         `python main.py` offscreen with no images, launch until the window has painted its first frame
                 (the app prints "shown <epoch>" when SIAMESE_LENS_EXIT_AFTER_SHOW is set); the model is still
                 loading then, as in real use;
  window+pair    `python main.py --screenshot OUT.png IMG1 IMG2`, launch to exit: the window with the pair
                 explained and its maps drawn (no target: it includes the explanation; reported for comparison).
With --baseline DIR (an earlier tree, e.g. `git archive COMMIT | tar -x -C DIR`), its `explain` and `window` run in
the same rounds, so before and after are compared under the same load.
Reported: the median of each, and the median over rounds of each round's ratio to import torch. Targets: explain
<= 1.5x and window <= 1.5x. One discarded warm-up round first fills the page cache ("cold" means a new process,
not an empty disk cache).

    nice -n 10 python benchmarks/bench_startup.py [--rounds 7] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"explain": 1.5, "window": 1.5}
TIMEOUT_S = 300


def _run_to_exit(argv: list[str], env: dict, tree: Path = ROOT) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   timeout=TIMEOUT_S)
    return time.perf_counter() - started


def _run_to_window(env: dict, tree: Path = ROOT) -> float:
    started = time.time()
    child = subprocess.Popen([sys.executable, "main.py"], cwd=tree, env=dict(env, SIAMESE_LENS_EXIT_AFTER_SHOW="1"),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = child.stdout.readline()
    finally:
        child.kill()  # it would otherwise finish loading the model before exiting
        child.wait()
    if not line.startswith("shown "):
        raise SystemExit(f"main.py did not report its first frame (got {line!r})")
    return float(line.split()[1]) - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="an earlier source tree to measure in the same rounds")
    args = parser.parse_args()
    samples = sorted(str(p) for p in (ROOT / "resources" / "samples").glob("*.jpg"))[:2]
    load_before = os.getloadavg()  # the machine may be shared: ratios are only comparable at a similar load
    with tempfile.TemporaryDirectory() as home:
        # A fresh settings folder: no remembered gallery, worklist or model to load at start.
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=home, XDG_DATA_HOME=home,
                   XDG_CACHE_HOME=home)
        runs = {
            "import torch": lambda: _run_to_exit([sys.executable, "-c", "import torch"], env),
            "explain": lambda: _run_to_exit([sys.executable, "main.py", "explain", *samples], env),
            "window": lambda: _run_to_window(env),
            "window+pair": lambda: _run_to_exit([sys.executable, "main.py", "--screenshot",
                                                 str(Path(home) / "shot.png"), *samples], env),
        }
        if args.baseline:
            base = args.baseline.resolve()
            runs["explain (baseline)"] = lambda: _run_to_exit([sys.executable, "main.py", "explain", *samples], env,
                                                              base)
            runs["window (baseline)"] = lambda: _run_to_window(env, base)
        for run in runs.values():  # warm-up, discarded
            run()
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                times[name].append(run())
    floor = times["import torch"]
    ratios = {name: statistics.median(t / f for t, f in zip(times[name], floor, strict=True))
              for name in times if name != "import torch"}
    load = [round(v, 1) for v in load_before + os.getloadavg()]
    print(f"{args.rounds} rounds on {os.cpu_count()} CPUs, python {sys.version.split()[0]}, load average "
          f"{load[0]} before, {load[3]} after (1 min)")
    for name, values in times.items():
        target = f" (target <= {TARGETS[name]}x)" if name in TARGETS else ""
        ratio = f"  {ratios[name]:.2f}x import torch{target}" if name in ratios else ""
        print(f"{name:>13}: median {statistics.median(values):.2f} s "
              f"(min {min(values):.2f}, max {max(values):.2f}){ratio}")
    print(json.dumps({"rounds": args.rounds, "load_average_1min": [load[0], load[3]],
                      "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
                      "ratio": {k: round(v, 3) for k, v in ratios.items()}}))
    return 0 if all(ratios[name] <= target for name, target in TARGETS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
