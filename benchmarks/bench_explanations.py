"""Which explanation map carries the score: every number of docs/explanations.md's diagnosis and choice.

    python benchmarks/bench_explanations.py DATA --model weights/skin.pt --split val --pairs 60 [--json OUT]

Pairs: the model's own split (weights metadata `split`: seed, fractions; core.data.datasets.split_by_image), paired
as training pairs them (make_pairs, seed PAIR_SEED) and a seeded sample of --pairs of them.

Two judges, kept apart so that the one that chose the method is not the one that grades it:
  - CHOOSE (validation split): the product's own per-pair rule (core.trust.checks.better_than_chance on
    core.explain.faithfulness: blur sigma 0.08, fractions 0/.1/.25/.5/.75/1, one random smooth map, seed 0).
  - JUDGE (test split): deletion + insertion with blur sigma JUDGE_SIGMA, fractions JUDGE_FRACTIONS, against
    JUDGE_RANDOMS random smooth maps (seeds JUDGE_SEEDS, the feature map's resolution): faithful when the map's
    deletion AUC is below the random maps' mean AND its insertion AUC above theirs.
Both run on every split; the docs quote CHOOSE on validation and JUDGE on test.

Also per map: where its mass lies inside the model's view (lesion finder's mask, the dermoscope's dark vignette,
the view's outer band of one cell, the remaining skin), the lesion lift (core.evaluation.lift's formula on the
whole image), and, interleaved on the same pairs, the time of the first map against a plain forward pass of the
pair (preprocessing included) and of the occlusion refinement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.bench_explain import plain_forward  # noqa: E402
from core.data.datasets import make_pairs  # noqa: E402
from core.evaluation.calibrate import model_split  # noqa: E402
from core.evaluation.lift import mass_share_on_canvas  # noqa: E402
from core.explain.faithfulness import FRACTIONS, auc, perturbed_scores  # noqa: E402
from core.explain.integrated import GRID, coalitions, integrated_pixels, pooled  # noqa: E402
from core.explain.methods import decomposition_cells, get_method  # noqa: E402
from core.explain.occlusion import ablation_cells, occlusion_cells  # noqa: E402
from core.explain.pair import explain_pair, map_size, model_view, normalise, upsample  # noqa: E402
from core.io.files import atomic_write  # noqa: E402
from core.io.images import load_image  # noqa: E402
from core.model.lesion import find_lesion, vignette_mask  # noqa: E402
from core.model.weights import load_model  # noqa: E402
from core.trust.checks import better_than_chance  # noqa: E402

PAIR_SEED = 35
JUDGE_SIGMA = 0.04
JUDGE_FRACTIONS = (0.0, 0.05, 0.2, 0.4, 0.7, 1.0)
JUDGE_SEEDS = (101, 102, 103, 104, 105)
CHOOSE_SEED = 0
VARIANTS = ("amortised", "gradcam", "attention", "gradcam_signed", "decomposition", "ablation", "ablation_local",
            "occlusion", "integrated", "integrated_signed", "integrated_8", "integrated_32", "integrated_smooth",
            "integrated_steps32", "coalition", "coalition_8", "coalition_64", "mix25", "mix50", "gate",
            "amortised_smooth16", "amortised_smooth32")
INTEGRATED_GRIDS = {"integrated": GRID, "integrated_8": 8, "integrated_32": 32}  # cells per side
COALITION_GRIDS = {"coalition": GRID, "coalition_8": 8}  # cells per side of the random masks (maps: GRID cells)


def split_members(model, data_dir, split: str):
    """The dataset and the indices of the images in the model's own `split` (train, val or test)."""
    dataset, parts = model_split(model, data_dir)
    return dataset, parts[split]


def split_pairs(model, data_dir, split: str, count: int):
    dataset, members = split_members(model, data_dir, split)
    rng = np.random.default_rng(PAIR_SEED)
    pairs = make_pairs(dataset.labels[members], rng)
    chosen = pairs[np.sort(rng.choice(len(pairs), min(count, len(pairs)), replace=False))]
    return [(dataset.paths[members[i]], dataset.paths[members[j]], int(same)) for i, j, same in chosen]


