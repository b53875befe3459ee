"""Test-time augmentation: exact inverses, an invariant score, equivariant maps, and its choice on validation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from core import explain_pair, load_image
from core.model.network import ModelConfig, SiameseModel
from core.model.tta import VIEWS, expand, merge_embeddings, merge_maps, view_count
from core.model.weights import load_model, save_model, validate_metadata


def tiny(tta: str) -> SiameseModel:
    torch.manual_seed(0)
    return SiameseModel(ModelConfig(input_size=64, tta=tta), metadata={"name": "tiny"}).eval().requires_grad_(False)


@pytest.mark.parametrize("mode", VIEWS)
def test_each_view_turns_back_exactly(mode):
    grid = torch.randn(3, 7, 7)  # a map grid: every view of it, turned back and summed, is V times the grid
    merged = merge_maps(expand(grid, mode), mode, 3)
    assert torch.allclose(merged, view_count(mode) * grid)
    assert expand(grid, mode).shape[0] == 3 * view_count(mode)


def test_views_are_distinct_and_the_identity_comes_first():
    grid = torch.arange(16.0).view(1, 4, 4)
    views = expand(grid, "dihedral")
    assert torch.equal(views[0], grid[0])
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8


def test_merged_embedding_is_unit_length():
    e = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
    merged = merge_embeddings(e, "dihedral", 2)
    assert merged.shape == (2, 8) and torch.allclose(merged.norm(dim=1), torch.ones(2))


def test_dihedral_score_is_invariant_to_rotation_and_maps_turn_with_the_image(image_pair):
    a, b = (load_image(p) for p in image_pair)
    rotated = Image.fromarray(np.rot90(np.asarray(a.image.resize((64, 64)))).copy())
    upright = a.image.resize((64, 64))
    model = tiny("dihedral")
    e = model.embed(torch.cat([model.preprocess(upright), model.preprocess(rotated)]))
    assert torch.allclose(e[0], e[1], atol=1e-5)  # the same set of views, in another order
    plain = tiny("none").embed(torch.cat([model.preprocess(upright), model.preprocess(rotated)]))
    assert not torch.allclose(plain[0], plain[1], atol=1e-3)  # the network alone is not invariant
    first, second = explain_pair(model, upright, b.image), explain_pair(model, rotated, b.image)
    assert abs(first.similarity - second.similarity) < 1e-5
    assert np.allclose(np.rot90(first.factual[0]), second.factual[0], atol=1e-4)
    assert np.allclose(first.factual[1], second.factual[1], atol=1e-4)


def test_tta_round_trips_through_the_weights_file_and_a_bad_mode_is_refused(tmp_path):
    save_model(tiny("hflip"), tmp_path / "m.pt", {"name": "m"})
    assert load_model(tmp_path / "m.pt").config.tta == "hflip"
    meta = json.dumps({"config": {"tta": "octagonal"}})
    with pytest.raises(ValueError, match="config.tta"):
        validate_metadata(meta)


def test_calibrate_chooses_tta_on_validation_and_refits(shapes_copy, shapes_dir, tmp_path):
    copy = shapes_copy
    before = load_model(copy)
    done = subprocess.run([sys.executable, "main.py", "calibrate", str(copy), str(shapes_dir), "--tta", "hflip",
                           "--json", "--cache-dir", ""], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["tta"]
    assert report["chosen"] == "hflip" and set(report["measured"]) == {"none", "hflip"}
    after = load_model(copy)
    assert after.config.tta == "hflip" and after.metadata["tta"]["chosen"] == "hflip"
    assert after.metadata["tensors_sha256"] == before.metadata["tensors_sha256"]
    assert after.metadata["test_metrics"]["auc"] == pytest.approx(report["test_auc"])
    auto = subprocess.run([sys.executable, "main.py", "calibrate", str(copy), str(shapes_dir), "--tta", "auto",
                           "--json", "--cache-dir", ""], capture_output=True, text=True, timeout=600)
    measured = json.loads(auto.stdout)["tta"]["measured"]
    assert set(measured) == set(VIEWS)
    best = max(measured, key=lambda m: measured[m]["val_auc"])
    gained = measured[best]["val_auc"] - measured["none"]["val_auc"] >= 0.005
    assert load_model(copy).config.tta == (best if gained else "none")
