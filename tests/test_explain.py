import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.paper_recipe import paper_recipe_cams
from core.explain.pair import explain_pair, normalise, similarity_attention, upsample
from core.io.images import from_pil, load_image
from core.model.weights import load_model
from core.vocabulary import METHODS


@pytest.fixture
def pair(image_pair):
    return load_image(image_pair[0]), load_image(image_pair[1])


def batch_of(model, a, b):
    return torch.cat([model.preprocess(a.image), model.preprocess(b.image)])


@pytest.mark.parametrize("method", METHODS)
def test_maps_are_float32_in_unit_range_at_image_resolution(tiny_model, pair, method):
    result = explain_pair(tiny_model, *pair, method=method)
    for index, image in enumerate(pair):
        for heatmap in (result.factual[index], result.counterfactual[index]):
            assert heatmap.dtype == np.float32
            assert heatmap.shape == (image.size[1], image.size[0])
            assert np.isfinite(heatmap).all() and heatmap.min() >= 0 and heatmap.max() <= 1
    assert result.decision in ("similar", "different") and 0 <= result.similarity <= 1


def test_each_image_uses_its_own_gradients(tiny_model, pair):
    """Matches a full-backprop computation per image; would fail if image 2 reused image 1's gradients."""
    result = explain_pair(tiny_model, *pair, method="reference")
    paper = paper_recipe_cams(tiny_model, batch_of(tiny_model, *pair))
    for index in (0, 1):
        # Grad-CAM of d = 2 (1 - s): -2x the signed Grad-CAM of s
        np.testing.assert_allclose(-2.0 * result.signed_cams[index], paper["factual"][index], rtol=1e-3, atol=1e-6)
    assert not np.allclose(paper["factual"][0], paper["factual"][1])


def test_swapping_the_images_swaps_the_maps(tiny_model, pair):
    forward = explain_pair(tiny_model, pair[0], pair[1])
    backward = explain_pair(tiny_model, pair[1], pair[0])
    assert forward.similarity == pytest.approx(backward.similarity, abs=1e-6)
    for kind in ("factual", "counterfactual"):
        np.testing.assert_allclose(getattr(forward, kind)[0], getattr(backward, kind)[1], atol=1e-5)
        np.testing.assert_allclose(getattr(forward, kind)[1], getattr(backward, kind)[0], atol=1e-5)


def test_reference_maps_equal_the_paper_recipe_maps(tiny_model, pair):
    result = explain_pair(tiny_model, *pair, method="reference")
    paper = paper_recipe_cams(tiny_model, batch_of(tiny_model, *pair))
    for index, image in enumerate(pair):
        for kind in ("factual", "counterfactual"):
            expected = upsample(normalise(np.maximum(paper[kind][index], 0)), image.size)
            np.testing.assert_allclose(getattr(result, kind)[index], expected, atol=1e-3)


def test_factual_and_counterfactual_are_complementary(tiny_model, pair):
    # Images as small as the 2x2 feature map, so upsampling is the identity and supports compare exactly.
    small = [from_pil(p.image.resize((2, 2))) for p in pair]
    result = explain_pair(tiny_model, *small)
    signed = np.concatenate([c.ravel() for c in result.signed_cams])
    factual = np.concatenate([f.ravel() for f in result.factual])
    counter = np.concatenate([c.ravel() for c in result.counterfactual])
    assert (factual * counter == 0).all()  # never both at one place
    assert ((factual > 0) | (counter > 0))[signed != 0].all()  # every piece of evidence is in one of them


def test_flipping_the_decision_swaps_factual_and_counterfactual(tiny_model, pair):
    original = tiny_model.config.threshold
    try:
        tiny_model.config.threshold = 0.0
        similar = explain_pair(tiny_model, *pair)
        tiny_model.config.threshold = 1.01
        different = explain_pair(tiny_model, *pair)
    finally:
        tiny_model.config.threshold = original
    assert (similar.decision, different.decision) == ("similar", "different")
    for index in (0, 1):
        np.testing.assert_array_equal(similar.factual[index], different.counterfactual[index])