def cell_maps(cells: np.ndarray, sizes, rectify: bool) -> list[np.ndarray]:
    """(2, h, w) oriented cell values -> each image's [0, 1] map at its map size (rectified: positive part;
    else shifted to its minimum, so the ranking of every cell is kept)."""
    out = []
    for n in range(2):
        c = np.asarray(cells[n], np.float64)
        c = np.maximum(c, 0) if rectify else c - c.min()
        out.append(upsample(normalise(c.astype(np.float32)), map_size(sizes[n])))
    return out


def pair_maps(model, images, timing: bool, occlusion: bool, wanted=VARIANTS) -> tuple[dict, dict]:
    """The factual maps of a pair of the variants `wanted` (occlusion, 2 x 64 image passes, only when asked;
    blur integrated gradients and the coalition path's, 16 pair passes with gradients each) and facts. Only the
    variants wanted are computed: the costly ones would otherwise dominate a run."""
    first = explain_pair(model, images[0], images[1], method="decomposition")
    sign = get_method("decomposition").sign(first.decision)
    views = [model_view(model, image) for image in images]
    sizes = [pil.size for pil, _box in views]
    inputs = torch.cat([model.input_tensor(pil) for pil, _box in views])
    with torch.no_grad():
        activations = model.features(inputs)
    cells = sign * decomposition_cells(model, activations, first.similarity)
    timed: dict = {"occlusion_ms": None, "integrated_cells_ms": None}
    cache: dict = {}

    def explained(method):  # one explanation a method, whichever variants read it
        if method not in cache:
            cache[method] = explain_pair(model, images[0], images[1], method=method)
        return cache[method]

    def factual(method):
        return lambda: list(explained(method).factual)

    def straight_pixels():  # shared by the integrated variants, timed once
        if "pixels" not in cache:
            started = time.perf_counter()
            cache["pixels"] = sign * integrated_pixels(model, inputs).cpu()
            timed["integrated_cells_ms"] = (time.perf_counter() - started) * 1000.0
        return cache["pixels"]

    def occluded():
        started = time.perf_counter()
        occ = sign * occlusion_cells(model, inputs).numpy()
        timed["occlusion_ms"] = (time.perf_counter() - started) * 1000.0
        return cell_maps(occ, sizes, rectify=True)

    def coalition(grid):
        return lambda: cell_maps(pooled(sign * integrated_pixels(model, inputs, path=coalitions(grid)).cpu(),
                                        GRID).numpy(), sizes, rectify=True)

    builders = {
        "amortised": factual("amortised"), "gradcam": factual("gradcam"), "attention": factual("attention"),
        "decomposition": lambda: list(first.factual),
        "ablation": factual("ablation"),
        "gradcam_signed": lambda: cell_maps(sign * np.stack(explained("gradcam").signed_cams), sizes, rectify=False),
        "ablation_local": lambda: cell_maps(sign * ablation_cells(model, inputs, activations, "local").numpy(), sizes,
                                            rectify=True),
        "occlusion": occluded,
        **{name: (lambda grid=grid: cell_maps(pooled(straight_pixels(), grid).numpy(), sizes, rectify=True))
           for name, grid in INTEGRATED_GRIDS.items()},
        "integrated_signed": lambda: cell_maps(pooled(straight_pixels(), GRID).numpy(), sizes, rectify=False),
        "integrated_smooth": lambda: cell_maps(smoothed(pooled(straight_pixels(), GRID).numpy()), sizes, rectify=True),
        "integrated_steps32": lambda: cell_maps(pooled(sign * integrated_pixels(model, inputs, steps=32).cpu(),
                                                       GRID).numpy(), sizes, rectify=True),
        **{name: coalition(grid) for name, grid in COALITION_GRIDS.items()},
        "coalition_64": lambda: cell_maps(pooled(sign * integrated_pixels(model, inputs, steps=64,
                                                                          path=coalitions(GRID)).cpu(),
                                                 GRID).numpy(), sizes, rectify=True),
        # the first pass's two maps combined after the fact (docs/explanations.md, session 16)
        "mix25": lambda: blended(explained, lambda a, g: 0.75 * a + 0.25 * g),
        "mix50": lambda: blended(explained, lambda a, g: 0.5 * a + 0.5 * g),
        "gate": lambda: blended(explained, lambda a, g: a * (0.5 + 0.5 * g)),
        "amortised_smooth16": lambda: [smoothed_map(m, 1 / 16) for m in explained("amortised").factual],
        "amortised_smooth32": lambda: [smoothed_map(m, 1 / 32) for m in explained("amortised").factual],
    }
    maps = {name: builders[name]() for name in VARIANTS if name in wanted and (name != "occlusion" or occlusion)}
    facts = {"similarity": first.similarity, "decision": first.decision, "sign": sign, **timed,
             "crops": first.crops, "views": views, "inputs": inputs, "feature_shape": activations.shape[-2:],
             "cell_sum": [float(c.sum()) for c in sign * cells]}
    if timing:
        facts.update(timings(model, images))
    return maps, facts


