"""Start-up of the frozen app against running from source, measured in one run (target: frozen <= 1.2x source).

Three start-ups, each timed from process launch, for both the binary and `python main.py`:
  window shown       the GUI with no images, until the window is shown (the app prints "shown <epoch>" and exits
                     when SIAMESE_LENS_EXIT_AFTER_SHOW is set);
  first explanation  `--selftest`: headless, load the default model and explain the bundled pair, then exit;
  window + explained `--screenshot` of the bundled pair: window shown, pair explained, overlays drawn, saved.
Runs alternate frozen/source so background load hits both alike; one discarded warm-up each first fills the page
cache (a cold first start from disk is reported, not compared). Usage, after `pyinstaller build.spec`:
    QT_QPA_PLATFORM=offscreen python benchmarks/bench_startup_frozen.py [--runs 5] [--exe dist/SiameseLens/SiameseLens]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.2  # issue 14
TIMEOUT_S = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exe", default=str(ROOT / "dist" / "SiameseLens" / "SiameseLens"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = Path(args.exe)
    if not exe.is_file():
        sys.exit(f"{exe}: no binary; build it first with `pyinstaller --noconfirm build.spec`")
    samples = sorted((ROOT / "resources" / "samples").glob("*.jpg"))[:2]
    launchers = {"frozen": [str(exe)], "source": [sys.executable, str(ROOT / "main.py")]}
    scratch = tempfile.TemporaryDirectory()
    scenarios = {
        "window shown": ([], {"SIAMESE_LENS_EXIT_AFTER_SHOW": "1"}),
        "first explanation (--selftest)": (["--selftest"], {}),
        "window + explained (--screenshot)": (["--screenshot", f"{scratch.name}/shot.png", *map(str, samples)], {}),
    }
    record = exe.parent / "_internal" / "build_flavour.txt"
    flavour = record.read_text().strip() if record.is_file() else "unknown"
    print(f"binary: {exe} ({flavour} flavour)")
    print(f"{'start-up to':36} {'frozen s':>9} {'source s':>9} {'ratio':>6}  cold first run (frozen / source)")
    worst = 0.0
    for label, (extra, env) in scenarios.items():
        cold = {name: launch(cmd + extra, env, scratch.name) for name, cmd in launchers.items()}
        times = {name: [] for name in launchers}
        for _ in range(args.runs):
            for name, cmd in launchers.items():
                times[name].append(launch(cmd + extra, env, scratch.name))
        frozen, source = statistics.median(times["frozen"]), statistics.median(times["source"])
        worst = max(worst, frozen / source)
        print(f"{label:36} {frozen:9.2f} {source:9.2f} {frozen / source:6.2f}  "
              f"{cold['frozen']:.2f} / {cold['source']:.2f}")
    verdict = "met" if worst <= TARGET_RATIO else "MISSED"
    print(f"medians of {args.runs} runs; worst ratio {worst:.2f} (target <= {TARGET_RATIO}: {verdict})")
    scratch.cleanup()
    return 0


def launch(cmd: list[str], extra_env: dict, scratch: str) -> float:
    """Seconds from launching `cmd` until it reports the window shown, or else until it exits successfully."""
    # A private config folder, so no reviewer's remembered settings (model, device) change what starts.
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
           "XDG_CONFIG_HOME": scratch, **extra_env}
    start = time.time()
    done = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    end = time.time()
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    shown = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("shown ")]
    return (float(shown[0]) if shown else end) - start


if __name__ == "__main__":
    sys.exit(main())