@pytest.mark.parametrize("method", METHODS)
def test_very_dissimilar_pair_gets_finite_non_empty_maps(trained_shapes, method, tmp_path):
    from tests.conftest import SHAPE_CLASSES, draw_shape

    _, weights = trained_shapes
    model = load_model(weights)
    rng = np.random.default_rng(5)
    red = from_pil(draw_shape("ellipse", SHAPE_CLASSES["red_circles"][0], rng))
    blue = from_pil(draw_shape("rectangle", SHAPE_CLASSES["blue_squares"][0], rng))
    result = explain_pair(model, red, blue, method=method)
    assert result.distance > 1.0  # beyond the paper's clip, where its gradients were zero
    for heatmap in (*result.factual, *result.counterfactual):
        assert np.isfinite(heatmap).all()
    assert all(m.max() > 0 for m in result.factual) or all(m.max() > 0 for m in result.counterfactual)
    assert max(m.max() for m in (*result.factual, *result.counterfactual)) == pytest.approx(1.0, abs=0.05)


def test_crop_changes_what_the_model_sees(tiny_model, image_pair):
    whole = explain_pair(tiny_model, load_image(image_pair[0]), load_image(image_pair[1]))
    cropped_image = load_image(image_pair[0], crop=(10, 20, 40, 30))
    cropped = explain_pair(tiny_model, cropped_image, load_image(image_pair[1]))
    assert cropped.similarity != pytest.approx(whole.similarity, abs=1e-6)
    assert cropped.factual[0].shape == (30, 40)


def test_gradients_stop_at_the_target_layer(tiny_model, pair):
    calls = []
    handle = tiny_model.features[0].register_full_backward_hook(lambda *a: calls.append(1))
    try:
        explain_pair(tiny_model, *pair)
    finally:
        handle.remove()
    assert calls == []
    assert all(p.grad is None for p in tiny_model.parameters())


def test_identical_images_give_finite_maps_and_say_why(tiny_model, pair):
    result = explain_pair(tiny_model, pair[0], pair[0])
    assert result.similarity == pytest.approx(1.0, abs=1e-4)
    assert all(np.isfinite(m).all() for m in (*result.factual, *result.counterfactual))


def test_attention_works_for_any_embedding_network(pair):
    from torch import nn
    from torchvision.models import resnet18

    net = resnet18(weights=None).eval()
    embedder = nn.Sequential(*list(net.children())[:-1], nn.Flatten())
    x = torch.stack([torch.from_numpy(np.asarray(p.image.resize((64, 64)), dtype=np.float32) / 255).permute(2, 0, 1)
                     for p in pair])
    cams = similarity_attention(embedder, net.layer4, x)
    assert cams.shape == (2, 2, 2) and np.isfinite(cams).all() and np.abs(cams).max() > 0


def test_rejects_unknown_method_and_bad_inputs(tiny_model, pair):
    with pytest.raises(ValueError, match="unknown method"):
        explain_pair(tiny_model, *pair, method="lime")
    with pytest.raises(TypeError):
        explain_pair(tiny_model, "a.png", pair[1])
    assert isinstance(pair[0].image, Image.Image)


def test_maps_of_a_large_image_are_kept_at_the_capped_size_and_drawn_at_the_image_size(tiny_model, monkeypatch):
    from core.explain import pair as explain
    from core.explain.facts import explanation_facts
    from core.explain.overlay import blend

    monkeypatch.setattr(explain, "MAX_MAP_SIDE", 50)  # the real cap (2048) works alike on 8000 px images
    wide = from_pil(Image.new("RGB", (200, 80), (120, 60, 40)))
    small = from_pil(Image.new("RGB", (40, 30), (20, 60, 140)))
    result = explain_pair(tiny_model, wide, small)
    assert result.factual[0].shape == result.counterfactual[0].shape == (20, 50)  # longest side 50, aspect kept
    assert result.factual[1].shape == (30, 40)  # a smaller image keeps its own size
    assert explain.map_size((200, 80)) == (50, 20)
    facts = explanation_facts(result, (wide, small), tiny_model)
    assert facts["images"][0]["map_size"] == [50, 20] and facts["images"][0]["size"] == [200, 80]
    drawn = blend(np.asarray(wide.image), result.factual[0])  # overlays resize the map to the image
    assert drawn.shape == (80, 200, 3)


