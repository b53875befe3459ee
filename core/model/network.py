"""The Siamese network: one shared torchvision backbone, a projection head, a distance and a similarity score."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core.errors import ImageLoadError, InputError
from core.io.images import LoadedImage
from core.model import resnet, tta
from core.model.explainer_head import EARLY_STAGE, ExplainerHead, early_channels
from core.model.preprocess import lesion_view, square_input
from core.model.similarity import SLOPE, similarity_from_distance
from core.vocabulary import TRAINING_DEFAULTS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Keeps d differentiable at e1 == e2 (sqrt'(0) is infinite) without clipping it anywhere.
DISTANCE_EPS = 1e-12
NORMALIZE_EPS = 1e-12  # F.normalize's default eps, for SiameseModel.pair_gradient


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network; stored as JSON inside every weights file."""

    architecture: str = TRAINING_DEFAULTS["architecture"]
    input_size: int = TRAINING_DEFAULTS["input_size"]
    embedding_dim: int = TRAINING_DEFAULTS["embedding_dim"]
    hidden_dim: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    threshold: float = 0.5
    margin: float = TRAINING_DEFAULTS["margin"]
    # Skin models: crop every image to its automatic lesion box (plus this margin) unless the user drew one,
    # and remove acquisition colour casts with Shades of Gray, in training and at inference alike.
    lesion_crop: bool = False
    crop_margin: float = TRAINING_DEFAULTS["crop_margin"]
    color_constancy: bool = False
    # Test-time augmentation (core.model.tta): the embedding averaged over these views; chosen on validation.
    tta: str = "none"
    # The amortised explainer's width (core.model.explainer_head; 0: the model has none, its first map is
    # Grad-CAM's). Set only by `main.py explainer`, which trains the head for these very weights: a retrained model
    # starts without one, since a head predicts one backbone's maps.
    explainer_width: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)

    def to_dict(self) -> dict:
        return asdict(self)


def build_backbone(architecture: str) -> tuple[nn.Sequential, int]:
    """Return (convolutional trunk whose last module is the explanation target, its channel count)."""
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise InputError(f"unknown architecture {architecture!r}; choose one of {', '.join(SUPPORTED_ARCHITECTURES)}")
    base = architecture.removesuffix(STRIDE16_SUFFIX)
    net: Any  # a ResNet built here or any torchvision classifier
    if base in resnet.DEPTHS:  # torchvision's import costs seconds of every start: ResNets are built here
        net = resnet.ResNet(base)
    else:
        from torchvision import models

        net = getattr(models, base)(weights=None)
    if architecture.endswith(STRIDE16_SUFFIX):
        # The last stage keeps stride 16 (no dilation: BasicBlock has none), so a 112 px input gives a 7x7
        # map instead of 4x4, for finer explanations at a fraction of the cost of a 224 px input.
        net.layer4[0].conv1.stride = (1, 1)
        net.layer4[0].downsample[0].stride = (1, 1)
    if architecture.startswith("resnet"):
        trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
        return trunk, net.fc.in_features
    # mobilenet / efficientnet: `features` ends with the last conv block
    channels = net.features[-1].out_channels if hasattr(net.features[-1], "out_channels") else None
    if channels is None:
        with torch.no_grad():
            channels = net.features(torch.zeros(1, 3, 64, 64)).shape[1]
    return net.features, channels


STRIDE16_SUFFIX = "_s16"
SUPPORTED_ARCHITECTURES = ("resnet18", "resnet18_s16", "resnet34", "resnet50", "mobilenet_v3_small",
                           "mobilenet_v3_large", "efficientnet_b0")


