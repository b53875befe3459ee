"""The amortised first map: a head trained on a model's own coalition maps, stored in its weights file, drawn from
the one pass of the pair; a model without one falls back to Grad-CAM, and training resumes from its cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.explain.pair import explain_pair
from core.explain.refine import method_words, refined, refines
from core.io.images import load_image
from core.model.weights import load_model
from core.training import explainer as training
from core.vocabulary import DEFAULT_METHOD


@pytest.fixture(scope="module")
def with_head(trained_shapes, shapes_dir, tmp_path_factory):
    """A copy of the trained shapes model with an explainer trained on 40 of its training pairs: (path, report)."""
    _, weights = trained_shapes
    folder = tmp_path_factory.mktemp("explainer")
    path = folder / "shapes.pt"
    shutil.copy(weights, path)
    shutil.copy(weights.with_suffix(".json"), path.with_suffix(".json"))
    options = training.ExplainerOptions(pairs=40, width=8, epochs=80, patience=20)
    report = training.train_explainer(path, shapes_dir, options, folder / "cache")
    return path, report


def _pair(shapes_dir):
    return [load_image(p) for p in (sorted((shapes_dir / "red_circles").glob("*.png"))[0],
                                    sorted((shapes_dir / "blue_squares").glob("*.png"))[0])]


def test_the_head_lives_in_the_weights_file_and_makes_the_default_first_map(with_head, shapes_dir):
    path, report = with_head
    model = load_model(path)  # the sha256 of the tensors covers the head's: a file with an altered head is refused
    assert model.explainer is not None and model.config.explainer_width == 8
    assert model.metadata["explainer"]["pairs"] == 40 and model.metadata["explainer"]["target"] == "coalition"
    assert model.metadata["explainer"]["fit_seed"] == 0  # ExplainerOptions.seed, `explainer --fit-seed`
    assert report["weights"]["sha256"] == model.metadata["sha256"]
    pair = _pair(shapes_dir)
    first = explain_pair(model, *pair)
    assert DEFAULT_METHOD == "amortised" and first.method == "amortised"
    gradcam = explain_pair(model, *pair, method="gradcam")
    assert first.similarity == gradcam.similarity and first.verdict == gradcam.verdict  # only the maps differ
    assert not all(np.allclose(a, b, atol=1e-3) for a, b in zip(first.factual, gradcam.factual, strict=True))
    assert refines(first)  # the background refinement still replaces it, and says what it replaced
    better = refined(model, [image.image for image in pair], first)
    assert method_words(better.method, better.refined_from) == "coalition (refined from amortised)"


def test_the_head_ranks_cells_like_the_coalition_map_on_pairs_it_was_not_fit_on(with_head):
    """Its defining property: on held-out training pairs it agrees with its target better than Grad-CAM does."""
    _, report = with_head
    assert report["holdout_pairs"] == 40 - report["fit_pairs"] >= 5
    assert report["holdout_rank_correlation"] > report["holdout_rank_correlation_gradcam"] + 0.1


def test_a_model_without_a_head_falls_back_to_gradcam_and_is_refined(trained_shapes, shapes_dir):
    model = load_model(trained_shapes[1])
    assert model.explainer is None
    first = explain_pair(model, *_pair(shapes_dir))
    assert first.method == "gradcam" and refines(first)  # the record names the method that drew the maps
    assert not refines(first, "gradcam")  # Grad-CAM chosen by the reviewer is theirs to keep
    assert method_words(first.method, first.refined_from) == "gradcam"


def test_targets_are_cached_per_pair_and_resumed(trained_shapes, shapes_dir, tmp_path):
    model = load_model(trained_shapes[1])
    pairs = training.training_pairs(model, shapes_dir, 3)
    cache = tmp_path / "cache"
    files = training.generate(model, pairs, cache, shard=(0, 2))  # pairs 0 and 2 only
    assert [f.exists() for f in files] == [True, False, True]
    stamps = [f.stat().st_mtime_ns for f in files if f.exists()]
    files[2].unlink()
    np.savez(files[2], pair=np.array(["another", "pair"]))  # a stale file of another pair is recomputed
    done: list[int] = []
    training.generate(model, pairs, cache, progress=lambda k, n: done.append(k))
    assert done == [2, 3] and files[0].stat().st_mtime_ns == stamps[0]
    data = training.load_targets(files)
    assert data["target"].shape[-2:] == data["early"].shape[-2:]  # coalition cells pooled to the head's grid
    assert torch.isfinite(data["target"]).all()


def test_more_target_seeds_average_other_draws_of_the_same_coalition_map(trained_shapes, shapes_dir, tmp_path):
    """target_seeds K: the target is the mean of K coalition maps of the pair under mask seeds 0..K-1; the first
    draw keeps the cache's layout (one file a pair), each further draw has its own folder."""
    model = load_model(trained_shapes[1])
    pairs = training.training_pairs(model, shapes_dir, 2)
    cache = tmp_path / "cache"
    files = training.generate(model, pairs, cache)
    second = training.generate(model, pairs, cache, seed=1)
    assert [f.parent for f in second] == [cache / "seed1"] * 2 and not (cache / "seed1" / "seed1").exists()
    first_maps = np.concatenate([np.load(f)["target"] for f in files])
    second_maps = np.concatenate([np.load(f)["target"] for f in second])
    assert not np.allclose(first_maps, second_maps)  # another draw of the masks, not a copy
    inputs = torch.cat([model.input_tensor(training.model_view(model, load_image(p))[0]) for p in pairs[1]])
    redrawn = float(np.load(files[1])["sign"]) * training.integrated_cells(
        model, inputs, path=training.coalitions(seed=training.COALITION_SEED + 1)).numpy()
    np.testing.assert_allclose(second_maps[2:], redrawn, atol=1e-6)  # oriented for the decision like the first
    one = training.load_targets(files)["target"]
    both = training.load_targets(files, [second])["target"]
    mean = torch.from_numpy((first_maps + second_maps) / 2)[:, None]
    np.testing.assert_allclose(both.numpy(), F.adaptive_avg_pool2d(mean, tuple(one.shape[-2:]))[:, 0].numpy(),
                               atol=1e-6)
    assert not torch.allclose(one, both)


