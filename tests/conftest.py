"""Shared fixtures: tiny models and generated images/data sets, so unit tests never need the real weights."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The default worklist lives in the user's data folder: tests (and the apps they start) get a throw-away one.
os.environ["XDG_DATA_HOME"] = __import__("tempfile").mkdtemp(prefix="siamese-lens-test-data-")

import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

# The real PACS (Orthanc) of tests/pacs_server.py: one per test session, shared by every module that asks for it.
from tests.pacs_server import orthanc, pacs_login  # noqa: E402,F401

torch.set_num_threads(2)

SHAPE_CLASSES = {"red_circles": ((220, 40, 40), "ellipse"), "blue_squares": ((40, 60, 220), "rectangle"),
                 "green_triangles": ((40, 190, 60), "polygon")}


def draw_shape(kind: str, colour, rng: np.random.Generator, size: int = 72) -> Image.Image:
    """A coloured shape at a random place and size on a noisy grey background."""
    background = rng.integers(90, 150, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    extent = int(rng.integers(size // 3, size // 2 + 8))
    x, y = (int(v) for v in rng.integers(2, size - extent - 2, 2))
    jitter = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in colour)
    if kind == "ellipse":
        draw.ellipse([x, y, x + extent, y + extent], fill=jitter)
    elif kind == "rectangle":
        draw.rectangle([x, y, x + extent, y + extent], fill=jitter)
    else:
        draw.polygon([(x, y + extent), (x + extent, y + extent), (x + extent // 2, y)], fill=jitter)
    return image


def make_shapes_dataset(root, per_class: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    for name, (colour, kind) in SHAPE_CLASSES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            draw_shape(kind, colour, rng).save(root / name / f"{n:03d}.png")
    return root


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data")


def save_tiny_weights(path, seed: int = 0, input_size: int = 64, metadata: dict | None = None):
    """An untrained tiny model saved to `path` (seeded: the same seed, the same tensors and sha256), for what
    takes a weights file; another seed is another model."""
    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model

    torch.manual_seed(seed)
    save_model(SiameseModel(ModelConfig(input_size=input_size), metadata=metadata or {}).eval(), path)
    return path


@pytest.fixture(scope="session")
def tiny_model():
    from core.model.network import ModelConfig, SiameseModel

    torch.manual_seed(0)
    return SiameseModel(ModelConfig(input_size=64), metadata={"name": "tiny"}).eval().requires_grad_(False)


@pytest.fixture
def weights(tmp_path, tiny_model):
    """The tiny model as a weights file, for what takes a model's path (--model)."""
    from core.model.weights import save_model

    path = tmp_path / "tiny.pt"
    save_model(tiny_model, path, {"name": "tiny"})
    return path


@pytest.fixture(scope="session")
def trained_shapes(tmp_path_factory, shapes_dir):
    """A tiny model trained for a few epochs on the shapes: (TrainResult, path of its weights file)."""
    from core.training.train import TrainOptions, train

    out = tmp_path_factory.mktemp("trained") / "shapes.pt"
    options = TrainOptions(data_dir=str(shapes_dir), out=str(out), input_size=64, epochs=4, batch_size=32, lr=2e-3,
                           seed=0, device="cpu", cache_dir=str(out.parent / "cache"), augment="hflip")
    return train(options), out


@pytest.fixture
def shapes_copy(trained_shapes, tmp_path):
    """A copy of the trained shapes model's weights file (and its metadata sidecar) that a test may rewrite."""
    _, weights = trained_shapes
    copy = tmp_path / "copy.pt"
    shutil.copy(weights, copy)
    shutil.copy(weights.with_suffix(".json"), copy.with_suffix(".json"))
    return copy


@pytest.fixture
def image_pair(tmp_path):
    rng = np.random.default_rng(1)
    a = tmp_path / "a.png"
    b = tmp_path / "b.png"
    draw_shape("ellipse", (220, 40, 40), rng, size=96).save(a)
    draw_shape("rectangle", (40, 60, 220), rng, size=80).save(b)
    return a, b
