"""The whole-image view of the out-of-domain check (core.trust.field_of_view, core.trust.domain version 3,
core.trust.domain_view): what the lesion crop hides is judged too, an image is outside when either view flags it,
and version-2 summaries keep working."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.explain.pair import explain_pair
from core.io.images import from_pil, load_image
from core.model.weights import load_model, save_model
from core.trust import domain, field_of_view


def _features(rng, n, dim=48, shift=0.0):
    """Correlated, training-like statistics of n images (one stage of 20 and a whole view of `dim`)."""
    def block(size, seed):
        mixing = np.random.default_rng(seed).normal(size=(4, size))
        return np.abs(2.0 + 0.3 * (rng.normal(size=(n, 4)) @ mixing + 0.3 * rng.normal(size=(n, size))))
    return {"pooled": rng.normal(size=(n, 8)), "stages": {5: block(20, 5)}, "whole": block(dim, 9) + shift}


VIEW = {"index": 3, "size": 64, "grid": 4}


def test_either_view_flags_and_the_summary_survives_json():
    rng = np.random.default_rng(0)
    summary = domain.summarise(_features(rng, 400), _features(rng, 200), whole_view=VIEW)
    assert summary["version"] == 3 and {k: summary["whole"][k] for k in VIEW} == VIEW
    stored = json.loads(json.dumps(summary))
    inside = _features(rng, 400)
    assert np.array_equal(domain.check(stored, inside), domain.check(summary, inside))
    assert domain.check(stored, inside).mean() >= 0.93
    assert domain.check(stored, _features(rng, 200, shift=1.0)).mean() <= 0.05  # only the whole view is foreign
    crop_foreign = _features(rng, 200)
    crop_foreign["stages"][5] = crop_foreign["stages"][5] + 1.0  # only the crop is foreign
    assert domain.check(stored, crop_foreign).mean() <= 0.05
    with pytest.raises(ValueError):  # the summary compares the whole image: its features must come with it
        domain.check(stored, {**inside, "whole": None})
    with pytest.raises(ValueError):
        domain.check(stored, {**inside, "whole": np.zeros((2, 7))})


def test_int8_directions_score_like_the_exact_ones():
    rng = np.random.default_rng(1)
    x = _features(rng, 500)["whole"]
    stage = domain.fit_stage(x)
    assert stage["directions_dtype"] == "i1"
    mean, directions, variances, residual = domain.decode_stage(stage)
    exact = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    queries = _features(rng, 50)["whole"].astype(np.float32)
    rough = domain.stage_score((mean, directions, variances, residual), queries)
    precise = domain.stage_score((mean, exact, variances, residual), queries)
    assert np.allclose(rough, precise, rtol=0.02)


def _as_version_2(summary: dict) -> dict:
    """The summary as version 2 wrote it: float16 directions, no whole view."""
    old = {k: v for k, v in summary.items() if k not in ("whole", "union_percentile")}
    old["version"] = 2
    old["stages"] = []
    for stage in summary["stages"]:
        directions = domain.decode_stage(stage)[1]
        stage = {k: v for k, v in stage.items() if k not in ("directions_dtype", "direction_scales")}
        stage["directions"] = domain.encode(directions, "<f2")
        old["stages"].append(stage)
    return old


def test_version_2_summaries_still_check_and_need_no_whole_view():
    rng = np.random.default_rng(2)
    old = json.loads(json.dumps(_as_version_2(domain.summarise(_features(rng, 400), _features(rng, 200)))))
    inside = _features(rng, 300)
    assert domain.check(old, {**inside, "whole": None}).mean() >= 0.9
    far = _features(rng, 50)
    far["stages"][5] = far["stages"][5] + 1.0
    assert domain.check(old, far).mean() <= 0.05


def test_a_cropping_model_fits_the_whole_view_and_explain_pair_uses_it(trained_shapes, shapes_dir, tmp_path):
    """fit_trust stores the whole view for a model with the lesion crop; a summary whose whole view rejects
    everything makes explain_pair report both images outside even though the crop check passes them; a malformed
    whole view gives "cannot tell"; a version-2 summary of the same model still gives an answer and computes no
    whole view."""
    from core.data.datasets import scan_dataset, split_by_image
    from core.evaluation.calibrate import fit_trust

    _, weights = trained_shapes
    model = load_model(weights)
    assert "whole" not in model.metadata["domain"]  # no lesion crop: the crop check sees the whole image
    dataset = scan_dataset(shapes_dir)
    model.config.lesion_crop = True  # as a skin model: the crop check sees only the (automatic) crop
    summary = fit_trust(model, dataset, split_by_image(dataset, 0))[0]["domain"]
    model.metadata["domain"] = summary
    assert summary["version"] == 3 and summary["whole"]["index"] == 3  # resnet18: the max-pool, stride 4
    assert summary["whole"]["dim"] == 64 * field_of_view.GRID ** 2 and len(json.dumps(summary)) < 200_000
    first, second = (load_image(dataset.paths[i]) for i in split_by_image(dataset, 0)["train"][:2])
    assert explain_pair(model, first, second).in_domain == (True, True)  # training images

    strict = json.loads(json.dumps(summary))
    strict["whole"]["scale"] = summary["whole"]["scale"] * 1e-6  # the whole view now flags every image
    path = tmp_path / "strict.pt"
    save_model(model, path, {"domain": strict})
    assert explain_pair(load_model(path), first, second).in_domain == (False, False)

    for broken in ({"index": 99}, {"size": 10 ** 6}, {"grid": "x"}, {"grid": 0}):  # malformed: cannot tell
        model.metadata["domain"] = {**summary, "whole": {**summary["whole"], **broken}}
        assert field_of_view.for_model(model, [first.image]) is None
        assert explain_pair(model, first, second).in_domain is None

    path = tmp_path / "v2.pt"
    save_model(model, path, {"domain": _as_version_2(summary)})
    old = load_model(path)
    assert field_of_view.for_model(old, [first.image]) is None
    assert explain_pair(old, first, second).in_domain == (True, True)


def test_the_whole_view_alone_tells_foreign_images(trained_shapes, shapes_dir):
    """Fitted on the shapes' whole views only: checkerboards and colour ramps are flagged, test shapes pass."""
    from core.data.datasets import scan_dataset, split_by_image

    _, weights = trained_shapes
    model = load_model(weights)
    dataset = scan_dataset(shapes_dir)
    splits = split_by_image(dataset, 0)
    index = field_of_view.stage_index(model)

    def whole(name):
        return {"pooled": np.zeros((1, 1)), "stages": {},
                "whole": field_of_view.dataset_features(model, dataset.subset(splits[name]), index)}

    summary = domain.summarise(whole("train"), whole("val"), whole_view={"index": index, "size": 64, "grid": 4})
    rng = np.random.default_rng(4)
    rows, cols = np.mgrid[:96, :96]
    foreign = [Image.fromarray(np.where(((rows // side + cols // side) % 2)[..., None] == 1,
                                        *rng.integers(0, 256, (2, 3))).astype(np.uint8)) for side in range(3, 13)]
    ramp = np.linspace(0, 255, 96)
    foreign += [Image.fromarray(np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (96, 1)).T,
                                          np.full((96, 96), float(c))], axis=2).astype(np.uint8))
                for c in (0, 128, 255)]
    model.metadata["domain"] = summary
    flagged = ~domain.check(summary, {"whole": field_of_view.for_model(model, foreign)})
    assert flagged.mean() >= 0.9
    test = [load_image(dataset.paths[i]).image for i in splits["test"]]
    assert domain.check(summary, {"whole": field_of_view.for_model(model, test)}).mean() >= 0.75


def test_a_users_crop_is_judged_by_its_whole_image():
    image = Image.new("RGB", (400, 300), (10, 200, 30))
    cropped = from_pil(image, crop=(100, 100, 50, 50))
    assert cropped.overview is not None and field_of_view.uncropped(cropped) is cropped.overview
    plain = from_pil(image)
    assert field_of_view.uncropped(plain) is plain.image and field_of_view.uncropped(image) is image


def test_decoded_arrays_are_shared_read_only_and_follow_an_edited_summary():
    first, second = np.arange(6, dtype=np.float32), np.arange(6, dtype=np.float32)[::-1].copy()
    chunks = domain.encode(first, "<f4")
    decoded = domain.decode(chunks, (2, 3), "<f4")
    assert np.array_equal(decoded.ravel(), first) and not decoded.flags.writeable
    assert domain.decode(list(chunks), (2, 3), "<f4") is decoded  # decoded once, whichever list holds the text
    assert np.array_equal(domain.decode(domain.encode(second, "<f4"), (2, 3), "<f4").ravel(), second)
    with pytest.raises(ValueError):
        domain.decode(chunks, (4, 2), "<f4")
