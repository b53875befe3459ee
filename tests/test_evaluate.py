from itertools import product

import numpy as np
import pytest
import torch

from core.data.datasets import make_pairs, scan_dataset
from core.evaluation.evaluate import EVAL_PAIR_SEED, evaluate_dataset
from core.evaluation.metrics import auc_interval, best_balanced_threshold, roc_auc
from core.io.images import load_image
from core.model.weights import load_model


def brute_force_auc(scores, same):
    pos, neg = scores[same], scores[~same]
    return np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg)])


def test_auc_matches_mann_whitney_by_hand():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 2)  # with ties
    same = rng.random(300) < scores
    assert roc_auc(scores, same) == pytest.approx(brute_force_auc(scores, same), abs=1e-12)


def test_auc_interval_brackets_the_estimate_and_narrows_with_data():
    rng = np.random.default_rng(1)

    def sample(n):
        same = np.repeat([1, 0], n // 2).astype(bool)
        return rng.normal(same * 0.8, 1.0), same

    small, large = sample(80), sample(2000)
    low_s, high_s = auc_interval(*small, groups=np.arange(80), rounds=500)
    low_l, high_l = auc_interval(*large, groups=np.arange(2000), rounds=500)
    assert low_s <= roc_auc(*small) <= high_s and low_l <= roc_auc(*large) <= high_l
    assert high_l - low_l < 0.5 * (high_s - low_s)  # the width shrinks about as 1 / sqrt(n)


def test_auc_interval_resamples_whole_groups():
    """Pairs sharing an image are one draw: copying every pair under its own group id would fake a sample twice as
    large (a narrower interval); under the same group id the interval stays as wide as the original."""
    rng = np.random.default_rng(2)
    same = rng.random(200) < 0.5
    scores = rng.normal(same * 0.6, 1.0)
    twice_scores, twice_same = np.tile(scores, 2), np.tile(same, 2)
    width = np.diff(auc_interval(scores, same, np.arange(200), rounds=800))[0]
    grouped = np.diff(auc_interval(twice_scores, twice_same, np.tile(np.arange(200), 2), rounds=800))[0]
    independent = np.diff(auc_interval(twice_scores, twice_same, np.arange(400), rounds=800))[0]
    assert grouped == pytest.approx(width, rel=0.15)
    assert independent < 0.85 * width


def test_perfectly_separated_scores_have_a_degenerate_interval():
    assert auc_interval([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], groups=[0, 1, 2, 3], rounds=50) == (1.0, 1.0)


def test_best_threshold_separates_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    threshold, balanced = best_balanced_threshold(scores, np.array([0, 0, 0, 1, 1]))
    assert 0.3 < threshold < 0.7 and balanced == 1.0


def test_evaluation_auc_matches_a_hand_computed_value(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    model = load_model(weights)
    result = evaluate_dataset(model, shapes_dir, include_seen=True)
    dataset = scan_dataset(shapes_dir)
    pairs = make_pairs(dataset.labels, np.random.default_rng(EVAL_PAIR_SEED))
    with torch.no_grad():
        embeddings = torch.cat([model.embed(model.preprocess(load_image(p).image)) for p in dataset.paths])
    scores = model.score(embeddings[pairs[:, 0]], embeddings[pairs[:, 1]]).numpy()
    same = pairs[:, 2] == 1
    assert result.pairs == len(pairs)
    assert result.auc == pytest.approx(brute_force_auc(scores, same), abs=1e-3)
    low, high = result.auc_ci95
    assert low <= result.auc <= high and result.to_dict()["auc_ci95"] == [low, high]
    assert result.accuracy == pytest.approx(np.mean((scores >= model.threshold) == same), abs=0.01)


def test_evaluation_leaves_out_images_the_model_was_trained_on(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    model = load_model(weights)
    split = model.metadata["split"]
    result = evaluate_dataset(model, shapes_dir)
    assert result.excluded_seen == split["train"] + split["val"]
    assert result.images == split["test"]
    assert result.auc == pytest.approx(model.metadata["test_metrics"]["auc"], abs=0.1)


def test_evaluate_skips_unreadable_images_names_each_and_counts_them(trained_shapes, shapes_dir, tmp_path, capsys):
    """One unreadable image costs its pairs, not the run: each is named once on stderr, the rest is evaluated (the
    other pairs as drawn before) and the skipped images and pairs are counted, in the text and in the JSON."""
    import json
    import shutil

    from core.data.datasets import path_fingerprint
    from main import main

    _, weights = trained_shapes
    data = tmp_path / "data"
    shutil.copytree(shapes_dir, data)
    seen = set(load_model(weights).metadata["seen_images"])
    dataset = scan_dataset(data)
    relative = [dataset.relative(i) for i in range(len(dataset.paths))]
    unseen_bad = next(r for r in relative if path_fingerprint(r) not in seen)
    seen_bad = next(r for r in relative if path_fingerprint(r) in seen)
    argv = ["evaluate", str(data), "--model", str(weights), "--json", "--retrieval", "--lift-pairs", "0"]
    assert main(argv) == 0
    clean = json.loads(capsys.readouterr().out)
    (data / unseen_bad).write_bytes(b"not an image")
    (data / seen_bad).write_bytes(b"")
    assert main(argv) == 3  # finished, some input skipped: cli.run.EXIT_PARTIAL
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["skipped_images"] == 1 and payload["skipped_pairs"] >= 2  # each image is drawn into two pairs
    assert payload["pairs"] + payload["skipped_pairs"] == clean["pairs"]
    assert payload["images"] == clean["images"] - 1 and payload["unreadable"][0].startswith(str(data / unseen_bad))
    assert payload["retrieval"]["skipped_images"] == 2
    assert payload["retrieval"]["queries"] + payload["retrieval"]["gallery"] == (
        clean["retrieval"]["queries"] + clean["retrieval"]["gallery"] - 2)
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith(f"skipped {data / unseen_bad}: ")
    assert lines[1] == f"skipped {data / seen_bad}: file is empty"
    assert main(argv[:4]) == 3
    assert f"skipped    1 unreadable image(s) and the {payload['skipped_pairs']} pair(s)" in capsys.readouterr().out


def test_evaluate_with_no_readable_pair_left_is_one_line_exit_2(weights, shapes_dir, tmp_path, capsys):
    import shutil

    from main import main

    data = tmp_path / "data"
    shutil.copytree(shapes_dir, data)
    for path in scan_dataset(data).paths:
        path.write_bytes(b"broken")
    assert main(["evaluate", str(data), "--model", str(weights)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {data}: too few readable images to evaluate: 72 of 72 could not be read "
                          f"(the first: {data / 'blue_squares' / '000.png'}: unsupported format")


def test_lesion_lift_skips_a_pair_with_an_unreadable_image(tiny_model, image_pair, tmp_path):
    from core.evaluation.lift import lesion_lift

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"broken")
    lift = lesion_lift(tiny_model, [*image_pair, broken], np.array([[0, 2], [0, 1]]))
    assert lift["pairs"] == 1 and lift["skipped_pairs"] == 1
