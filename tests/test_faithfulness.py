"""Deletion/insertion faithfulness (core.explain.faithfulness)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.errors import Stopped
from core.explain.faithfulness import CHUNK_PAIRS, FRACTIONS, RANDOM_SEEDS, auc, faithfulness, perturbed_scores
from core.explain.pair import explain_pair, explained_images
from core.io.images import load_image
from core.model.weights import load_model


def test_auc_of_constant_and_linear_curves():
    assert auc(np.ones(len(FRACTIONS))) == pytest.approx(1.0)
    assert auc(np.asarray(FRACTIONS)) == pytest.approx(0.5)


def test_curves_start_and_end_at_the_original_and_blurred_scores(tiny_model, image_pair):
    images = [load_image(p) for p in image_pair]
    result = explain_pair(tiny_model, *images)
    curves = faithfulness(tiny_model, [i.image for i in explained_images(images, result)], result)
    for name in ("map", "random"):
        deletion, insertion = curves[f"deletion_{name}"], curves[f"insertion_{name}"]
        assert len(deletion) == len(insertion) == len(FRACTIONS)
        assert deletion[-1] == pytest.approx(insertion[0], abs=1e-5)  # both: the fully blurred pair
        assert deletion[0] == pytest.approx(insertion[-1], abs=1e-5)  # both: the pair itself
    explained = result.similarity if result.decision == "similar" else 1 - result.similarity
    assert curves["deletion_map"][0] == pytest.approx(explained, abs=1e-4)
    assert all(0 <= v <= 1 for k in curves if "_auc_" in k for v in np.atleast_1d(curves[k]))


def test_the_map_is_judged_against_three_random_maps_and_their_mean(tiny_model, image_pair):
    """Each random map's AUCs and curves, their mean under the keys one random map filled before (older readers
    read them), and the verdict of core.trust.checks; the first random map is the earlier check's (seed 0)."""
    from core.trust.checks import check_verdict

    images = [load_image(p) for p in image_pair]
    result = explain_pair(tiny_model, *images)
    shown = [i.image for i in explained_images(images, result)]
    curves = faithfulness(tiny_model, shown, result)
    single = faithfulness(tiny_model, shown, result, seeds=(0,))
    assert len(RANDOM_SEEDS) == 3 and RANDOM_SEEDS[0] == 0
    for mode in ("deletion", "insertion"):
        areas = curves[f"{mode}_auc_randoms"]
        assert len(areas) == len(curves[f"{mode}_randoms"]) == 3 and len(set(areas)) > 1  # three different maps
        assert curves[f"{mode}_auc_random"] == pytest.approx(np.mean(areas), abs=2e-5)
        assert curves[f"{mode}_random"] == pytest.approx(np.mean(curves[f"{mode}_randoms"], axis=0), abs=2e-5)
        assert areas[0] == pytest.approx(single[f"{mode}_auc_random"], abs=1e-5)
        assert curves[f"{mode}_auc_map"] == pytest.approx(single[f"{mode}_auc_map"], abs=1e-5)
    assert curves["verdict"] == check_verdict(curves) and curves["verdict"] in ("faithful", "inconclusive",
                                                                                 "unfaithful")
    json.dumps(curves, allow_nan=False)  # a sidecar's


def test_curves_cost_thirty_three_pair_passes_in_small_batches(tiny_model, image_pair):
    """Both images perturbed together: 33 pairs (4 fractions x 2 modes x (map + 3 random maps) + the blurred pair)
    in batches of CHUNK_PAIRS, plus the pair itself."""
    original = tiny_model.embed
    sizes = []
    tiny_model.embed = lambda batch: (sizes.append(batch.shape[0]), original(batch))[1]
    try:
        images = [load_image(p) for p in image_pair]
        result = explain_pair(tiny_model, *images)
        sizes.clear()
        faithfulness(tiny_model, [i.image for i in explained_images(images, result)], result)
    finally:
        del tiny_model.embed
    assert sum(sizes) // 2 == 33 + 1 and max(sizes) <= 2 * CHUNK_PAIRS
    assert len(sizes) == -(-33 // CHUNK_PAIRS) + 1


def test_a_stop_request_ends_the_measurement_between_batches(tiny_model, image_pair):
    images = [load_image(p) for p in image_pair]
    result = explain_pair(tiny_model, *images)
    original, calls = tiny_model.embed, []
    tiny_model.embed = lambda batch: (calls.append(batch.shape[0]), original(batch))[1]
    try:
        with pytest.raises(Stopped):
            faithfulness(tiny_model, [i.image for i in explained_images(images, result)], result,
                         should_stop=lambda: len(calls) >= 1)
    finally:
        del tiny_model.embed
    assert calls == [2 * CHUNK_PAIRS]  # one batch, then the stop


def test_hiding_the_factual_evidence_of_a_similar_pair_lowers_the_score_more(trained_shapes, shapes_dir):
    """Fails if the default method's factual and counterfactual maps were swapped: for 'similar' pairs, blurring
    the top of the factual maps must cost more similarity than blurring the top of the counterfactual maps."""
    _, weights = trained_shapes
    model = load_model(weights)
    drops = []
    for name in ("red_circles", "blue_squares", "green_triangles"):
        paths = sorted((shapes_dir / name).glob("*.png"))
        for i in range(0, 8, 2):
            images = [load_image(paths[i]), load_image(paths[i + 1])]
            result = explain_pair(model, *images)
            if result.decision != "similar" or result.same_content:
                continue
            shown = explained_images(images, result)
            inputs = torch.cat([model.input_tensor(s.image) for s in shown])
            factual, counter = perturbed_scores(model, inputs, [list(result.factual), list(result.counterfactual)])
            drops.append(auc(counter["deletion"]) - auc(factual["deletion"]))
    assert len(drops) >= 4
    assert np.mean(drops) > 0 and np.mean(np.asarray(drops) > 0) >= 0.6, drops


def test_explain_faithfulness_json_and_report(image_pair, tiny_weights_path, tmp_path):
    report = tmp_path / "pair.png"
    done = subprocess.run([sys.executable, "main.py", "explain", str(image_pair[0]), str(image_pair[1]), "--model",
                           str(tiny_weights_path), "--faithfulness", "--json", "--report", str(report)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"probability_same", "in_domain", "same_content", "faithfulness"} <= set(data)
    f = data["faithfulness"]
    assert {"deletion_auc_map", "deletion_auc_random", "insertion_auc_map", "insertion_auc_random",
            "deletion_auc_randoms", "insertion_auc_randoms", "verdict"} <= set(f)
    assert json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))["faithfulness"] == f  # and reported


def test_evaluate_explanations_reports_every_method(trained_shapes, shapes_dir):
    from core.explain.methods import METHODS

    _, weights = trained_shapes
    done = subprocess.run([sys.executable, "main.py", "evaluate", str(shapes_dir), "--model", str(weights),
                           "--explanations", "1", "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    explanations = json.loads(done.stdout)["explanations"]
    assert set(explanations["methods"]) == set(METHODS) - {"amortised"}  # no explainer head: no second Grad-CAM
    for row in explanations["methods"].values():
        assert row["pairs"] >= 1 and 0 <= row["deletion_auc"] <= 1 and row["explain_ms"] > 0


@pytest.fixture
def tiny_weights_path(tiny_model, tmp_path):
    from core.model.weights import save_model

    path = tmp_path / "tiny.pt"
    save_model(tiny_model, path)
    return path
