"""Quality and cost of the correspondence links (core.explain.correspondence), printed as one JSON object.

    python benchmarks/bench_correspondence.py --model weights/skin.pt --data /work/shared/data/skin [--images 40]

On images of the model's own split (re-created from its metadata; --split test by default, val for choices):
- mirror / shift accuracy: image 1 against its mirror copy, and against a copy shifted by 8-20 % of each side
  (uncovered area filled with the image's mean colour); a link counts when p2 lies within 1/8 of the side of
  image 2's explained region (its crop box) of p1's true counterpart (W-1-x, y) or (x+dx, y+dy); a link whose
  counterpart lies outside image 2 is a miss. Also for the ablations: the bilinear matrix alone (explanation
  grid, no localisation) and the localised matrix without mirror tolerance.
- deletion: on same-class pairs, hiding (mean colour) a patch of 1/8 of the side around each of the K linked
  points in both images, against the same patches moved as a whole (per image) to a random place: random
  region pairs of the same size and shape; score drops compared (3 random draws per pair).
- cost: median over the same-class pairs of each pair's fastest explain_pair time (--repeats runs, interleaved)
  with and without correspondence=K, and their ratio.
- sum_error_max: max |matrix.sum() + baseline - similarity| over the pairs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from core.evaluation.calibrate import model_split  # noqa: E402
from core.explain import correspondence as corr  # noqa: E402
from core.explain.pair import explain_pair, model_view  # noqa: E402
from core.model.weights import load_model  # noqa: E402

TOLERANCE = 1 / 8


def shifted(image: Image.Image, rng) -> tuple[Image.Image, tuple[int, int]]:
    w, h = image.size
    dx, dy = (int(rng.choice([-1, 1]) * rng.uniform(0.08, 0.2) * side) for side in (w, h))
    out = Image.new("RGB", image.size, mean_colour(image))
    out.paste(image, (dx, dy))
    return out, (dx, dy)


def mean_colour(image: Image.Image) -> tuple:
    return tuple(int(v) for v in np.asarray(image).reshape(-1, 3).mean(axis=0))


def hit_rate(links, truth, size2, box2) -> float:
    hits = 0
    for link in links:
        tx, ty = truth(link["p1"])
        if not (0 <= tx < size2[0] and 0 <= ty < size2[1]):
            continue
        hits += np.hypot((link["p2"][0] - tx) / box2[2], (link["p2"][1] - ty) / box2[3]) <= TOLERANCE
    return hits / max(1, len(links))


def ablations(model, image1, image2, k):
    views = [model_view(model, image) for image in (image1, image2)]
    full = corr.analyse(model, views, k)
    boxes = [box if box is not None else (0, 0, *pil.size) for pil, box in views]
    tolerant, local = corr.mirror_tolerant, corr.capture_local
    try:
        corr.mirror_tolerant = lambda _model: False
        plain = corr.analyse(model, views, k)
        corr.capture_local = lambda _model: nullcontext({})  # nothing captured: the bilinear matrix only
        bilinear = corr.analyse(model, views, k)
    finally:
        corr.mirror_tolerant, corr.capture_local = tolerant, local
    error = abs(full.matrix.sum() + full.baseline - full.similarity)
    return {"bilinear only": bilinear.links, "no mirror tolerance": plain.links}, error, boxes


def hidden_score(model, views, points, side_fraction=TOLERANCE):
    """Score of the pair (fixed crops) with a square of side_fraction of each side hidden around each point."""
    tensors = []
    for (pil, box), pts in zip(views, points, strict=True):
        x0, y0 = (box[0], box[1]) if box is not None else (0, 0)
        image = pil.copy()
        draw, fill = ImageDraw.Draw(image), mean_colour(pil)
        half_w, half_h = side_fraction * pil.size[0] / 2, side_fraction * pil.size[1] / 2
        for x, y in pts:
            draw.rectangle([x - x0 - half_w, y - y0 - half_h, x - x0 + half_w, y - y0 + half_h], fill=fill)
        tensors.append(model.input_tensor(image))
    with torch.no_grad():
        e = model.embed(torch.cat(tensors))
    return float(model.score(e[0:1], e[1:2]))


def moved(points, box, rng):
    """`points` translated together by a random offset that keeps them inside box (x, y, w, h)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    dx = rng.uniform(box[0] - min(xs), box[0] + box[2] - 1 - max(xs))
    dy = rng.uniform(box[1] - min(ys), box[1] + box[3] - 1 - max(ys))
    return [(x + dx, y + dy) for x, y in zip(xs, ys, strict=True)]