def smoothed(cells: np.ndarray) -> np.ndarray:
    """Each image's cells under a Gaussian of one cell: fewer isolated cells, more compact regions."""
    return np.stack([cv2.GaussianBlur(np.asarray(c, np.float32), (0, 0), 1.0) for c in cells])


def blended(explained, combine) -> list[np.ndarray]:
    """Each image's amortised and Grad-CAM factual maps (both [0, 1], the same size) combined, rescaled to [0, 1]."""
    return [normalise(combine(a, g)) for a, g in zip(explained("amortised").factual, explained("gradcam").factual,
                                                      strict=True)]


def smoothed_map(heat: np.ndarray, fraction: float) -> np.ndarray:
    """A [0, 1] map under a Gaussian of `fraction` of its longer side, rescaled to [0, 1]."""
    return normalise(np.maximum(cv2.GaussianBlur(heat, (0, 0), fraction * max(heat.shape)), 0))


def timings(model, images, repeats: int = 3) -> dict:
    """Median of `repeats` interleaved runs: plain no-grad forward of the pair (preprocessing included), the
    maps of `gradcam` (one pass of the pair and a backward pass through the head), of `amortised` (the default first
    map: the same and the model's explainer head), of `integrated` and of `coalition` (the refinements: that plus 16
    pair passes with gradients each), end to end."""
    runs: dict[str, list] = {"forward": [], "gradcam": [], "amortised": [], "integrated": [], "coalition": []}
    for _ in range(repeats):
        for name in runs:
            started = time.perf_counter()
            if name == "forward":
                plain_forward(model, images)
            else:
                explain_pair(model, images[0], images[1], method=name)
            runs[name].append((time.perf_counter() - started) * 1000.0)
    return {f"{name}_ms": statistics.median(values) for name, values in runs.items()}