def test_the_insertion_weight_mixes_the_low_and_high_halves_of_the_same_map(trained_shapes, shapes_dir, tmp_path):
    """insertion_weight w: the target is w x (the coalitions restoring under half the cells) + (1 - w) x (their
    complements), built from the cached map and its low half on the same scale; w = 1/2 is the plain map."""
    model = load_model(trained_shapes[1])
    pairs = training.training_pairs(model, shapes_dir, 2)
    cache = tmp_path / "cache"
    files = training.generate(model, pairs, cache)
    lows = training.generate(model, pairs, cache, low=True)
    assert [f.parent for f in lows] == [cache / "low"] * 2
    full = np.load(files[1])["target"]
    low = np.load(lows[1])["target"]
    inputs = torch.cat([model.input_tensor(training.model_view(model, load_image(p))[0]) for p in pairs[1]])
    half = training.STEPS // 2
    high_path = lambda steps, x: training.coalitions()(2 * steps, x)[steps:]  # noqa: E731  the complements
    high = float(np.load(files[1])["sign"]) * training.integrated_cells(model, inputs, steps=half,
                                                                        path=high_path).numpy() / 2
    assert not np.allclose(low, high, atol=1e-4)
    np.testing.assert_allclose(low + high, full, atol=1e-5)  # the two halves add up to the cached map
    grid = tuple(training.load_targets(files)["target"].shape[-2:])
    pool = lambda cells: F.adaptive_avg_pool2d(torch.from_numpy(cells)[:, None], grid)[:, 0].numpy()  # noqa: E731
    for w in (0.5, 0.75, 1.0):
        mixed = training.load_targets(files, low_files=lows, insertion_weight=w)["target"][2:].numpy()
        np.testing.assert_allclose(mixed, pool(w * low + (1 - w) * high), atol=1e-5)


def test_an_insertion_weighted_head_is_recorded_and_refused_with_several_target_seeds(with_head, trained_shapes,
                                                                                       shapes_dir, tmp_path, capsys):
    from main import main

    path = tmp_path / "low.pt"
    shutil.copy(trained_shapes[1], path)
    shutil.copy(trained_shapes[1].with_suffix(".json"), path.with_suffix(".json"))
    cache = with_head[0].parent / "cache"
    args = ["explainer", str(path), str(shapes_dir), "--pairs", "12", "--width", "8", "--cache-dir", str(cache)]
    assert main([*args, "--insertion-weight", "1.5"]) == 2
    assert "--insertion-weight must be" in capsys.readouterr().err
    assert main([*args, "--insertion-weight", "0.75", "--target-seeds", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "insertion weight" in err and "low.pt" in err
    options = training.ExplainerOptions(pairs=12, width=8, epochs=5, patience=5, insertion_weight=0.75)
    report = training.train_explainer(path, shapes_dir, options, cache)
    assert load_model(path).metadata["explainer"]["insertion_weight"] == 0.75 == report["insertion_weight"]
    assert (cache / training.backbone_digest(load_model(path)) / "low" / "00011.npz").exists()


def test_the_fit_seed_alone_changes_the_head_and_is_recorded(with_head, trained_shapes, shapes_dir, tmp_path, capsys,
                                                              monkeypatch):
    """`--fit-seed` seeds the head's initialisation and batch order: the same seed refits the same head from the
    cached targets, another seed another head (so a recipe can be judged over several fits)."""
    import json
    from functools import partial

    from main import main

    # a few epochs suffice to tell heads apart (the command's 300 would take minutes on a loaded core)
    monkeypatch.setattr(training, "ExplainerOptions", partial(training.ExplainerOptions, epochs=10, patience=10))
    cache = with_head[0].parent / "cache"  # the fixture's targets (the first 12 of its 40): no pair is recomputed
    heads, reports = [], []
    for k, seed in enumerate((0, 0, 1)):
        path = tmp_path / f"seed{k}.pt"
        shutil.copy(trained_shapes[1], path)
        shutil.copy(trained_shapes[1].with_suffix(".json"), path.with_suffix(".json"))
        assert main(["explainer", str(path), str(shapes_dir), "--pairs", "12", "--width", "8", "--fit-seed",
                     str(seed), "--cache-dir", str(cache), "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
        model = load_model(path)
        assert model.metadata["explainer"]["fit_seed"] == seed == reports[-1]["fit_seed"]
        heads.append(model.explainer.state_dict())
    assert all(torch.equal(heads[0][name], heads[1][name]) for name in heads[0])
    assert not all(torch.allclose(heads[0][name], heads[2][name]) for name in heads[0])
    assert reports[0]["holdout_loss"] == reports[1]["holdout_loss"]


def test_explainer_refuses_what_it_cannot_train_with_one_line(weights, tiny_model, tmp_path, capsys):
    from main import main

    assert main(["explainer", str(weights), str(tmp_path)]) == 2  # the tiny model records no training split
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no training split" in err and str(weights.name) in err
    assert main(["explainer", str(weights), str(tmp_path), "--pairs", "2"]) == 2
    assert "--pairs must be" in capsys.readouterr().err
    assert main(["explainer", str(weights), str(tmp_path), "--fit-seed", "-1"]) == 2
    assert "--fit-seed must be" in capsys.readouterr().err
