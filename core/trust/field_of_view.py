"""The whole-image view of the out-of-domain check: what surrounds a lesion, which the lesion crop hides.

A model that crops every image to its lesion box first (the skin model) sees a room cut down to a skin-like
patch: the crop check (core.trust.domain's stages) passed four rooms in ten. Only such models get this view (see
fit_features). The uncropped image still shows what it
is, and dermoscopy has a characteristic layout (a lesion near the centre, skin around it, often dark vignette
corners), which rooms, flowers and everyday photographs do not share. So the check also looks at the whole
image, small: SIZE px, through the backbone's first modules only (up to the first one at output stride 4, the
max-pool of a ResNet), and keeps the channel means of a GRID x GRID layout of that map (where which colours and
edges are), which core.trust.domain models with one more Gaussian.

Measured on the skin model (fitted on its training split, threshold from validation; rooms are what it is
tested against): 4x4 grid of the stride-4 map at 64 px flagged 96 % of rooms alone, vs 70 % for the same
stage's unresolved channel statistics, 87-89 % for layer1's grid, 30-33 % for layer3's; the whole image's
stage statistics at 96 px (an earlier try) 80 %. It costs a forward pass of two tiny images through the
first four modules (about 1 ms for a pair on one core), not a second full pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

SIZE = 64  # px: layout and colour survive, and the stem costs ~1 ms per pair
GRID = 4
STRIDE = 4


def stage_index(model) -> int:
    """Index into model.features of the first module whose output has stride STRIDE (a ResNet's max-pool);
    the first module when none has (a tiny input)."""
    size = SIZE
    x = torch.zeros(1, 3, size, size, device=model.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for index, module in enumerate(model.features):
                x = module(x)
                if round(size / x.shape[-1]) >= STRIDE:
                    return index
    finally:
        model.train(was_training)
    return 0


def view_config(model):
    """The preprocessing of the whole view: the model's own (colour constancy included), without the crop."""
    return dataclasses.replace(model.config, lesion_crop=False)


def input_batch(model, images, size: int = SIZE) -> torch.Tensor:
    """PIL images (uncropped) -> normalised (N, 3, size, size) batch, preprocessed as core.data.datasets.load_cache
    does with view_config, so fitting (from caches) and inference see the same pixels."""
    from core.model.preprocess import square_input

    arrays = [np.asarray(square_input(image, size, model.config.color_constancy), dtype=np.float32)
              for image in images]
    batch = torch.from_numpy(np.stack(arrays) / 255.0).permute(0, 3, 1, 2).float()
    return model.normalise(batch.to(model.device))


def features(model, batch: torch.Tensor, index: int, grid: int = GRID) -> np.ndarray:
    """(N, C * grid * grid) float32: channel means of model.features[index]'s output over a grid x grid layout."""
    with torch.no_grad():
        x = batch
        for module in list(model.features)[:int(index) + 1]:
            x = module(x)
        return torch.nn.functional.adaptive_avg_pool2d(x.float(), int(grid)).flatten(1).cpu().numpy()


def dataset_features(model, dataset, index: int, cache_dir=None, batch_size: int = 256) -> np.ndarray:
    """features() of every image of `dataset`, from a uint8 cache of its uncropped SIZE px views."""
    from core.data.datasets import load_cache

    images = load_cache(dataset, SIZE, cache_dir, view=view_config(model))
    was_training = model.training
    model.eval()
    try:
        out = [features(model, model.normalise(images[start:start + batch_size].to(model.device).float() / 255.0),
                        index) for start in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def fit_features(model, dataset, splits: dict, cache_dir=None) -> tuple[dict | None, dict]:
    """(the view core.trust.domain.summarise records: {"index", "size", "grid"}, {split name: features}) for the
    training, validation and test splits of `dataset`; (None, {name: None}) for a model without the automatic
    lesion crop. Its crop check already sees the whole image, at the model's full input size; all a whole view
    would add is the layout, and photographs (flowers, rooms) place their subject anywhere: measured on the
    flowers model, the whole view alone flagged 0.4 % of rooms and no skin image (its crop check: 0.4 and 77 %),
    and on the shapes test model a quarter of its own test images. Not worth its cost and 90 kB of metadata."""
    if not model.config.lesion_crop:
        return None, {name: None for name in ("train", "val", "test")}
    view = {"index": stage_index(model), "size": SIZE, "grid": GRID}
    return view, {name: dataset_features(model, dataset.subset(splits[name]), view["index"], cache_dir)
                  for name in ("train", "val", "test")}


def for_model(model, images) -> np.ndarray | None:
    """features() of `images` (PIL, uncropped) as the model's domain summary compares them, or None when its
    summary has no whole view (versions 1 and 2, none at all): then nothing is computed."""
    summary = model.metadata.get("domain")
    whole = summary.get("whole") if isinstance(summary, dict) else None
    if not isinstance(whole, dict):
        return None
    try:
        index, size, grid = int(whole["index"]), int(whole["size"]), int(whole["grid"])
    except (KeyError, TypeError, ValueError):
        return None
    # A weights file is data: bounds, so a malformed one costs an unchecked image, never memory or a crash.
    if not (0 <= index < len(model.features) - 1 and 8 <= size <= 512 and 1 <= grid <= 16):
        return None
    was_training = model.training
    if was_training:  # eval() and train() walk every module, 0.3 ms a pair for a model already evaluating
        model.eval()
    try:
        return features(model, input_batch(model, images, size), index, grid)
    except (RuntimeError, ValueError):
        return None
    finally:
        if was_training:
            model.train()


def uncropped(image):
    """The whole image behind `image` (a LoadedImage or PIL image): a user's crop hides the surroundings as the
    automatic crop does, so its LoadedImage.overview (the whole image, small) stands in for it."""
    from core.io.images import LoadedImage

    if isinstance(image, LoadedImage):
        return image.overview if image.crop is not None and image.overview is not None else image.image
    return image