def random_maps(shape, sizes, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [cv2.resize(rng.random(tuple(shape), dtype=np.float32), map_size(size), interpolation=cv2.INTER_LINEAR)
            for size in sizes]


def judged(model, maps: dict, facts: dict, judges) -> dict:
    """Per variant: CHOOSE's verdict, JUDGE's verdict and AUCs (those of `judges`)."""
    out: dict = {name: {} for name in maps}
    sizes = [pil.size for pil, _box in facts["views"]]
    explained = (lambda s: s) if facts["sign"] > 0 else (lambda s: 1.0 - s)
    names = list(maps)
    if "choose" in judges:  # the product's rule, one random map of seed 0 (as core.explain.faithfulness draws it)
        choose_random = random_maps(facts["feature_shape"], sizes, CHOOSE_SEED)
        curves = perturbed_scores(model, facts["inputs"], [maps[n] for n in names] + [choose_random], FRACTIONS)
        rnd = {m: auc(explained(curves[-1][m]), FRACTIONS) for m in ("deletion", "insertion")}
        for k, name in enumerate(names):
            own = {m: auc(explained(curves[k][m]), FRACTIONS) for m in ("deletion", "insertion")}
            out[name]["choose"] = better_than_chance({
                "deletion_auc_map": own["deletion"], "insertion_auc_map": own["insertion"],
                "deletion_auc_random": rnd["deletion"], "insertion_auc_random": rnd["insertion"]})
            # each curve's own margin (which of the two a map that fails fails on), and their sum: the margin by
            # which it passes or fails (a tie-break between variants that pass equally often)
            deletion, insertion = rnd["deletion"] - own["deletion"], own["insertion"] - rnd["insertion"]
            out[name].update({"choose_deletion_margin": deletion, "choose_insertion_margin": insertion,
                              "choose_margin": deletion + insertion})
    if "judge" in judges:  # another blur, other fractions, five other random maps
        randoms = [random_maps(facts["feature_shape"], sizes, seed) for seed in JUDGE_SEEDS]
        curves = perturbed_scores(model, facts["inputs"], [maps[n] for n in names] + randoms, JUDGE_FRACTIONS,
                                  sigma=JUDGE_SIGMA)
        areas = [{m: auc(explained(c[m]), JUDGE_FRACTIONS) for m in ("deletion", "insertion")} for c in curves]
        rnd_del = float(np.mean([a["deletion"] for a in areas[len(names):]]))
        rnd_ins = float(np.mean([a["insertion"] for a in areas[len(names):]]))
        for k, name in enumerate(names):
            out[name].update({"judge": areas[k]["deletion"] < rnd_del and areas[k]["insertion"] > rnd_ins,
                              "deletion": areas[k]["deletion"], "insertion": areas[k]["insertion"],
                              "deletion_random": rnd_del, "insertion_random": rnd_ins})
    return out


def where(maps: dict, images, facts: dict) -> dict:
    """Per variant: map mass shares inside the model's view (lesion, vignette, outer band, skin) and, on the
    whole image, the mass on the lesion and the lesion's share (for the lift)."""
    out: dict = {name: {"lesion": [], "vignette": [], "band": [], "skin": [], "on_lesion": []} for name in maps}
    areas: dict = {"lesion": [], "vignette": [], "band": [], "skin": []}  # what a uniform map would put there
    shares = []
    for n, image in enumerate(images):
        rgb = np.asarray(image.image)
        lesion = find_lesion(rgb)
        if not lesion.found:
            continue
        shares.append(lesion.share)
        height, width = lesion.mask.shape
        box = facts["crops"][n] or (0, 0, width, height)
        x, y, w, h = box
        mask = lesion.mask[y:y + h, x:x + w]
        dark = vignette_mask(rgb)[y:y + h, x:x + w]
        band = np.ones((h, w), bool)
        by, bx = max(1, h // facts["feature_shape"][0]), max(1, w // facts["feature_shape"][1])
        band[by:h - by, bx:w - bx] = False
        regions = {"lesion": mask, "vignette": dark & ~mask, "band": band & ~mask & ~dark}
        regions["skin"] = ~(mask | dark | band)
        for region, where_ in regions.items():
            areas[region].append(float(where_.mean()))
        for name, pair in maps.items():
            heat = cv2.resize(pair[n], (w, h), interpolation=cv2.INTER_LINEAR)
            total = float(heat.sum())
            if total <= 0:
                continue
            for region, where_ in regions.items():
                out[name][region].append(float(heat[where_].sum()) / total)
            share = mass_share_on_canvas(pair[n], box, lesion.mask)
            if share is not None:
                out[name]["on_lesion"].append(share)
    return {"maps": out, "lesion_shares": shares, "areas": areas}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--model", required=True)
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--timing-pairs", type=int, default=8, help="pairs also timed (the first ones)")
    parser.add_argument("--occlusion-pairs", type=int, default=10, help="pairs also occluded (the first ones)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of " + ", ".join(VARIANTS))
    parser.add_argument("--judges", default="choose,judge", help="comma-separated: choose, judge")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = args.variants.split(",")
    model = load_model(args.model)
    if "amortised" in wanted and model.explainer is None:
        raise SystemExit(f"{args.model}: no amortised explainer in this model (main.py explainer trains one)")
    rows = []
    for k, (p1, p2, same) in enumerate(split_pairs(model, args.data, args.split, args.pairs)):
        images = [load_image(p1), load_image(p2)]
        maps, facts = pair_maps(model, images, timing=k < args.timing_pairs, occlusion=k < args.occlusion_pairs,
                                wanted=wanted)
        verdicts = judged(model, maps, facts, args.judges.split(","))
        located = where(maps, images, facts) if model.config.lesion_crop else {"maps": {}, "lesion_shares": []}
        rows.append({"pair": [str(p1), str(p2)], "same": same, "similarity": facts["similarity"],
                     "decision": facts["decision"], "cell_sum": facts["cell_sum"], "verdicts": verdicts,
                     "where": located, **{k_: v for k_, v in facts.items() if k_.endswith("_ms")}})
        if args.json:  # after every pair: a run cut short still leaves its numbers
            write_json(args, rows)
        print(f"{k + 1}/{args.pairs} " + " ".join(f"{n}:{int(v.get('choose', -1))}{int(v.get('judge', -1))}"
                                                   for n, v in verdicts.items()), file=sys.stderr, flush=True)
    print(json.dumps(summarise(rows), indent=1))
    return 0


def write_json(args, rows: list) -> None:
    atomic_write(args.json, json.dumps({"args": vars(args) | {"json": str(args.json)}, "summary": summarise(rows),
                                        "rows": rows}, indent=1, default=str).encode())


def summarise(rows: list) -> dict:
    out: dict = {"pairs": len(rows)}
    shares = [s for r in rows for s in r["where"]["lesion_shares"]]
    for name in VARIANTS:
        v = [r["verdicts"][name] for r in rows if name in r["verdicts"]]
        if not v:
            continue
        entry = {f"{j}_faithful": round(float(np.mean([x[j] for x in v])), 3) for j in ("choose", "judge")
                 if j in v[0]}
        if "choose_margin" in v[0]:
            entry["choose_margin_median"] = round(float(np.median([x["choose_margin"] for x in v])), 4)
        entry["pairs"] = len(v)
        if shares:
            regions = {reg: [s for r in rows if name in r["where"]["maps"] for s in r["where"]["maps"][name][reg]]
                       for reg in ("lesion", "vignette", "band", "skin", "on_lesion")}
            shares = [s for r in rows if name in r["where"]["maps"] for s in r["where"]["lesion_shares"]]
            entry.update({f"mass_{reg}": round(float(np.mean(values)), 3) for reg, values in regions.items()
                          if reg != "on_lesion" and values})
            entry["lift"] = round(float(np.mean(regions["on_lesion"])) / float(np.mean(shares)), 3)
        out[name] = entry
    timed = [r for r in rows if "forward_ms" in r]
    if timed:
        out["timing"] = {
            "pairs": len(timed),
            "forward_ms": round(statistics.median(r["forward_ms"] for r in timed), 1),
            "gradcam_ms": round(statistics.median(r["gradcam_ms"] for r in timed), 1),
            "gradcam_over_forward": round(statistics.median(r["gradcam_ms"] / r["forward_ms"] for r in timed), 3),
            "amortised_over_forward": round(statistics.median(r["amortised_ms"] / r["forward_ms"] for r in timed), 3),
            "integrated_ms": round(statistics.median(r["integrated_ms"] for r in timed if "integrated_ms" in r), 1),
            "coalition_ms": round(statistics.median(r["coalition_ms"] for r in timed if "coalition_ms" in r), 1),
        }
    occluded = [r["occlusion_ms"] for r in rows if r.get("occlusion_ms") is not None]
    out["occlusion_ms_median"] = round(statistics.median(occluded), 1) if occluded else None
    integrated = [r["integrated_cells_ms"] for r in rows if r.get("integrated_cells_ms") is not None]
    out["integrated_cells_ms_median"] = round(statistics.median(integrated), 1) if integrated else None
    shares = [s for r in rows for s in r["where"]["lesion_shares"]]
    if shares:
        out["area"] = {reg: round(float(np.mean([a for r in rows for a in r["where"]["areas"][reg]])), 3)
                       for reg in ("lesion", "vignette", "band", "skin")}
    out["lesion_share"] = round(float(np.mean(shares)), 4) if shares else None
    return out


if __name__ == "__main__":
    sys.exit(main())
