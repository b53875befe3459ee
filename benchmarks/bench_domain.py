"""Out-of-domain rates of a model and the cost of its check.

    python benchmarks/bench_domain.py MODEL.pt OWN_DATA [OTHER_DATA ...] [--pairs 30] [--threads 1]

Flagged shares: the model's own test split (re-created from its metadata, as `main.py calibrate` does), grayscale
copies of it, every image of each other data set, and everyday photographs (scikit-image's bundled samples, if
scikit-image is installed; skipped with a note otherwise). Every image goes the way explain_pair takes it:
model_view (the automatic lesion crop), one forward pass under checks.stage_probe, core.trust.domain_view.features_of
(with the whole uncropped image's view when the summary has one) and checks.in_domain, so the rates are those a
user is warned by. Cost: the median time of explain_pair on pairs of the own test split, and the median time the
whole-image view adds to a pair (its features and its score), in the same run: their ratio.
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
import torch  # noqa: E402

from core.data.datasets import scan_dataset, split_by_image  # noqa: E402
from core.explain.pair import explain_pair, model_view  # noqa: E402
from core.io.images import load_image  # noqa: E402
from core.model.weights import load_model  # noqa: E402
from core.trust import (
    checks,
    domain,  # noqa: E402
    domain_view,
    field_of_view,
)

# The photographs among scikit-image's samples (data.cat is chelsea again; horse is a drawn silhouette and
# immunohistochemistry a microscope slide: neither is an everyday photograph).
EVERYDAY = ("astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "moon", "page", "text", "clock",
            "hubble_deep_field", "grass", "gravel", "brick", "stereo_motorcycle")


def flags(model, images, batch_size: int = 32) -> list[bool]:
    """Per image (PIL or LoadedImage), flagged as outside the model's domain, exactly as explain_pair decides."""
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            batch = torch.cat([model.input_tensor(model_view(model, image)[0]) for image in chunk])
            with checks.stage_probe(model) as stages:
                maps = model.features(batch)
            inside = checks.in_domain(model, domain_view.features_of(model, chunk, maps, stages))
            if inside is None:
                raise SystemExit("the model has no (usable) domain summary: run main.py calibrate first")
            out.extend(not v for v in inside)
    return out


def share(model, images) -> float:
    return round(float(np.mean(flags(model, images))), 4) if images else float("nan")


def everyday_photos() -> tuple[dict, str]:
    """{name: PIL image} of scikit-image's bundled samples that load without a download, and a note."""
    try:
        from PIL import Image
        from skimage import data
    except ImportError:
        return {}, "scikit-image not installed: everyday photographs skipped"
    found, missing = {}, []
    for name in EVERYDAY:
        try:
            array = getattr(data, name)()
            array = array[0] if isinstance(array, tuple) else array
            array = np.asarray(array)
            if array.dtype != np.uint8:
                array = (255 * (array.astype(np.float32) / max(float(array.max()), 1e-6))).astype(np.uint8)
            image = Image.fromarray(array)
            found[name] = image.convert("RGB")
        except Exception:  # noqa: BLE001  a sample that needs a download (no network) or is absent
            missing.append(name)
    return found, f"skimage.data samples; not loadable here: {missing}" if missing else "skimage.data samples"


def cost(model, images, pairs: int) -> dict:
    """Median ms of explain_pair and of what the whole view adds to it (features of the two uncropped images
    and their share of domain.scores), on the same pairs in the same run; and their ratio."""
    summary = model.metadata["domain"]
    without = {k: v for k, v in summary.items() if k != "whole"}
    explain_ms, extra_ms = [], []
    for n in range(pairs):
        pair = (images[n % len(images)], images[(n * 7 + 3) % len(images)])
        t0 = time.perf_counter()
        result = explain_pair(model, *pair)
        t1 = time.perf_counter()
        whole = field_of_view.for_model(model, [field_of_view.uncropped(image) for image in pair])
        t2 = time.perf_counter()
        stages = {int(s["index"]): np.zeros((2, int(s["dim"])), np.float32) for s in summary.get("stages", [])}
        features = {"pooled": None, "stages": stages, "whole": whole}
        t3 = time.perf_counter()
        domain.scores(summary, features)
        t4 = time.perf_counter()
        domain.scores(without, features)
        t5 = time.perf_counter()
        explain_ms.append(1000 * (t1 - t0))
        extra_ms.append(1000 * ((t2 - t1) + max(0.0, (t4 - t3) - (t5 - t4))))
        assert result.in_domain is not None
    explain, extra = statistics.median(explain_ms), statistics.median(extra_ms)
    return {"explain_pair_ms": round(explain, 2), "whole_view_extra_ms": round(extra, 2),
            "ratio": round(extra / explain, 4), "pairs": pairs, "threads": torch.get_num_threads()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("own_data")
    parser.add_argument("other_data", nargs="*")
    parser.add_argument("--pairs", type=int, default=30, help="explained pairs timed for the cost ratio")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine may be shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model).eval()
    split = model.metadata["split"]
    own = scan_dataset(args.own_data)
    test_paths = [own.paths[i] for i in split_by_image(own, int(split["seed"]), float(split["val_fraction"]),
                                                      float(split["test_fraction"]))["test"]]
    summary = model.metadata["domain"]
    test = [load_image(path) for path in test_paths]
    name = Path(args.own_data).name
    result = {"model": args.model, "summary_version": summary.get("version", 1),
              "whole_view": {k: summary["whole"][k] for k in ("index", "size", "grid")} if "whole" in summary else None,
              "summary_json_bytes": len(json.dumps(summary)), "flagged": {}}
    result["flagged"][f"{name} (test split, {len(test)})"] = share(model, test)
    result["flagged"][f"{name} (test split, grayscale copies)"] = share(
        model, [image.image.convert("L").convert("RGB") for image in test])
    for other in args.other_data:
        dataset = scan_dataset(other)
        result["flagged"][f"{Path(other).name} (all, {len(dataset.paths)})"] = share(
            model, [load_image(path) for path in dataset.paths])
    photos, note = everyday_photos()
    result["flagged"][f"everyday photographs ({len(photos)})"] = share(model, list(photos.values()))
    result["everyday_note"] = note
    result["everyday_flagged"] = dict(zip(photos, flags(model, list(photos.values())), strict=True)) if photos else {}
    result["cost"] = cost(model, test, args.pairs)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
