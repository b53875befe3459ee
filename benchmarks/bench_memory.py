"""Peak memory of `main.py explain --out --report` on huge accepted images (issue 11: target <= 1.5 GB; issue 10:
an 8000 x 8000 pair <= 1 GB, with small --out maps).

A 14000 x 14000 RGB PNG (196 Mpx, under the 200 Mpx limit; a few hundred KB on disk) is explained against itself
and against a small JPEG, and an 8000 x 8000 PNG against an 8000 x 8000 JPEG, writing maps and a report; the peak
RSS of each run is read from the kernel's accounting of the finished child (ru_maxrss), and the size of what --out
wrote is listed (maps are kept at most MAX_MAP_SIDE a side). The 8000 x 6000 JPEG case shows the draft-mode path.

    python benchmarks/bench_memory.py [--side 14000] [--budget-mb 1536] [--pair-budget-mb 1024]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_png(path: Path, side: int) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), (200, 170, 150))
    draw = ImageDraw.Draw(image)
    for i in range(0, side, side // 14):  # some structure, still compresses to almost nothing
        draw.ellipse((i // 2, i // 3, i // 2 + side // 5, i // 3 + side // 6), fill=(90 + i % 120, 60, 50))
    image.save(path, compress_level=9)


def make_jpeg(path: Path, size: tuple[int, int]) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.BILINEAR).save(path, quality=90)


def peak_rss_mb(argv: list[str]) -> tuple[float, float, int, float]:
    """Run argv as a fresh child: (its peak RSS in MB, its peak anonymous RSS in MB, exit status, seconds).

    Peak RSS (ru_maxrss) counts the pages of shared libraries too: a CUDA build of torch maps ~0.6 GB of them
    on import alone. The anonymous part (RssAnon, sampled every 10 ms) is the process's own data: images, maps,
    tensors."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: exec at once so ru_maxrss is the command's own
        os.chdir(ROOT)
        err = os.open(os.devnull if os.environ.get("BENCH_SHOW") is None else "/dev/stderr", os.O_WRONLY)
        os.dup2(err, 1)
        os.execv(sys.executable, [sys.executable, *argv])
    anon_kb = 0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        anon_kb = max(anon_kb, _rss_anon_kb(pid))
        time.sleep(0.01)
    return usage.ru_maxrss / 1024, anon_kb / 1024, os.waitstatus_to_exitcode(status), time.perf_counter() - started


def _rss_anon_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:  # exited between the checks
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=14000)
    parser.add_argument("--budget-mb", type=float, default=1536.0)
    parser.add_argument("--pair-budget-mb", type=float, default=1024.0, help="of the 8000 x 8000 pair")
    parser.add_argument("--only", default="", help="run only the cases whose label contains this text")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        huge, photo, big_jpeg = tmp / "huge.png", tmp / "photo.jpg", tmp / "big.jpg"
        make_png(huge, args.side)
        make_jpeg(photo, (640, 480))
        make_jpeg(big_jpeg, (8000, 6000))
        square_png, square_jpeg = tmp / "square.png", tmp / "square.jpg"
        make_png(square_png, 8000)
        make_jpeg(square_jpeg, (8000, 8000))
        print(f"{huge.name}: {args.side} x {args.side} px, {huge.stat().st_size / 1e3:.0f} KB on disk")
        cases = {
            "huge PNG vs itself": ([str(huge), str(huge)], args.budget_mb),
            "huge PNG vs photo": ([str(huge), str(photo)], args.budget_mb),
            "8000x6000 JPEG vs photo": ([str(big_jpeg), str(photo)], args.budget_mb),
            "8000x8000 PNG vs JPEG": ([str(square_png), str(square_jpeg)], args.pair_budget_mb),
            "photo vs photo (baseline)": ([str(photo), str(photo)], args.budget_mb),
        }
        for n, (label, (images, budget)) in enumerate(cases.items()):
            if args.only not in label:
                continue
            out = tmp / f"maps{n}"
            argv = ["main.py", "explain", *images, "--device", "cpu", "--out", str(out),
                    "--report", str(tmp / f"report{n}.png")]
            mb, anon_mb, status, seconds = peak_rss_mb(argv)
            verdict = "ok" if status == 0 and mb <= budget else "OVER BUDGET" if status == 0 else f"exit {status}"
            failed |= verdict != "ok"
            npy_mb = sum(path.stat().st_size for path in out.glob("*.npy")) / 1e6 if out.is_dir() else 0.0
            print(f"{label:26s} peak RSS {mb:5.0f} MB of {budget:.0f} (anonymous {anon_mb:4.0f} MB), {seconds:5.1f} s, "
                  f"--out .npy {npy_mb:5.1f} MB  {verdict}")
    print(f"budgets: {'met' if not failed else 'NOT met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
