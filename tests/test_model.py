import pytest
import torch
import torch.nn.functional as F

from core.model.network import ModelConfig, SiameseModel


def test_interface_shapes(tiny_model, image_pair):
    from core.io.images import load_image

    x = tiny_model.preprocess(load_image(image_pair[0]).image)
    assert x.shape == (1, 3, 64, 64)
    e = tiny_model.embed(torch.cat([x, x]))
    assert e.shape == (2, 128)
    assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
    assert tiny_model.target_layer is tiny_model.features[-1]


def test_score_is_symmetric_and_bounded(tiny_model):
    e = F.normalize(torch.randn(50, 128), dim=1)
    s12 = tiny_model.score(e[:25], e[25:])
    assert torch.equal(s12, tiny_model.score(e[25:], e[:25]))
    assert (s12 >= 0).all() and (s12 <= 1).all()
    assert torch.allclose(tiny_model.score(-e, e), torch.zeros(50), atol=1e-5)  # opposite embeddings


def test_distance_is_not_clipped_so_dissimilar_pairs_keep_gradients():
    """The paper's code clips d at 1: beyond that, gradients vanish and heatmaps turn NaN."""
    e1 = torch.tensor([[1.0, 0.0]], requires_grad=True)
    e2 = torch.tensor([[-0.6, 0.8]])  # distance 1.79
    score = 1.0 - 0.5 * SiameseModel.distance(e1, e2)  # SiameseModel.score without an instance
    score.sum().backward()
    assert SiameseModel.distance(e1, e2).item() > 1.5
    assert e1.grad.abs().sum() > 0.1


def test_other_backbones_build():
    model = SiameseModel(ModelConfig(architecture="mobilenet_v3_small", input_size=64)).eval()
    assert model.embed(torch.randn(2, 3, 64, 64)).shape == (2, 128)


def test_resnets_are_built_as_torchvision_builds_them():
    """The ResNets built without torchvision (core.model.resnet) have torchvision's names, seeded weights and
    outputs, so every weights file loads and scores as before."""
    import pytest
    import torchvision

    from core.model.network import build_backbone

    for architecture in ("resnet18", "resnet34", "resnet50"):
        torch.manual_seed(7)
        ours, channels = build_backbone(architecture)
        torch.manual_seed(7)
        theirs = getattr(torchvision.models, architecture)(weights=None)
        trunk = torch.nn.Sequential(theirs.conv1, theirs.bn1, theirs.relu, theirs.maxpool, theirs.layer1,
                                    theirs.layer2, theirs.layer3, theirs.layer4)
        assert channels == theirs.fc.in_features
        mine, reference = ours.state_dict(), trunk.state_dict()
        assert list(mine) == list(reference), architecture
        assert all(torch.equal(mine[key], reference[key]) for key in mine), architecture
        x = torch.randn(2, 3, 64, 64)
        assert torch.equal(ours.eval()(x), trunk.eval()(x)), architecture
    with pytest.raises(ValueError, match="unknown architecture"):
        build_backbone("resnet101")


def test_building_and_loading_a_resnet_model_imports_neither_torchvision_nor_dynamo(tmp_path):
    """torchvision's import (all its models and ops, and torch._dynamo) cost half of a cold `explain`; so does
    anything else that pulls torch._dynamo in (a model initialised on the meta device did)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from core.model.network import ModelConfig, SiameseModel; "
            "from core.model.weights import load_model, save_model; "
            "save_model(SiameseModel(ModelConfig(architecture='resnet18_s16', input_size=64)), sys.argv[1]); "
            "load_model(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith(('torchvision', 'torch._dynamo'))))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.pt")], capture_output=True, text=True,
                         check=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("correction", [0, 1])
def test_two_pass_std_equals_torch_std(correction):
    from core.model.moments import std

    values = torch.relu(torch.randn(2, 64, 300, generator=torch.Generator().manual_seed(3))) * 5 + 2
    before = values.clone()
    for dim in (1, 2):
        expected = values.std(dim=dim, correction=correction)
        assert torch.allclose(std(values, dim, correction), expected, rtol=1e-5)
    assert torch.equal(values, before)  # the in-place steps work on a copy, never on the caller's tensor
