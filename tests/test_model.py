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
