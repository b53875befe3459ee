"""Chooses the embedding distance under which two gallery images are near-duplicates of one picture, on each
shipped model's validation images (never its test split), and reports how often each side of it falls.

  distinct   each validation image's distance to its nearest other validation image: pairs that must NOT fold;
  copies     each validation image against a re-saved (JPEG q70), a resized (0.7x) and a trimmed (3 % border)
             copy of itself: pairs that should fold.

The threshold is the largest distance that folds at most 1 % of the distinct images' nearest pairs (their 1st
percentile), taken over the models (the smallest); the share of copies it folds is reported with it.
Usage (minutes on 2 cores):  nice -n 10 python benchmarks/near_duplicates.py [--per-model 200]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.evaluation.calibrate import model_split  # noqa: E402
from core.io.images import load_image  # noqa: E402
from core.model.weights import load_model  # noqa: E402

MODELS = ("skin", "flowers", "airbnb")
DISTINCT_PERCENTILE = 1.0


def _copies(image: Image.Image) -> list[Image.Image]:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    resaved = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    resized = image.resize((max(1, round(image.width * 0.7)), max(1, round(image.height * 0.7))), Image.BILINEAR)
    dx, dy = round(image.width * 0.03), round(image.height * 0.03)
    trimmed = image.crop((dx, dy, image.width - dx, image.height - dy))
    return [resaved, resized, trimmed]


@torch.no_grad()
def _embed(model, images: list[Image.Image]) -> np.ndarray:
    return model.embed(torch.cat([model.preprocess(image) for image in images])).float().numpy()


def measure(name: str, count: int) -> dict:
    model = load_model(ROOT / "weights" / f"{name}.pt", device="cpu").eval()
    data_dir = (ROOT / model.metadata["options"]["data_dir"]).resolve()
    dataset, splits = model_split(model, data_dir)
    chosen = np.random.default_rng(0).permutation(splits["val"])[:count]
    originals, copies = [], []
    for index in chosen:
        image = load_image(dataset.paths[int(index)]).image
        originals.append(_embed(model, [image])[0])
        copies.append(_embed(model, _copies(image)))
    base = np.stack(originals)
    pairwise = np.sqrt(np.clip(2 - 2 * base @ base.T, 0, 4))
    np.fill_diagonal(pairwise, np.inf)
    distinct = pairwise.min(axis=1)
    copy = np.concatenate([np.sqrt(np.clip(2 - 2 * c @ b, 0, 4)) for c, b in zip(copies, base, strict=True)])
    return {"model": name, "images": len(base), "threshold": float(np.percentile(distinct, DISTINCT_PERCENTILE)),
            "distinct_nearest_percentiles": {q: round(float(np.percentile(distinct, q)), 4) for q in (1, 5, 50)},
            "copy_percentiles": {q: round(float(np.percentile(copy, q)), 4) for q in (50, 90, 99, 100)},
            "copy": copy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-model", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = [measure(name, args.per_model) for name in MODELS]
    threshold = min(result["threshold"] for result in results)
    for result in results:
        copy = result.pop("copy")
        result["copies_folded_at_threshold"] = round(float(np.mean(copy < threshold)), 4)
        print(json.dumps(result))
    print(json.dumps({"near_duplicate_distance": round(threshold, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