def deletion(model, image1, image2, k, rng, draws=3):
    result = explain_pair(model, image1, image2, correspondence=k)
    views = [model_view(model, image) for image in (image1, image2)]
    boxes = [box if box is not None else (0, 0, *pil.size) for pil, box in views]
    base = hidden_score(model, views, [[], []])
    linked = base - hidden_score(model, views, [[l["p1"] for l in result.correspondence],
                                                [l["p2"] for l in result.correspondence]])
    randoms = []
    for _ in range(draws):  # the same patches, each image's set moved as a whole to a random place in its box
        points = [moved([link[key] for link in result.correspondence], box, rng)
                  for key, box in zip(("p1", "p2"), boxes, strict=True)]
        randoms.append(base - hidden_score(model, views, points))
    return linked, float(np.mean(randoms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="the data set the model was trained on")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per pair and setting (the fastest counts)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model)
    dataset, splits = model_split(model, args.data)
    rng = np.random.default_rng(args.seed)
    chosen = rng.permutation(splits[args.split])[:args.images]
    by_class = {c: [i for i in splits[args.split] if dataset.labels[i] == c] for c in set(dataset.labels[chosen])}
    scores: dict = {}
    drops, errors, with_ms, without_ms = [], [], [], []
    explain_pair(model, Image.open(dataset.paths[chosen[0]]).convert("RGB"),
                 Image.open(dataset.paths[chosen[-1]]).convert("RGB"), correspondence=args.k)  # warm-up
    for index in chosen:
        image = Image.open(dataset.paths[index]).convert("RGB")
        w, h = image.size
        shift_image, (dx, dy) = shifted(image, rng)
        for kind, other, truth in (("mirror", ImageOps.mirror(image), lambda p, w=w: (w - 1 - p[0], p[1])),
                                   ("shift", shift_image, lambda p, dx=dx, dy=dy: (p[0] + dx, p[1] + dy))):
            links = explain_pair(model, image, other, correspondence=args.k).correspondence
            variants, error, boxes = ablations(model, image, other, args.k)
            errors.append(error)
            for name, found in {"method": links, **variants}.items():
                scores.setdefault(name, {}).setdefault(kind, []).append(hit_rate(found, truth, other.size, boxes[1]))
        partner = int(rng.choice([i for i in by_class[dataset.labels[index]] if i != index]))
        other = Image.open(dataset.paths[partner]).convert("RGB")
        drops.append(deletion(model, image, other, args.k, rng))
        times = {0: [], args.k: []}
        for flag in (0, args.k) * args.repeats:  # interleaved; each pair's fastest run: robust to a busy machine
            t0 = time.perf_counter()
            explain_pair(model, image, other, correspondence=flag)
            times[flag].append((time.perf_counter() - t0) * 1000)
        without_ms.append(min(times[0]))
        with_ms.append(min(times[args.k]))
    linked, random_ = np.array(drops).T
    print(json.dumps({
        "model": args.model, "split": args.split, "images": len(chosen), "k": args.k, "tolerance": TOLERANCE,
        "mirror_accuracy": round(float(np.mean(scores["method"]["mirror"])), 3),
        "shift_accuracy": round(float(np.mean(scores["method"]["shift"])), 3),
        "ablations": {name: {kind: round(float(np.mean(v)), 3) for kind, v in kinds.items()}
                      for name, kinds in scores.items() if name != "method"},
        "deletion_same_class_pairs": {"linked_drop_mean": round(float(linked.mean()), 4),
                                      "random_drop_mean": round(float(random_.mean()), 4),
                                      "linked_beats_random": round(float((linked > random_).mean()), 3)},
        "cost": {"median_ms_without": round(statistics.median(without_ms), 2),
                 "median_ms_with": round(statistics.median(with_ms), 2),
                 "ratio": round(statistics.median(with_ms) / statistics.median(without_ms), 3)},
        "sum_error_max": float(max(errors)),
    }, indent=1))


if __name__ == "__main__":
    main()
