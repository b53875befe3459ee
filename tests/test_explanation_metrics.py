"""The pair-metrics table of the explanation methods (core.evaluation.explanation_metrics)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from core.evaluation.explanation_metrics import (
    lesion_mass,
    max_sensitivity,
    pointing_game,
    randomised,
    rank_correlation,
    road_impute,
    road_scores,
)
from core.explain.faithfulness import FRACTIONS


def test_a_map_that_is_the_lesion_mask_has_all_its_mass_and_its_maximum_on_it():
    mask = np.zeros((20, 20), bool)
    mask[5:12, 6:14] = True
    assert lesion_mass(mask.astype(np.float32), mask) == pytest.approx(1.0)
    assert pointing_game(mask.astype(np.float32), mask) is True
    outside = (~mask).astype(np.float32)
    assert lesion_mass(outside, mask) == pytest.approx(0.0)
    assert pointing_game(outside, mask) is False
    assert lesion_mass(np.zeros((20, 20), np.float32), mask) is None and pointing_game(np.zeros((20, 20)), mask) is None


def test_road_imputation_keeps_kept_pixels_and_a_constant_image_constant():
    constant = torch.full((2, 3, 16, 16), 0.7)
    removed = torch.zeros((2, 16, 16), dtype=torch.bool)
    removed[:, 4:12, 3:9] = True
    assert torch.allclose(road_impute(constant, removed, noise=0.0), constant, atol=1e-5)
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(2, 3, 16, 16).contiguous()
    filled = road_impute(ramp, removed, noise=0.05)
    assert torch.equal(filled[:, :, ~removed[0]], ramp[:, :, ~removed[0]])  # kept pixels untouched, noise only inside
    assert (filled - ramp)[:, :, removed[0]].abs().max() > 0
    # a linear ramp is its own neighbour mean: the noiseless imputation recovers it from the blurred start
    assert (road_impute(ramp, removed, noise=0.0, iterations=400) - ramp).abs().max() < 0.02


def test_road_curves_end_where_nothing_or_everything_is_imputed(tiny_model, image_pair):
    inputs = torch.cat([tiny_model.input_tensor(Image.open(p).convert("RGB")) for p in image_pair])
    maps = [np.random.default_rng(n).random((8, 8)).astype(np.float32) for n in range(2)]
    curves = road_scores(tiny_model, inputs, maps)
    original = float(tiny_model.score(*tiny_model.embed(inputs).split(1))[0])
    assert len(curves["deletion"]) == len(FRACTIONS)
    assert curves["deletion"][0] == pytest.approx(original, abs=1e-4)  # fraction 0: nothing removed
    assert curves["insertion"][-1] == pytest.approx(original, abs=1e-4)  # fraction 1: everything kept


def test_randomisation_is_one_for_unchanged_weights_and_changes_the_head(tiny_model):
    a = np.random.default_rng(0).random(64)
    assert rank_correlation(a, a) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, np.ones(64)) is None
    twin = randomised(tiny_model)
    assert not torch.equal(twin.head[1].weight, tiny_model.head[1].weight)
    assert not torch.equal(next(twin.target_layer.parameters()), next(tiny_model.target_layer.parameters()))
    assert torch.equal(next(twin.features.parameters()), next(tiny_model.features.parameters()))  # first conv kept


def test_randomisation_of_real_maps_is_one_against_the_same_model(tiny_model, image_pair):
    from core.evaluation.explanation_metrics import _factual_maps

    images = [Image.open(p).convert("RGB") for p in image_pair]
    first = _factual_maps(tiny_model, "gradcam", images)
    assert rank_correlation(first, _factual_maps(tiny_model, "gradcam", images)) == pytest.approx(1.0)


def test_max_sensitivity_is_zero_for_a_constant_map_and_positive_for_one_that_follows_the_pixels():
    images = [Image.fromarray(np.full((12, 12, 3), 100, np.uint8))] * 2
    assert max_sensitivity(lambda _images: np.ones((4, 4)), images) == 0.0
    follows = max_sensitivity(lambda ims: np.concatenate([np.asarray(i, np.float64).ravel() for i in ims]), images)
    assert 0 < follows <= 0.02 * 255 / 100 + 1e-9  # at most the noise radius, relative to the pixel value


def test_evaluate_prints_the_table_and_json_for_chosen_methods(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    command = [sys.executable, "main.py", "evaluate", str(shapes_dir), "--model", str(weights), "--pairs", "20",
               "--explanations", "2", "--methods", "gradcam,ablation"]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    methods = json.loads(done.stdout)["explanations"]["methods"]
    assert set(methods) == {"gradcam", "ablation"}
    for row in methods.values():
        assert 0 <= row["road_deletion_auc"] <= 1 and 0 <= row["road_insertion_auc_random"] <= 1
        assert -1 <= row["randomisation"] <= 1 and row["max_sensitivity"] >= 0
        assert "lesion_mass" not in row  # shapes are not skin
    text = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert text.returncode == 0 and "ROADdel" in text.stdout and "ablation" in text.stdout
    bad = subprocess.run([*command[:-1], "gradcam,nosuch"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "nosuch" in bad.stderr and "Traceback" not in bad.stderr
