#!/usr/bin/env bash
# CI: build the one-folder binary from build.spec, then smoke-test the artefact itself (not the source tree):
# --selftest must load the same model the source does and explain a bundled pair, and --screenshot must draw the
# window offscreen. Run from anywhere; exits non-zero on the first failure. Needs about 5 GB free on disk.
set -euo pipefail
cd "$(dirname "$0")/.."

APP=dist/SiameseLens
EXE="$PWD/$APP/SiameseLens"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

echo "== build: pyinstaller --noconfirm build.spec"
start=$SECONDS
python -m PyInstaller --noconfirm --log-level WARN build.spec
echo "build: $((SECONDS - start)) s, bundle $(du -sh "$APP" | cut -f1)"
du -sh "$APP"/_internal/* | sort -h | tail -n 6

echo "== binary: --version"
"$EXE" --version

echo "== binary: --selftest (from another working directory: bundled files must not depend on it)"
start=$SECONDS
(cd "$SCRATCH" && "$EXE" --selftest) > "$SCRATCH/frozen.json"
echo "selftest (binary): $((SECONDS - start)) s"
cat "$SCRATCH/frozen.json"
python main.py --selftest > "$SCRATCH/source.json"
# The binary must run the very model the source tree runs (a missing weights file would silently fall back to the
# untrained model) and compute the same score.
python - "$SCRATCH/frozen.json" "$SCRATCH/source.json" <<'EOF'
import json, sys
frozen, source = (json.loads(open(path).read().strip().splitlines()[-1]) for path in sys.argv[1:])
problems = [f"{key}: binary {frozen[key]!r} != source {source[key]!r}"
            for key in ("model", "sha256", "samples", "version", "decision") if frozen[key] != source[key]]
if not frozen["frozen"]:
    problems.append("the binary reports frozen=false")
if abs(frozen["similarity"] - source["similarity"]) > 1e-3:
    problems.append(f"similarity: binary {frozen['similarity']} != source {source['similarity']}")
if problems:
    sys.exit("selftest mismatch: " + "; ".join(problems))
print("selftest: binary matches source")
EOF

echo "== binary: --screenshot offscreen, of the samples inside the bundle"
samples=("$APP"/_internal/resources/samples/*.jpg)
start=$SECONDS
QT_QPA_PLATFORM=offscreen "$EXE" --screenshot "$SCRATCH/window.png" "${samples[0]}" "${samples[1]}"
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
echo "binary: OK"
