"""Correspondence links (core.explain.correspondence): the exact sum, pixel coordinates with crops, accuracy on mirror
and shifted copies with a tiny trained model, the CLI's JSON, and that nothing is computed unless asked."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from core.explain import correspondence as corr
from core.explain.pair import explain_pair, model_view
from core.io.images import load_image
from core.model.network import ModelConfig, SiameseModel
from core.model.weights import load_model, save_model
from main import main
from tests.conftest import SHAPE_CLASSES, draw_shape


def _shape(seed, size=96):
    colour, kind = SHAPE_CLASSES["red_circles"]
    return draw_shape(kind, colour, np.random.default_rng(seed), size=size)


def _analyse(model, a, b, k=10):
    return corr.analyse(model, [model_view(model, a), model_view(model, b)], k)


@pytest.mark.parametrize("tta", ["none", "dihedral"])
def test_contributions_sum_to_the_score_and_cells_to_the_embedding(tiny_model, tta):
    model = SiameseModel(ModelConfig(input_size=64, tta=tta)).eval().requires_grad_(False)
    model.load_state_dict(tiny_model.state_dict())
    a, b = _shape(1), _shape(2)
    result = _analyse(model, a, b)
    explained = explain_pair(model, a, b)
    assert result.similarity == pytest.approx(explained.similarity, abs=1e-5)
    # exact by construction (rescale rule): the localised and the bilinear matrix alike
    assert result.matrix.sum() + result.baseline == pytest.approx(result.similarity, abs=1e-12)
    assert result.bilinear.sum() + result.baseline == pytest.approx(result.similarity, abs=1e-12)
    assert result.matrix.shape == (result.grid[0] * result.grid[1],) * 2 and result.grid == (8, 8)
    # the cell terms really sum to each unit embedding: the cosine they give is the model's
    with torch.no_grad():
        batch = torch.cat([model.input_tensor(a), model.input_tensor(b)])
        terms = corr.cell_terms(model, model.features(tta_expand(model, batch)))
        embeddings = model.embed(batch)
    assert torch.allclose(terms.sum(dim=1).float(), embeddings, atol=1e-5)


def tta_expand(model, batch):
    from core.model import tta

    return tta.expand(batch, model.config.tta)


def test_a_head_that_is_not_relu_is_linearised_by_autograd(tiny_model):
    model = SiameseModel(ModelConfig(input_size=64)).eval().requires_grad_(False)
    model.load_state_dict(tiny_model.state_dict())
    model.head[2] = torch.nn.Tanh()
    result = _analyse(model, _shape(3), _shape(4))
    assert result.matrix.sum() + result.baseline == pytest.approx(result.similarity, abs=1e-12)
    with torch.no_grad():
        maps = model.features(torch.cat([model.input_tensor(_shape(3)), model.input_tensor(_shape(4))]))
        cells = maps.flatten(2).transpose(1, 2)
        relu_free = corr._head_linear_parts(model.head, cells)
        by_autograd = corr._jacobian_parts(model.head, cells)
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(relu_free, by_autograd, strict=True))


def test_links_are_in_original_pixels_with_user_and_automatic_crops(tiny_model, tmp_path):
    big = _shape(5, size=160)
    big.save(tmp_path / "big.png")
    _shape(6).save(tmp_path / "other.png")
    box = (30, 20, 100, 90)
    big.crop((box[0], box[1], box[0] + box[2], box[1] + box[3])).save(tmp_path / "cropped.png")
    with_crop = explain_pair(tiny_model, load_image(tmp_path / "big.png", crop=box), load_image(tmp_path / "other.png"),
                             correspondence=5).correspondence
    as_file = explain_pair(tiny_model, load_image(tmp_path / "cropped.png"), load_image(tmp_path / "other.png"),
                           correspondence=5).correspondence
    assert len(with_crop) == 5 and [l["p2"] for l in with_crop] == [l["p2"] for l in as_file]
    for cropped, whole in zip(as_file, with_crop, strict=True):
        assert whole["p1"] == pytest.approx([cropped["p1"][0] + box[0], cropped["p1"][1] + box[1]], abs=0.011)
    weights = [l["weight"] for l in with_crop]
    assert weights == sorted(weights, reverse=True)
    # an automatic lesion crop: every link lies inside the box the maps cover
    lesion = SiameseModel(ModelConfig(input_size=64, lesion_crop=True)).eval().requires_grad_(False)
    lesion.load_state_dict(tiny_model.state_dict())
    result = explain_pair(lesion, big, _shape(7, size=160), correspondence=8)
    for link in result.correspondence:
        for point, crop in zip((link["p1"], link["p2"]), result.crops, strict=True):
            x, y, w, h = crop if crop is not None else (0, 0, 160, 160)
            assert x - 0.5 <= point[0] <= x + w - 0.5 and y - 0.5 <= point[1] <= y + h - 0.5


def test_not_computed_unless_asked(tiny_model):
    a, b = _shape(8), _shape(9)
    assert explain_pair(tiny_model, a, b).correspondence is None
    assert explain_pair(tiny_model, a, a, correspondence=3).correspondence is not None  # same content too


def _hits(links, truth, size, tolerance=1 / 8):
    """Share of links whose p2 lies within tolerance x size of p1's true counterpart (inside the image)."""
    ok = [0 <= truth(l["p1"])[0] < size and 0 <= truth(l["p1"])[1] < size
          and np.hypot(l["p2"][0] - truth(l["p1"])[0], l["p2"][1] - truth(l["p1"])[1]) <= tolerance * size
          for l in links]
    return float(np.mean(ok))


def test_mirror_and_shifted_copies_link_the_true_counterparts(trained_shapes):
    _, weights = trained_shapes
    model = load_model(weights)  # trained with hflip: mirror tolerant
    assert corr.mirror_tolerant(model)
    mirror, shift = [], []
    for seed in range(4):
        image = _shape(20 + seed, size=64)
        links = explain_pair(model, image, ImageOps.mirror(image), correspondence=10).correspondence
        mirror.append(_hits(links, lambda p: (63 - p[0], p[1]), 64))
        moved = Image.new("RGB", image.size, (120, 120, 120))
        moved.paste(image, (8, -8))
        links = explain_pair(model, image, moved, correspondence=10).correspondence
        shift.append(_hits(links, lambda p: (p[0] + 8, p[1] - 8), 64))  # a counterpart off the image: a miss
    assert np.mean(mirror) >= 0.7 and np.mean(shift) >= 0.7, (mirror, shift)


def test_cli_json_lists_the_links(tmp_path, tiny_model, image_pair, capsys):
    path = tmp_path / "tiny.pt"
    save_model(tiny_model, path, {"name": "tiny"})
    args = ["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(path), "--crop1", "5,5,60,50", "--json"]
    assert main(args + ["--correspondence", "4"]) == 0
    links = json.loads(capsys.readouterr().out)["correspondence"]
    assert len(links) == 4 and set(links[0]) == {"p1", "p2", "weight"}
    assert all(5 <= l["p1"][0] <= 65 and 5 <= l["p1"][1] <= 55 for l in links)
    assert main(args) == 0
    assert "correspondence" not in json.loads(capsys.readouterr().out)
    assert main(args + ["--correspondence", "-1"]) == 2
    assert "--correspondence" in capsys.readouterr().err