class SiameseModel(nn.Module):
    """Embeds images with one shared backbone; similarity s = 1 - d/2 with d the distance of unit embeddings.

    Unit-length embeddings bound d to [0, 2], so s lies in [0, 1] with a constant gradient ds/dd = -1/2:
    no clipping, so even the most dissimilar pair keeps informative gradients.
    """

    def __init__(self, config: ModelConfig | None = None, metadata: dict | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        self.metadata = metadata or {}
        self.features, channels = build_backbone(self.config.architecture)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels, self.config.hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(self.config.hidden_dim, self.config.embedding_dim),
        )
        self.explainer: ExplainerHead | None = None
        if self.config.explainer_width:
            if not self.config.architecture.startswith("resnet"):
                raise InputError(f"an amortised explainer needs a ResNet, not {self.config.architecture!r}")
            self.explainer = ExplainerHead(channels, early_channels(self.features), self.config.explainer_width)

    # --- the public model interface -------------------------------------------------------------
    @property
    def target_layer(self) -> nn.Module:
        """The module whose output feature maps the explanations use (the last convolutional block)."""
        return self.features[-1]

    @property
    def early_stage(self) -> nn.Module:
        """The module whose output the amortised explainer reads besides the target layer's."""
        return self.features[EARLY_STAGE]

    @property
    def threshold(self) -> float:
        return float(self.config.threshold)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", self.config.architecture))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def preprocess(self, image) -> torch.Tensor:
        """A LoadedImage (from load_image) or PIL image -> normalised (1, 3, S, S) tensor on the model's device:
        the model's whole preprocessing, its automatic lesion crop included unless the LoadedImage has a crop of
        its own, exactly as explain and evaluate apply it."""
        return self.input_tensor(self.view(image)[0])

    def view(self, image) -> tuple[Image.Image, tuple[int, int, int, int] | None]:
        """(the image the model sees, its crop box in original pixels) of a LoadedImage or PIL image: a crop the
        user chose wins over the automatic lesion crop. Anything else is a TypeError naming what it got."""
        if isinstance(image, LoadedImage):
            if image.crop is not None:
                return image.image, image.crop
            image = image.image
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected a LoadedImage (from load_image) or a PIL image, got {type(image).__name__}")
        if not image.width or not image.height:
            raise ImageLoadError("<image>: image has zero size")
        return self.auto_crop(image)

    def auto_crop(self, image: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int] | None]:
        """(the image cropped to its automatic lesion box, the box) for a model that expects lesion-cropped
        input; (the image, None) otherwise."""
        if not self.config.lesion_crop:
            return image, None
        cropped, box, _mask = lesion_view(image, self.config.crop_margin)
        return cropped, box

    def input_image(self, image: Image.Image) -> Image.Image:
        """An (already cropped) image as the network sees it, before normalisation."""
        return square_input(image, self.config.input_size, self.config.color_constancy)

    def input_tensor(self, image: Image.Image) -> torch.Tensor:
        arr = np.asarray(self.input_image(image), dtype=np.float32) / 255.0
        tensor = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
        return self.normalise(tensor.to(self.device))

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """Float batch in [0, 1] -> normalised with the model's mean and std."""
        mean = torch.tensor(self.config.mean, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.config.std, device=batch.device).view(1, 3, 1, 1)
        return (batch - mean) / std

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> unit-length embeddings (N, D), averaged over the model's test-time views (if any)."""
        return self.embed_maps(self.feature_maps(batch), len(batch))

    def feature_maps(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> the target layer's maps of each test-time view (V*N, C, h, w), tta.expand's rows."""
        return self.features(tta.expand(batch, self.config.tta))

    def embed_maps(self, feature_maps: torch.Tensor, count: int) -> torch.Tensor:
        """feature_maps' output for `count` images -> their embeddings (count, D): embed's second half, so that
        an explanation can start its autograd graph at the target layer (core.explain.pair.first_pass)."""
        return tta.merge_embeddings(self.embed_from_features(feature_maps), self.config.tta, count)

    def embed_from_features(self, feature_maps: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.pool(feature_maps)), dim=1)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.embed(batch)

    def pair_gradient(self, feature_maps: torch.Tensor) -> tuple[float, float, torch.Tensor] | None:
        """(similarity, distance, d similarity / d feature_maps) of a pair's target-layer maps (2, C, h, w), the
        gradient in closed form: the average pool, the two-layer head, the normalisation and the distance are
        differentiated by hand, not by autograd, whose engine costs a pair ~1 ms on one core for ~20 tiny nodes.
        Each step is autograd's own backward formula in its order, so the gradient is bit-identical to autograd's
        (tests/test_explain.py), as is the score (embed_maps' ops). None with test-time views (their merge is left
        to autograd)."""
        if self.config.tta != "none" or len(feature_maps) != 2:
            return None
        first, relu, second = self.head[1], self.head[2], self.head[3]
        with torch.no_grad():
            pooled = self.head[0](self.pool(feature_maps))
            hidden = first(pooled)
            active = hidden > 0  # before the head's in-place ReLU
            raw = second(relu(hidden))
            embeddings = F.normalize(raw, dim=1)  # embed_from_features, step by step
            distance = self.distance(embeddings[0:1], embeddings[1:2])[0]
            similarity = similarity_from_distance(distance)
            # Each step as autograd's backward formula computes it (derivatives.yaml), in its order.
            diff = embeddings[0:1] - embeddings[1:2]
            grad_sum = SLOPE / (2 * distance)  # sqrt: grad / (2 sqrt)
            grad_diff = grad_sum * (2 * diff)  # pow 2: grad * (2 x)
            grad_e = torch.cat([grad_diff, -grad_diff])
            norm = raw.norm(dim=1, keepdim=True)
            denom = norm.clamp_min(NORMALIZE_EPS)  # F.normalize: raw / max(norm, eps)
            grad_norm = (-grad_e * ((raw / denom) / denom)).sum(1, keepdim=True) * (norm >= NORMALIZE_EPS)
            grad_raw = grad_e / denom + torch.where(norm > 0, raw / norm * grad_norm, 0.0)  # 0 at norm 0, as autograd
            grad_pooled = ((grad_raw @ second.weight) * active) @ first.weight
            h, w = feature_maps.shape[-2:]
            grads = (grad_pooled / h / w)[:, :, None, None].expand_as(feature_maps).contiguous()
        return float(similarity), float(distance), grads

    @staticmethod
    def distance(e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(((e1 - e2) ** 2).sum(dim=-1) + DISTANCE_EPS)

    def score(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Similarity in [0, 1] (1 = identical embeddings); symmetric in its two arguments."""
        return similarity_from_distance(self.distance(e1, e2))

    def decide(self, similarity: float) -> str:
        return "similar" if similarity >= self.threshold else "different"


@dataclass
class ModelInfo:
    """What a viewer shows about a loaded model (plain data, safe to pass across threads)."""

    name: str
    architecture: str
    input_size: int
    threshold: float
    sha256: str
    path: str | None
    metadata: dict = field(default_factory=dict)
    tta: str = "none"  # the test-time augmentation its scores average over (core.model.tta)


def describe(model: SiameseModel) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        architecture=model.config.architecture,
        input_size=model.config.input_size,
        threshold=model.threshold,
        sha256=str(model.metadata.get("sha256", "")),
        path=model.metadata.get("path"),
        metadata=dict(model.metadata),
        tta=model.config.tta,
    )
