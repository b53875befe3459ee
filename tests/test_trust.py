"""Calibration, out-of-domain check and same-content pairs (core.trust.calibration, core.trust.domain,
core.trust.checks)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.explain.pair import explain_pair
from core.io.images import from_pil, load_image
from core.model.weights import load_model, tensors_sha256
from core.trust import calibration, domain


def test_platt_is_monotone_and_fixes_a_miscalibrated_score():
    rng = np.random.default_rng(0)
    same = rng.random(4000) < 0.5
    # A score that is informative but not a probability: same-class pairs near 0.75, others near 0.6.
    scores = np.clip(np.where(same, rng.normal(0.75, 0.08, same.size), rng.normal(0.6, 0.08, same.size)), 0, 1)
    fitted = calibration.fit_platt(scores[:2000], same[:2000])
    assert fitted["a"] > 0
    grid = np.linspace(0, 1, 101)
    assert np.all(np.diff(calibration.apply(fitted, grid)) >= 0)
    raw = calibration.expected_calibration_error(scores[2000:], same[2000:])
    calibrated = calibration.expected_calibration_error(calibration.apply(fitted, scores[2000:]), same[2000:])
    assert raw > 0.1 and calibrated < 0.05


def test_platt_without_signal_gives_the_base_rate_and_refuses_a_decreasing_map():
    fitted = calibration.fit_platt(np.linspace(0, 1, 100), np.r_[np.ones(50), np.zeros(50)])  # anti-correlated
    assert fitted["a"] == 0.0
    assert calibration.apply(fitted, 0.9) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError):
        calibration.apply({"method": "platt", "a": -1.0, "b": 0.0}, 0.5)
    assert calibration.expected_calibration_error([1.0, 0.0], [1, 0]) == 0.0


def _stage_features(rng, n, shift=0.0, spread=1.0):
    """Two stages' channel statistics (means then standard deviations, non-negative like post-ReLU
    activations) of n images: a correlated training-like distribution, moved by `shift` and scaled by `spread`."""
    stages = {}
    for index, channels in ((5, 12), (6, 20)):
        mixing = np.random.default_rng(index).normal(size=(4, 2 * channels))
        latent = rng.normal(size=(n, 4)) @ mixing + 0.3 * rng.normal(size=(n, 2 * channels))
        stages[index] = np.abs(2.0 + shift + spread * 0.3 * latent)
    return {"pooled": rng.normal(size=(n, 8)), "stages": stages}


def test_domain_summary_flags_a_foreign_distribution_and_survives_json():
    rng = np.random.default_rng(0)
    summary = domain.summarise(_stage_features(rng, 400), _stage_features(rng, 200))
    assert summary["version"] == domain.VERSION and [s["index"] for s in summary["stages"]] == [5, 6]
    stored = json.loads(json.dumps(summary))  # as it lives in a weights file's metadata
    inside = _stage_features(rng, 400)
    assert np.array_equal(domain.check(stored, inside), domain.check(summary, inside))
    assert domain.check(stored, inside).mean() >= 0.93  # threshold at the 97.5th percentile of validation
    assert domain.check(stored, _stage_features(rng, 200, shift=1.0)).mean() <= 0.05  # other colours
    assert domain.check(stored, _stage_features(rng, 200, spread=3.0)).mean() <= 0.05  # other textures
    foreign = _stage_features(rng, 200)
    foreign["stages"][6] = foreign["stages"][6][:, ::-1].copy()  # same values, other channels, in one stage
    assert domain.check(stored, foreign).mean() <= 0.15
    with pytest.raises(ValueError):
        domain.check(stored, {"stages": {5: np.zeros((2, 3)), 6: np.zeros((2, 40))}})
    with pytest.raises(ValueError):
        domain.check({**stored, "version": 99}, inside)


def test_old_format_summary_still_works():
    """Weights written before version 2 carry a k-NN summary of pooled last-stage features, no "version"."""
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(300, 16))
    val = rng.normal(size=(100, 16))
    summary = {"k": 5, "percentile": 99.0, "duplicate_distance": 0.5, "embeddings": reference.round(3).tolist(),
               "threshold": float(np.percentile(domain.knn_score(reference, val), 99))}
    assert domain.check(summary, {"pooled": rng.normal(size=(200, 16))}).mean() >= 0.9
    assert domain.check(summary, {"pooled": 4 + rng.normal(size=(200, 16))}).mean() == 0.0
    with pytest.raises(ValueError):
        domain.check(summary, {"pooled": np.zeros((2, 8))})


def test_trained_model_carries_calibration_and_domain_and_uses_them(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    model = load_model(weights)
    meta = model.metadata
    assert meta["calibration"]["method"] == "platt" and meta["calibration"]["a"] >= 0
    assert 0 <= meta["calibration"]["test_ece"] <= 1 and meta["domain"]["version"] == domain.VERSION
    assert [s["index"] for s in meta["domain"]["stages"]] == [5, 6]  # resnet18: layer2 and layer3
    assert len(json.dumps(meta["domain"])) < 200_000
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["calibration"] == meta["calibration"] and sidecar["domain"] == meta["domain"]
    paths = sorted((shapes_dir / "red_circles").glob("*.png"))
    result = explain_pair(model, load_image(paths[0]), load_image(paths[1]))
    assert 0 <= result.probability_same <= 1 and result.in_domain is not None and len(result.in_domain) == 2
    # Higher similarity never means a lower probability.
    lo, hi = sorted([0.2, 0.9])
    from core.trust.checks import probability_same
    assert probability_same(model, lo) <= probability_same(model, hi)


def test_a_model_with_an_old_format_summary_still_checks_its_images(trained_shapes, shapes_dir, tmp_path):
    """A weights file written before version 2 (as the shipped airbnb model is): its k-NN summary
    of pooled features is read, no stage hooks are set, and the summary survives a save and load."""
    from core.data.datasets import load_cache, scan_dataset, split_by_image
    from core.evaluation.calibrate import embed_and_features
    from core.model.weights import save_model
    from core.trust.checks import in_domain, stage_probe

    _, weights = trained_shapes
    model = load_model(weights)
    dataset = scan_dataset(shapes_dir)
    splits = split_by_image(dataset, 0)
    train, val = (embed_and_features(model, load_cache(dataset.subset(splits[name]), 64), [])[1]["pooled"]
                  for name in ("train", "val"))
    old = {"k": 5, "percentile": 99.0, "duplicate_distance": 0.5, "embeddings": train.round(3).tolist(),
           "threshold": float(np.percentile(domain.knn_score(train, val), 99))}
    path = tmp_path / "old.pt"
    save_model(model, path, {"domain": old})
    model = load_model(path)
    assert model.metadata["domain"]["threshold"] == old["threshold"] and "version" not in model.metadata["domain"]
    with stage_probe(model) as stages:
        model.embed(model.preprocess(load_image(dataset.paths[splits["train"][0]]).image))
    assert stages == {}
    far = {"pooled": train[:4] + 10 * np.abs(train).max(), "stages": {}}
    assert in_domain(model, far) == (False,) * 4
    result = explain_pair(model, load_image(dataset.paths[splits["train"][0]]),
                          load_image(dataset.paths[splits["train"][1]]))
    assert result.in_domain == (True, True)  # training images: their own features are in the reference


def test_out_of_domain_images_are_flagged(trained_shapes, shapes_dir):
    """End to end through explain_pair: other colours and textures (colour gradients, checkerboards) are
    flagged, the shapes' own test images are not. (Noise is no foreign domain here: the shapes are drawn on it.)"""
    from core.data.datasets import scan_dataset, split_by_image

    _, weights = trained_shapes
    model = load_model(weights)
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 255, 72, dtype=np.float32)
    gradient = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (72, 1)).T, 255 - np.tile(ramp, (72, 1))],
                        axis=2).astype(np.uint8)
    rows, cols = np.mgrid[:72, :72]
    foreign = [np.roll(gradient, int(rng.integers(0, 72)), axis=int(rng.integers(0, 2))) for _ in range(8)]
    for side in range(3, 11):
        colours = rng.integers(0, 256, (2, 3))
        foreign.append(np.where(((rows // side + cols // side) % 2)[..., None] == 1, *colours).astype(np.uint8))
    images = [from_pil(Image.fromarray(array)) for array in foreign]
    flags = [not explain_pair(model, image, image).in_domain[0] for image in images]
    assert np.mean(flags) >= 0.9, flags
    dataset = scan_dataset(shapes_dir)
    test = split_by_image(dataset, 0)["test"]
    inside = [explain_pair(model, load_image(dataset.paths[i]), load_image(dataset.paths[i])).in_domain[0]
              for i in test]
    # A dozen test images against a threshold from a dozen validation images: one or two may lie beyond it.
    assert np.mean(inside) >= 0.8


def test_same_content_pair_has_no_maps_and_says_so(trained_shapes, shapes_dir):
    _, weights = trained_shapes
    model = load_model(weights)
    path = sorted((shapes_dir / "blue_squares").glob("*.png"))[0]
    original = load_image(path)
    upscaled = from_pil(original.image.resize((288, 288), Image.LANCZOS))  # same content, 4x the pixels
    result = explain_pair(model, original, upscaled)
    assert result.same_content and "same image content" in result.note
    assert all(m.max() == 0 for m in (*result.factual, *result.counterfactual))
    other = load_image(sorted((shapes_dir / "red_circles").glob("*.png"))[0])
    assert not explain_pair(model, original, other).same_content


def test_calibrate_command_rewrites_only_the_metadata(shapes_copy, shapes_dir, tmp_path):
    copy = shapes_copy
    before = load_model(copy)
    state_before = tensors_sha256({k: v.half() if v.is_floating_point() else v for k, v in before.state_dict().items()})
    done = subprocess.run([sys.executable, "main.py", "calibrate", str(copy), str(shapes_dir), "--json",
                           "--cache-dir", ""], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["weights"]["tensors_sha256"] == before.metadata["tensors_sha256"] == state_before
    after = load_model(copy)
    assert after.metadata["tensors_sha256"] == before.metadata["tensors_sha256"]
    assert "calibration" in after.metadata and "domain" in after.metadata
    assert 0 <= report["calibration"]["test_ece"] <= 1 and 0 <= report["domain"]["test_flagged"] <= 1
    # A data set of another shape is refused: it cannot be this model's split.
    other = tmp_path / "other"
    for name in ("a", "b"):
        (other / name).mkdir(parents=True)
        for n in range(3):
            Image.new("RGB", (20, 20), (n * 40, 0, 0)).save(other / name / f"{n}.png")
    refused = subprocess.run([sys.executable, "main.py", "calibrate", str(copy), str(other), "--cache-dir", ""],
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "not the data set" in refused.stderr


def test_stage_statistics_are_each_channels_mean_and_standard_deviation(tiny_model):
    import torch

    from core.trust.stage_stats import capture, stage_indices

    indices = stage_indices(tiny_model)
    outputs: dict = {}
    handles = [tiny_model.features[i].register_forward_hook(lambda _m, _i, out, i=i: outputs.__setitem__(i, out))
               for i in indices]
    torch.manual_seed(3)
    batch = torch.rand(2, 3, 64, 64) * 4
    try:
        with torch.no_grad(), capture(tiny_model, indices) as captured:
            tiny_model.features(batch)
    finally:
        for handle in handles:
            handle.remove()
    for i in indices:
        flat = outputs[i].double().flatten(2)
        expected = torch.cat([flat.mean(2), flat.std(2, correction=0)], dim=1).numpy()
        assert captured[i].dtype == np.float32 and captured[i].shape == expected.shape
        assert np.allclose(captured[i], expected, rtol=1e-5, atol=1e-6)


def test_stage_statistics_read_after_the_pass_equal_those_taken_in_it(tiny_model):
    """capture keeps each stage's output and computes its statistics when read: bit-identical to computing them
    inside the hook, each pass replacing the last; an output written to after the pass is refused, not misread."""
    from types import SimpleNamespace

    import pytest
    import torch

    from core.trust.stage_stats import capture, stage_indices, statistics

    indices = stage_indices(tiny_model)
    eager: dict = {}
    handles = [tiny_model.features[i].register_forward_hook(
        lambda _m, _i, out, i=i: eager.__setitem__(i, statistics(out))) for i in indices]
    torch.manual_seed(4)
    try:
        with torch.no_grad(), capture(tiny_model, indices) as captured:
            for scale in (1.0, 3.0):
                tiny_model.features(torch.rand(2, 3, 64, 64) * scale)
                assert sorted(captured) == sorted(indices)
                for i in indices:
                    assert np.array_equal(captured[i], eager[i])
    finally:
        for handle in handles:
            handle.remove()
    # A batch norm's output, rectified in place by the next module: its statistics can no longer be taken.
    written = SimpleNamespace(features=torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4).eval(),
                                                           torch.nn.ReLU(inplace=True)))
    with torch.no_grad(), capture(written, [1]) as captured:
        written.features(torch.randn(2, 3, 16, 16))
        with pytest.raises(RuntimeError, match="written to"):
            captured[1]
