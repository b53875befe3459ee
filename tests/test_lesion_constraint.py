"""The lesion constraint of training (`train --lesion-weight`): the mask travels with the augmented image, and the
penalty is the share of the first map's evidence (Grad-CAM, both signs) outside it, trainable."""

import numpy as np
import torch

from core.data.augment import AugmentSpec, augment_with_mask
from core.explain.methods import grad_cam
from core.model.network import ModelConfig, SiameseModel
from core.training.epoch import lesion_constraint


def _images_with_masks(n=6, size=40):
    """uint8 (n, 4, size, size): a bright disc on dark ground, its mask as the fourth channel."""
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, 4, size, size), np.uint8)
    rng = np.random.default_rng(0)
    for k in range(n):
        cy, cx = rng.integers(12, size - 12, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 8 ** 2
        out[k, :3] = np.where(disc, 230, 20)
        out[k, 3] = disc * 255
    return torch.from_numpy(out)


def test_the_mask_moves_with_the_image_and_is_none_without_one():
    images = _images_with_masks()
    spec = AugmentSpec(hflip=True, vflip=True, rotate_degrees=20.0, crop_scale=(0.6, 1.0), jitter=0.0)
    x, mask = augment_with_mask(images, 32, spec, torch.Generator().manual_seed(1))
    assert mask is not None and mask.shape == (6, 1, 32, 32)
    bright, inside = x.mean(dim=1) > 0.5, mask[:, 0] > 0.5
    assert inside.any(dim=(1, 2)).all()
    assert (bright == inside).float().mean() > 0.97  # the disc and its mask still coincide after the transform
    plain, none = augment_with_mask(images[:, :3], 32, spec, torch.Generator().manual_seed(1))
    assert none is None and torch.equal(plain, x)


def _setup():
    torch.manual_seed(0)
    model = SiameseModel(ModelConfig(input_size=64)).train()
    x = torch.rand(4, 3, 64, 64)  # a 2 x 2 last stage
    pairs = np.array([[0, 1, 1], [1, 0, 1], [2, 3, 1], [3, 0, 0]])
    return model, x, pairs


def _penalty(model, x, pairs, mask):
    maps = model.features(x)
    local = model.embed_from_features(maps)
    return lesion_constraint(model, maps, local, local, pairs, mask, slice(0, len(x)), 1), maps, local


def test_the_penalty_is_the_share_of_the_first_map_outside_the_mask():
    model, x, pairs = _setup()
    mask = torch.zeros(4, 1, 64, 64)
    mask[:, :, :32] = 1.0  # the upper half is "lesion"
    value, maps, local = _penalty(model, x, pairs, mask)
    expected = []
    for a, p in pairs[:, :2]:  # every pair's first image
        g = torch.autograd.grad(model.score(local[a:a + 1], local[p:p + 1].detach()).sum(), maps,
                                retain_graph=True)[0][a:a + 1]
        cam = grad_cam(maps[a:a + 1], g).abs()[0].detach()
        inside = torch.nn.functional.adaptive_avg_pool2d(mask[a], cam.shape)[0]
        expected.append(float((cam * (1 - inside)).sum() / (cam.sum() + 1e-8)))
    share = float(value.detach())
    assert 0.0 <= share <= 1.0
    assert abs(share - np.mean(expected)) < 1e-5
    value.backward()
    first_conv = next(model.features.parameters())  # the penalty trains the features, not only the head
    assert first_conv.grad is not None and float(first_conv.grad.abs().sum()) > 0


def test_no_mask_found_gives_no_penalty():
    model, x, pairs = _setup()
    for mask in (torch.ones(4, 1, 64, 64), torch.zeros(4, 1, 64, 64)):  # the whole view, or nothing
        value, _maps, _local = _penalty(model, x, pairs, mask)
        assert float(value.detach()) == 0.0


def test_training_on_the_penalty_moves_the_map_onto_the_lesion():
    model, x, pairs = _setup()
    mask = torch.zeros(4, 1, 64, 64)
    mask[:, :, :32, :32] = 1.0  # one cell of four
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = float(_penalty(model, x, pairs, mask)[0].detach())
    for _ in range(15):
        value = _penalty(model, x, pairs, mask)[0]
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert float(_penalty(model, x, pairs, mask)[0].detach()) < 0.7 * first
