"""Peak memory of `main.py explain --out --report` on a huge accepted image (issue 11: target <= 1.5 GB).

A 14000 x 14000 RGB PNG (196 Mpx, under the 200 Mpx limit; a few hundred KB on disk) is explained against itself
and against a small JPEG, writing maps and a report; the peak RSS of each run is read from the kernel's
accounting of the finished child (ru_maxrss). The 8000 x 6000 JPEG case shows the draft-mode path.

    python benchmarks/bench_memory.py [--side 14000] [--budget-mb 1536]
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


def peak_rss_mb(argv: list[str]) -> tuple[float, int, float, str]:
    """Run argv as a fresh child and return (its peak RSS in MB, exit status, seconds, stderr)."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: exec at once so ru_maxrss is the command's own
        os.chdir(ROOT)
        err = os.open(os.devnull if os.environ.get("BENCH_SHOW") is None else "/dev/stderr", os.O_WRONLY)
        os.dup2(err, 1)
        os.execv(sys.executable, [sys.executable, *argv])
    _, status, usage = os.wait4(pid, 0)
    return usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), time.perf_counter() - started, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=14000)
    parser.add_argument("--budget-mb", type=float, default=1536.0)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        huge, photo, big_jpeg = tmp / "huge.png", tmp / "photo.jpg", tmp / "big.jpg"
        make_png(huge, args.side)
        make_jpeg(photo, (640, 480))
        make_jpeg(big_jpeg, (8000, 6000))
        print(f"{huge.name}: {args.side} x {args.side} px, {huge.stat().st_size / 1e3:.0f} KB on disk")
        cases = {
            "huge PNG vs itself": [str(huge), str(huge)],
            "huge PNG vs photo": [str(huge), str(photo)],
            "8000x6000 JPEG vs photo": [str(big_jpeg), str(photo)],
            "photo vs photo (baseline)": [str(photo), str(photo)],
        }
        for n, (label, images) in enumerate(cases.items()):
            argv = ["main.py", "explain", *images, "--device", "cpu", "--out", str(tmp / f"maps{n}"),
                    "--report", str(tmp / f"report{n}.png")]
            mb, status, seconds, _ = peak_rss_mb(argv)
            verdict = "ok" if status == 0 and mb <= args.budget_mb else "OVER BUDGET" if status == 0 else f"exit {status}"
            failed |= verdict != "ok"
            print(f"{label:28s} peak RSS {mb:7.0f} MB  ({seconds:5.1f} s)  {verdict}")
    print(f"budget {args.budget_mb:.0f} MB: {'met' if not failed else 'NOT met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
