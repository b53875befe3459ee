#!/usr/bin/env bash
# CI: build the one-folder binary from build.spec, then smoke-test the artefact itself (not the source tree):
# --selftest must load the same model the source does and compute the same score, and --screenshot must draw the
# window offscreen. The flavour is SIAMESE_LENS_FLAVOUR (default cpu, what CI builds). For the cpu flavour it also
# checks the bundle's size budget, that no real CUDA library is in it or gets loaded (the frozen app runs with a
# minimal environment and the dynamic loader lists every object it loads), and that training, a CUDA request and
# a report export work in the binary. Run from anywhere; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

FLAVOUR=${SIAMESE_LENS_FLAVOUR:-cpu}
CPU_BUDGET_MB=1200  # issue 14: the cpu bundle stays within 1.2 GB (du -sm)
APP=dist/SiameseLens
EXE="$PWD/$APP/SiameseLens"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
# The frozen app on a bare machine: no Python, no nvidia packages, no library path of ours.
bare() { env -i PATH=/usr/bin:/bin HOME="$SCRATCH" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen "$@"; }

echo "== build: pyinstaller --noconfirm build.spec -- --flavour $FLAVOUR"
start=$SECONDS
python -m PyInstaller --noconfirm --log-level WARN build.spec -- --flavour "$FLAVOUR"
size_mb=$(du -sm "$APP" | cut -f1)
echo "build ($FLAVOUR): $((SECONDS - start)) s, bundle $size_mb MB"
du -sh "$APP"/_internal/* | sort -h | tail -n 6

echo "== binary: --version"
"$EXE" --version

echo "== binary: --selftest (from another working directory: bundled files must not depend on it)"
start=$SECONDS
(cd "$SCRATCH" && bare LD_DEBUG=files LD_DEBUG_OUTPUT="$SCRATCH/ld-selftest" "$EXE" --selftest) > "$SCRATCH/frozen.json"
echo "selftest (binary): $((SECONDS - start)) s"
cat "$SCRATCH/frozen.json"
python main.py --selftest > "$SCRATCH/source.json"
# The binary must run the very model the source tree runs (a missing weights file would silently fall back to the
# untrained model) and compute the same score: the same torch CPU code in both, so the same number.
python - "$SCRATCH/frozen.json" "$SCRATCH/source.json" <<'EOF'
import json, sys
frozen, source = (json.loads(open(path).read().strip().splitlines()[-1]) for path in sys.argv[1:])
problems = [f"{key}: binary {frozen[key]!r} != source {source[key]!r}"
            for key in ("model", "sha256", "samples", "version", "decision") if frozen[key] != source[key]]
if not frozen["frozen"]:
    problems.append("the binary reports frozen=false")
if abs(frozen["similarity"] - source["similarity"]) > 1e-6:
    problems.append(f"similarity: binary {frozen['similarity']} != source {source['similarity']}")
if problems:
    sys.exit("selftest mismatch: " + "; ".join(problems))
print(f"selftest: binary matches source (sha256 {frozen['sha256'][:12]}..., similarity {frozen['similarity']})")
EOF

echo "== binary: --screenshot offscreen, of the samples inside the bundle"
samples=("$APP"/_internal/resources/samples/*.jpg)
start=$SECONDS
bare LD_DEBUG=files LD_DEBUG_OUTPUT="$SCRATCH/ld-screenshot" \
  "$EXE" --screenshot "$SCRATCH/window.png" "$PWD/${samples[0]}" "$PWD/${samples[1]}"
echo "screenshot (binary): $((SECONDS - start)) s"
python - "$SCRATCH/window.png" <<'EOF'
import sys
from PIL import Image
with Image.open(sys.argv[1]) as image:
    image.load()
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # A drawn window has thousands of colours (photos, overlays, text); a blank or black grab has a handful.
    if image.width < 800 or image.height < 500 or (colours is not None and len(colours) < 1000):
        sys.exit(f"screenshot looks blank: {image.size}, {len(colours)} colours")
    print(f"screenshot: {image.size[0]}x{image.size[1]}, {'>1M' if colours is None else len(colours)} colours")
EOF

if [ "$FLAVOUR" = cpu ]; then
  echo "== cpu flavour: size budget and no CUDA library, in the bundle or loaded"
  [ "$size_mb" -le "$CPU_BUDGET_MB" ] || { echo "cpu bundle is $size_mb MB, over the $CPU_BUDGET_MB MB budget"; exit 1; }
  python - "$APP/_internal" "$SCRATCH"/ld-* <<'EOF'
import os, re, sys
sys.path.insert(0, "hooks")
from cpu_flavour import is_cuda_library, is_stub
bundle, logs = sys.argv[1], sys.argv[2:]
files = [os.path.join(folder, name) for folder, _dirs, names in os.walk(bundle) for name in names]
real = [path for path in files if is_cuda_library(os.path.relpath(path, bundle)) and not is_stub(path)]
stubs = sorted(path for path in files if is_stub(path) and not os.path.islink(path))
# LD_DEBUG=files logs "calling init: PATH" for each object the loader initialises, dlopen()ed ones included.
loaded = {m.group(1) for log in logs for m in re.finditer(r"calling init: (\S+)", open(log).read())}
if not loaded:
    sys.exit("the loader logged no libraries: LD_DEBUG did not work, cannot check")
cuda_loaded = sorted(path for path in loaded if is_cuda_library(os.path.basename(path)))
not_stubs = [path for path in cuda_loaded if not is_stub(path)]
problems = [f"real CUDA library in the bundle: {path}" for path in real]
problems += [f"real CUDA library loaded: {path}" for path in not_stubs]
if problems:
    sys.exit("\n".join(problems))
print(f"bundle: {len(stubs)} stubs ({sum(os.path.getsize(p) for p in stubs) // 1024} KB), no real CUDA library; "
      f"loaded: {len(loaded)} libraries, of them {len(cuda_loaded)} CUDA names, all stubs")
EOF

  echo "== cpu flavour: train, refuse CUDA, export a report, in the binary"
  python -c "import sys; from pathlib import Path; from tests.conftest import make_shapes_dataset; \
make_shapes_dataset(Path(sys.argv[1]), per_class=12)" "$SCRATCH/shapes"
  start=$SECONDS
  bare "$EXE" train "$SCRATCH/shapes" --out "$SCRATCH/tiny.pt" --epochs 1 --input-size 64 --batch-size 8 --threads 2
  if bare "$EXE" explain "${samples[0]}" "${samples[1]}" --device cuda 2> "$SCRATCH/cuda.err"; then
    echo "the cpu binary accepted --device cuda"; exit 1
  fi
  grep -q "CPU build" "$SCRATCH/cuda.err" || { echo "no clear message for --device cuda:"; cat "$SCRATCH/cuda.err"; exit 1; }
  echo "--device cuda: $(cat "$SCRATCH/cuda.err")"
  bare "$EXE" explain "${samples[0]}" "${samples[1]}" --model "$SCRATCH/tiny.pt" --report "$SCRATCH/report.png"
  [ -s "$SCRATCH/report.png" ] && [ -s "$SCRATCH/report.json" ] || { echo "no report written"; exit 1; }
  echo "train + explain + export (binary): $((SECONDS - start)) s"
  # DICOM outputs need highdicom's data files in the bundle (hooks/hook-highdicom.py): a follow-up of two DICOM
  # visits with its TID 1500 SR, read back here.
  python -c "import sys; from pathlib import Path; from tests.dicom_visits import write_visits; \
Path(sys.argv[1]).mkdir(); write_visits(Path(sys.argv[1]))" "$SCRATCH/visits"
  visits=("$SCRATCH"/visits/*.dcm)
  bare "$EXE" followup "${visits[0]}" "${visits[1]}" --model "$SCRATCH/tiny.pt" --report "$SCRATCH/followup.dcm" \
    --sr "$SCRATCH/followup-sr.dcm"
  python -c "import sys, highdicom as hd; assert hd.sr.srread(sys.argv[1]).PatientID" "$SCRATCH/followup-sr.dcm"
  echo "follow-up DICOM report and SR (binary): OK"
fi
echo "binary ($FLAVOUR): OK"
