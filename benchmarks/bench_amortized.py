"""An amortised first map (Jethani et al. 2022's FastSHAP idea): a tiny head, trained on training-split pairs,
that predicts the coalition map's cells from what the first pass already has. A research spike, benchmark only.

    python benchmarks/bench_amortized.py generate DATA --model weights/skin.pt --split train --pairs 800 [--shard 0/2]
    python benchmarks/bench_amortized.py generate DATA --model weights/skin.pt --split val --pairs 60
    python benchmarks/bench_amortized.py train --model weights/skin.pt
    python benchmarks/bench_amortized.py evaluate DATA --model weights/skin.pt --pairs 60 [--json OUT]

generate: per pair, one pass of the pair as explain_pair runs it (the target layer's activations A and the gradient
G of the similarity w.r.t. them, oriented by the decision's sign; layer2's activations, 16 x 16 at 128 px, captured
by a forward hook in the same pass) and the target: sign * integrated_cells(model, inputs, path=coalitions()), the
refinement's (2, 16, 16) cells. Cached under runs/amortized/<model>/<split>/ (one .npz a pair, written atomically,
skipped when present, so a run cut short or split into shards resumes). Training pairs come only from the model's
own training split (weights metadata `split`, make_pairs seeded, a seeded order, so --pairs N is a prefix);
validation pairs are benchmarks.bench_explanations.split_pairs's (the same 60 the refinement was chosen on). The
test split is never read.

train: the head (a 1 x 1 conv over [A*G, A] -> WIDTH channels, a 3 x 3 conv, upsampled to 16 x 16 and joined with
layer2's activations and Grad-CAM's signed map, two 3 x 3 convs -> 1) on each image's cells normalised by their
max |cell|, loss MSE + (1 - Pearson correlation); the last HOLDOUT share of the training pairs stops it early
(the validation pairs are not looked at).

evaluate: on the validation pairs, CHOOSE (the product's rule, exactly as bench_explanations.judged's "choose":
FRACTIONS, BLUR_SIGMA, one random map of seed 0 at the feature resolution) for Grad-CAM (explain_pair's factual
map), the coalition map and the predicted map (each rectified, upsampled like bench_explanations.cell_maps), the
skin lift (bench_explanations.where), each map's Spearman rank correlation with the coalition cells (signed, per
image; --ceiling: also the coalition map of another mask seed, how far the target agrees with itself), and
interleaved timings: a plain forward pass of the pair, explain_pair's Grad-CAM, and the head alone.
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
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.bench_explanations import cell_maps, judged, split_members, split_pairs, where  # noqa: E402
from core.data.datasets import make_pairs  # noqa: E402
from core.evaluation.explanation_metrics import rank_correlation  # noqa: E402
from core.explain.integrated import GRID, coalitions, integrated_cells  # noqa: E402
from core.explain.methods import get_method, grad_cam  # noqa: E402
from core.explain.pair import explain_pair, model_view, target_layer_leaf  # noqa: E402
from core.io.files import atomic_write  # noqa: E402
from core.io.images import load_image  # noqa: E402
from core.model.weights import load_model  # noqa: E402

CACHE = Path(__file__).resolve().parent.parent / "runs" / "amortized"
TRAIN_PAIR_SEED = 350  # the order of the training pairs (a prefix of it is --pairs)
EARLY_STAGE = 5  # index of layer2 in a ResNet trunk (conv1, bn1, relu, maxpool, layer1, layer2, ...)
WIDTH = 32
HOLDOUT = 0.15
EPOCHS = 300
PATIENCE = 40
CEILING_SEED = 1  # another draw of the coalition masks (the product's is COALITION_SEED = 0)


# --- generate ------------------------------------------------------------------------------------------------

def first_pass(model, inputs: torch.Tensor) -> dict:
    """What explain_pair's one pass leaves (A, G oriented, the similarity) plus layer2's activations."""
    early: dict = {}
    handle = model.features[EARLY_STAGE].register_forward_hook(lambda _m, _i, out: early.update(out=out.detach()))
    try:
        with target_layer_leaf(model, model.target_layer) as captured:
            embeddings = model.embed(inputs)
            similarity = model.score(embeddings[0:1], embeddings[1:2])[0]
            grads = torch.autograd.grad(similarity, captured["output"])[0]
    finally:
        handle.remove()
    sim = float(similarity.detach())
    decision = model.decide(sim)
    sign = get_method("coalition").sign(decision)
    return {"activations": captured["output"].detach(), "grads": grads * sign, "early": early["out"],
            "sign": sign, "similarity": sim, "decision": decision}


def pair_inputs(model, images) -> torch.Tensor:
    return torch.cat([model.input_tensor(model_view(model, image)[0]) for image in images])


def train_pairs(model, data_dir, count: int):
    dataset, members = split_members(model, data_dir, "train")
    rng = np.random.default_rng(TRAIN_PAIR_SEED)
    pairs = make_pairs(dataset.labels[members], rng)
    pairs = pairs[rng.permutation(len(pairs))[:count]]
    return [(dataset.paths[members[i]], dataset.paths[members[j]], int(same)) for i, j, same in pairs]


def cache_dir(model_path: Path, split: str) -> Path:
    return CACHE / Path(model_path).stem / split


def generate(args) -> None:
    model = load_model(args.model)
    if model.config.tta != "none" or not model.config.architecture.startswith("resnet"):
        raise SystemExit(f"{args.model}: the spike handles ResNets without test-time views only")
    pairs = (train_pairs(model, args.data, args.pairs) if args.split == "train"
             else split_pairs(model, args.data, "val", args.pairs))
    shard, shards = (int(x) for x in args.shard.split("/"))
    out = cache_dir(args.model, args.split)
    out.mkdir(parents=True, exist_ok=True)
    for k, (p1, p2, same) in enumerate(pairs):
        path = out / f"{k:05d}.npz"
        if k % shards != shard or path.exists():
            continue
        started = time.perf_counter()
        inputs = pair_inputs(model, [load_image(p1), load_image(p2)])
        facts = first_pass(model, inputs)
        target = facts["sign"] * integrated_cells(model, inputs, path=coalitions())
        arrays = {"activations": facts["activations"].numpy().astype(np.float16),
                  "grads": facts["grads"].numpy().astype(np.float32),
                  "early": facts["early"].numpy().astype(np.float16), "target": target.numpy().astype(np.float32),
                  "sign": facts["sign"], "similarity": facts["similarity"], "same": same,
                  "pair": np.array([str(p1), str(p2)])}
        atomic_write(path, lambda handle, arrays=arrays: np.savez(handle, **arrays))
        print(f"{args.split} {k + 1}/{len(pairs)} {time.perf_counter() - started:.2f}s", file=sys.stderr, flush=True)


# --- the head ------------------------------------------------------------------------------------------------

class Head(nn.Module):
    """(A, G, early activations) of N images -> (N, GRID, GRID) predicted coalition cells (normalised scale)."""

    def __init__(self, channels: int, early_channels: int, width: int = WIDTH):
        super().__init__()
        self.register_buffer("scale", torch.ones(1, channels, 1, 1))  # per-channel mean of A on the training pairs
        self.register_buffer("early_scale", torch.ones(1, early_channels, 1, 1))
        self.target = nn.Sequential(nn.Conv2d(2 * channels, width, 1), nn.ReLU(),
                                    nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.early = nn.Sequential(nn.Conv2d(early_channels, width, 1), nn.ReLU())
        self.out = nn.Sequential(nn.Conv2d(2 * width + 1, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, activations, grads, early):
        a = activations.float()
        g = grads.float()
        product = a * g  # gradient x activation, scaled per image (the targets are normalised per image too)
        product = product / (product.flatten(1).std(dim=1).view(-1, 1, 1, 1) + 1e-12)
        cam = grad_cam(a, g)[:, None]
        cam = cam / (cam.flatten(1).abs().amax(dim=1).view(-1, 1, 1, 1) + 1e-12)
        t = self.target(torch.cat([product, torch.log1p(a / self.scale)], dim=1))
        t = F.interpolate(t, size=(GRID, GRID), mode="bilinear", align_corners=False)
        cam = F.interpolate(cam, size=(GRID, GRID), mode="bilinear", align_corners=False)
        e = F.adaptive_avg_pool2d(early.float(), GRID)
        e = self.early(torch.log1p(e / self.early_scale))
        return self.out(torch.cat([t, e, cam], dim=1))[:, 0] + cam[:, 0]  # a correction of Grad-CAM


def load_cache(model_path: Path, split: str, limit: int | None = None) -> dict:
    files = sorted(cache_dir(model_path, split).glob("[0-9]*[0-9].npz"))[:limit]
    if not files:
        raise SystemExit(f"{cache_dir(model_path, split)}: no cached pairs; run `generate` first")
    parts = [np.load(f) for f in files]
    stack = lambda key: torch.from_numpy(np.concatenate([p[key] for p in parts]))  # noqa: E731  2 rows a pair
    return {"activations": stack("activations"), "grads": stack("grads"), "early": stack("early"),
            "target": stack("target"), "index": [int(f.stem) for f in files]}


def normalised(cells: torch.Tensor) -> torch.Tensor:
    return cells / (cells.flatten(1).abs().amax(dim=1).view(-1, 1, 1) + 1e-12)


def loss_of(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p, t = pred.flatten(1), target.flatten(1)
    pc, tc = p - p.mean(dim=1, keepdim=True), t - t.mean(dim=1, keepdim=True)
    pearson = (pc * tc).sum(dim=1) / (pc.norm(dim=1) * tc.norm(dim=1) + 1e-12)
    return F.mse_loss(p, t) + (1.0 - pearson).mean()


def train(args) -> None:
    torch.manual_seed(0)
    data = load_cache(args.model, "train", args.limit)
    n_pairs = len(data["target"]) // 2
    cut = 2 * int(round(n_pairs * (1 - HOLDOUT)))  # whole pairs on each side
    head = Head(data["activations"].shape[1], data["early"].shape[1], args.width)
    head.scale.copy_(data["activations"][:cut].float().mean(dim=(0, 2, 3)).view(1, -1, 1, 1) + 1e-6)
    head.early_scale.copy_(data["early"][:cut].float().mean(dim=(0, 2, 3)).view(1, -1, 1, 1) + 1e-6)
    target = normalised(data["target"])
    hold = slice(cut, None)
    optimiser = torch.optim.AdamW(head.parameters(), lr=3e-3, weight_decay=1e-3)
    best, best_state, since = float("inf"), None, 0
    started = time.perf_counter()
    for epoch in range(EPOCHS):
        head.train()
        order = torch.randperm(cut)
        for start in range(0, cut, 64):
            rows = order[start:start + 64]
            loss = loss_of(head(data["activations"][rows], data["grads"][rows], data["early"][rows]), target[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        head.eval()
        with torch.no_grad():
            held = float(loss_of(head(data["activations"][hold], data["grads"][hold], data["early"][hold]),
                                 target[hold]))
        if held < best - 1e-4:
            best, best_state, since = held, {k: v.clone() for k, v in head.state_dict().items()}, 0
        else:
            since += 1
        if epoch % 10 == 0:
            print(f"epoch {epoch} train {loss.item():.4f} holdout {held:.4f}", file=sys.stderr, flush=True)
        if since >= PATIENCE:
            break
    head.load_state_dict(best_state)
    with torch.no_grad():
        pred = head(data["activations"][hold], data["grads"][hold], data["early"][hold])
        cam = grad_cam(data["activations"][hold].float(), data["grads"][hold])
    rho = [r for p, t in zip(pred.numpy(), data["target"][hold].numpy(), strict=True)
           if (r := rank_correlation(p, t)) is not None]  # None: a constant map
    cam16 = F.interpolate(cam[:, None], size=(GRID, GRID), mode="bilinear", align_corners=False)[:, 0].numpy()
    rho_cam = [r for c, t in zip(cam16, data["target"][hold].numpy(), strict=True)
               if (r := rank_correlation(c, t)) is not None]
    path = cache_dir(args.model, "head.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = {"state": head.state_dict(), "channels": head.scale.shape[1], "early": head.early_scale.shape[1],
             "width": args.width, "pairs": n_pairs, "holdout_loss": best}
    atomic_write(path, lambda handle: torch.save(saved, handle))
    print(json.dumps({"pairs": n_pairs, "width": args.width, "fit_pairs": cut // 2, "epochs": epoch + 1,
                      "holdout_loss": round(best, 4),
                      "holdout_spearman_median": round(float(np.median(rho)), 3),
                      "holdout_gradcam_spearman_median": round(float(np.median(rho_cam)), 3),
                      "parameters": sum(p.numel() for p in head.parameters()),
                      "seconds": round(time.perf_counter() - started, 1), "saved": str(path)}, indent=1))


def load_head(model_path: Path) -> Head:
    saved = torch.load(cache_dir(model_path, "head.pt"), weights_only=True)
    head = Head(saved["channels"], saved["early"], saved["width"])
    head.load_state_dict(saved["state"])
    return head.eval()


# --- evaluate ------------------------------------------------------------------------------------------------

def evaluate(args) -> None:
    model = load_model(args.model)
    head = load_head(args.model)
    pairs = split_pairs(model, args.data, "val", args.pairs)
    val = load_cache(args.model, "val")
    cached = {k: n for n, k in enumerate(val["index"])}
    rows = []
    for k, (p1, p2, _same) in enumerate(pairs):
        if k not in cached:
            print(f"pair {k}: no cached target, skipped", file=sys.stderr)
            continue
        rows_ = slice(2 * cached[k], 2 * cached[k] + 2)
        images = [load_image(p1), load_image(p2)]
        views = [model_view(model, image) for image in images]
        sizes = [pil.size for pil, _box in views]
        inputs = torch.cat([model.input_tensor(pil) for pil, _box in views])
        facts = first_pass(model, inputs)
        with torch.no_grad():
            predicted = head(facts["activations"], facts["grads"], facts["early"]).numpy()
        target = val["target"][rows_].numpy()
        first = explain_pair(model, images[0], images[1], method="gradcam")
        signed_cam = grad_cam(facts["activations"], facts["grads"])[:, None]
        cam16 = F.interpolate(signed_cam, size=(GRID, GRID), mode="bilinear", align_corners=False)[:, 0].numpy()
        maps = {"gradcam": list(first.factual), "coalition": cell_maps(target, sizes, rectify=True),
                "amortised": cell_maps(predicted, sizes, rectify=True)}
        pair_facts = {"sign": facts["sign"], "views": views, "inputs": inputs, "crops": first.crops,
                      "feature_shape": facts["activations"].shape[-2:]}
        verdicts = judged(model, maps, pair_facts, ["choose"])
        located = where(maps, images, pair_facts) if model.config.lesion_crop else None
        row = {"pair": [str(p1), str(p2)], "decision": facts["decision"],
               "choose": {n: bool(v["choose"]) for n, v in verdicts.items()},
               "margin": {n: v["choose_margin"] for n, v in verdicts.items()},
               "spearman_amortised": [rank_correlation(predicted[n], target[n]) for n in range(2)],
               "spearman_gradcam": [rank_correlation(cam16[n], target[n]) for n in range(2)], "where": located}
        if args.ceiling:  # how well another draw of the same sampled estimate predicts it: the noise ceiling
            other = facts["sign"] * integrated_cells(model, inputs, path=coalitions(seed=CEILING_SEED)).numpy()
            row["spearman_other_seed"] = [rank_correlation(other[n], target[n]) for n in range(2)]
        if k < args.timing_pairs:
            row["timing"] = timings(model, head, images)
        rows.append(row)
        print(f"{k + 1}/{len(pairs)} " + " ".join(f"{n}:{int(v)}" for n, v in row["choose"].items()),
              file=sys.stderr, flush=True)
        if args.json:
            write_json(args.json, rows)
    print(json.dumps(summarise(rows), indent=1))


def timings(model, head, images, repeats: int = 3) -> dict:
    """Median of `repeats` interleaved runs (ms): a plain forward of the pair (preprocessing included, as
    bench_explanations.timings), explain_pair's Grad-CAM end to end, and the head alone on the pass's tensors
    (the layer2 hook is a reference kept, no compute): the amortised first map costs about Grad-CAM + head."""
    facts = first_pass(model, pair_inputs(model, images))

    def forward():
        views = [model_view(model, image)[0] for image in images]
        with torch.no_grad():
            e = model.embed(torch.cat([model.input_tensor(v) for v in views]))
            return float(model.score(e[0:1], e[1:2]))

    def amortised():
        with torch.no_grad():
            return head(facts["activations"], facts["grads"], facts["early"])

    runs: dict[str, list] = {"forward": [], "gradcam": [], "head": []}
    for _ in range(repeats):
        for name, run in (("forward", forward), ("gradcam", lambda: explain_pair(model, *images, method="gradcam")),
                          ("head", amortised)):
            started = time.perf_counter()
            run()
            runs[name].append((time.perf_counter() - started) * 1000.0)
    return {f"{name}_ms": statistics.median(values) for name, values in runs.items()}


def summarise(rows: list) -> dict:
    out: dict = {"pairs": len(rows)}
    for name in ("gradcam", "coalition", "amortised"):
        entry = {"choose_faithful": round(float(np.mean([r["choose"][name] for r in rows])), 3),
                 "choose_margin_median": round(float(np.median([r["margin"][name] for r in rows])), 4)}
        located = [r["where"] for r in rows if r["where"]]
        if located:
            on = [s for w in located for s in w["maps"][name]["on_lesion"]]
            shares = [s for w in located for s in w["lesion_shares"]]
            entry["lift"] = round(float(np.mean(on)) / float(np.mean(shares)), 3)
        out[name] = entry
    for name in ("amortised", "gradcam"):
        rho = [s for r in rows for s in r[f"spearman_{name}"] if s is not None]  # None: a constant map
        out[name]["spearman_with_coalition_median"] = round(float(np.median(rho)), 3)
    other = [s for r in rows for s in r.get("spearman_other_seed", []) if s is not None]
    if other:
        out["coalition_seed1_spearman_with_coalition_median"] = round(float(np.median(other)), 3)
    both = [r for r in rows if r["choose"]["amortised"] and not r["choose"]["gradcam"]]
    lost = [r for r in rows if r["choose"]["gradcam"] and not r["choose"]["amortised"]]
    out["amortised_passes_gradcam_fails"], out["gradcam_passes_amortised_fails"] = len(both), len(lost)
    timed = [r["timing"] for r in rows if "timing" in r]
    if timed:
        med = lambda key: statistics.median(t[key] for t in timed)  # noqa: E731
        out["timing"] = {"pairs": len(timed), "forward_ms": round(med("forward_ms"), 1),
                         "gradcam_ms": round(med("gradcam_ms"), 1), "head_ms": round(med("head_ms"), 2),
                         "gradcam_over_forward": round(statistics.median(t["gradcam_ms"] / t["forward_ms"]
                                                                         for t in timed), 3),
                         "amortised_over_forward": round(statistics.median((t["gradcam_ms"] + t["head_ms"])
                                                                           / t["forward_ms"] for t in timed), 3)}
    return out


def write_json(path: Path, rows: list) -> None:
    atomic_write(path, json.dumps({"summary": summarise(rows), "rows": rows}, indent=1, default=str).encode())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="cache first-pass tensors and coalition targets")
    gen.add_argument("data")
    gen.add_argument("--model", type=Path, required=True)
    gen.add_argument("--split", choices=("train", "val"), required=True)
    gen.add_argument("--pairs", type=int, default=800)
    gen.add_argument("--shard", default="0/1", help="k/n: only pairs whose index is k modulo n")
    tr = sub.add_parser("train", help="train the head on the cached training pairs")
    tr.add_argument("--model", type=Path, required=True)
    tr.add_argument("--limit", type=int, default=None, help="use only the first LIMIT cached pairs")
    tr.add_argument("--width", type=int, default=WIDTH, help="the head's channels")
    ev = sub.add_parser("evaluate", help="CHOOSE, rank correlation, lift and timing on the validation pairs")
    ev.add_argument("data")
    ev.add_argument("--model", type=Path, required=True)
    ev.add_argument("--pairs", type=int, default=60)
    ev.add_argument("--timing-pairs", type=int, default=8)
    ev.add_argument("--json", type=Path)
    ev.add_argument("--ceiling", action="store_true",
                    help="also the coalition map of another seed (16 more passes a pair): the target's own noise")
    for p in (gen, tr, ev):
        p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"generate": generate, "train": train, "evaluate": evaluate}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