def test_normalise_in_place_scales_the_callers_array_and_otherwise_leaves_it_alone():
    cam = np.array([[0.0, 2.0], [1.0, 4.0]], np.float32)
    copied = normalise(cam)
    assert copied is not cam and cam.max() == 4.0  # the default never touches its input
    scaled = normalise(cam, in_place=True)
    assert scaled is cam and np.array_equal(scaled, copied) and scaled.dtype == np.float32
    empty = np.zeros((2, 2), np.float32)
    assert not normalise(empty, in_place=True).any()
    wide = np.array([1.0, 2.0])  # not float32: a float32 copy, whatever in_place says
    assert normalise(wide, in_place=True).dtype == np.float32 and wide[1] == 2.0


@pytest.mark.parametrize("tta", ["none", "hflip"])
def test_first_pass_is_the_score_and_its_gradient_at_the_target_layer(tta):
    """first_pass runs the backbone without a graph: its score and gradients must be those of the whole model's
    score w.r.t. the target layer's output, test-time views included, and no parameter may get a gradient."""
    from core.explain.pair import first_pass, target_layer_leaf
    from core.model.network import ModelConfig, SiameseModel

    torch.manual_seed(1)
    model = SiameseModel(ModelConfig(input_size=64, tta=tta)).eval()  # parameters left trainable, as loaded
    batch = torch.randn(2, 3, 64, 64)
    passed = first_pass(model, batch, early=True)
    with target_layer_leaf(model, model.target_layer) as captured:
        embeddings = model.embed(batch)
        score = model.score(embeddings[0:1], embeddings[1:2])[0]
        expected = torch.autograd.grad(score, captured["output"])[0]
    assert passed.similarity == pytest.approx(float(score.detach()), abs=1e-6)
    assert torch.allclose(passed.activations, captured["output"].detach(), atol=1e-6)
    assert torch.allclose(passed.grads, expected, atol=1e-7, rtol=1e-5) and expected.abs().max() > 0
    assert passed.early is not None and passed.early.shape[0] == passed.activations.shape[0]
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("seed", range(3))
def test_the_closed_form_gradient_is_autograds_bit_for_bit(seed):
    """SiameseModel.pair_gradient (first_pass's gradient through the head) repeats autograd's backward formulas in
    their order: score, distance and gradient equal those of a backward pass through embed_maps exactly, for the
    same pair of maps, an identical pair included; with test-time views it leaves the gradient to autograd."""
    from core.model.network import ModelConfig, SiameseModel
    from core.model.similarity import similarity_from_distance

    torch.manual_seed(seed)
    model = SiameseModel(ModelConfig(input_size=64)).eval()
    with torch.no_grad():
        maps = model.feature_maps(torch.randn(2, 3, 64, 64) * (1 + seed))
    for pair in (maps, maps[:1].expand(2, -1, -1, -1).clone()):
        similarity, distance, grads = model.pair_gradient(pair)
        leaf = pair.clone().requires_grad_(True)
        embeddings = model.embed_maps(leaf, 2)
        expected_distance = model.distance(embeddings[0:1], embeddings[1:2])[0]
        expected_similarity = similarity_from_distance(expected_distance)
        expected = torch.autograd.grad(expected_similarity, leaf)[0]
        assert similarity == float(expected_similarity.detach()) and distance == float(expected_distance.detach())
        assert grads.shape == pair.shape and torch.equal(grads, expected)
    assert torch.count_nonzero(grads) == 0  # the identical pair: no direction moves the score
    flipped = SiameseModel(ModelConfig(input_size=64, tta="hflip")).eval()
    assert flipped.pair_gradient(maps) is None
