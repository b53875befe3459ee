"""Test-time augmentation (TTA): a model option that scores the embedding averaged over flipped and rotated views.

A dermoscopy image has no canonical orientation, so a lesion seen upside down is the same lesion; a network
trained from scratch on ~1,800 images is not exactly invariant, and averaging its embedding over the eight
symmetries of the square (the dihedral group) removes that noise from the score. The option lives in the model's
config ("tta"), chosen on the validation split by `main.py calibrate --tta` (core.evaluation.tta_choice), so every
path that embeds through SiameseModel.embed (explain, evaluate, similar cases, batch, calibration) scores the same
way.

Explanations explain the averaged score itself: the views run as one batch, the score's gradient reaches every
view's feature maps, and each view's maps are mapped back to the image's orientation and summed (core.explain.pair).
Training never uses TTA (it trains one augmented view at a time).
"""

from __future__ import annotations

from core.errors import InputError
from core.vocabulary import TTA_MODES

# Each view: (forward transform of an image batch, inverse transform of a map batch), on the last two axes.
# Transposes and flips of a square input map the feature grid onto itself, so a map inverts exactly.
_TRANSFORMS = {
    "identity": (lambda x: x, lambda m: m),
    "hflip": (lambda x: x.flip(-1), lambda m: m.flip(-1)),
    "vflip": (lambda x: x.flip(-2), lambda m: m.flip(-2)),
    "rot180": (lambda x: x.flip(-2, -1), lambda m: m.flip(-2, -1)),
    "transpose": (lambda x: x.transpose(-2, -1), lambda m: m.transpose(-2, -1)),
    "rot90": (lambda x: x.transpose(-2, -1).flip(-1), lambda m: m.flip(-1).transpose(-2, -1)),
    "rot270": (lambda x: x.transpose(-2, -1).flip(-2), lambda m: m.flip(-2).transpose(-2, -1)),
    "antitranspose": (lambda x: x.transpose(-2, -1).flip(-2, -1), lambda m: m.flip(-2, -1).transpose(-2, -1)),
}
VIEWS = {"none": ("identity",), "hflip": ("identity", "hflip"), "dihedral": tuple(_TRANSFORMS)}
if tuple(VIEWS) != TTA_MODES:
    raise ImportError(f"core.model.tta implements {tuple(VIEWS)}, core.vocabulary names {TTA_MODES}")

def view_count(mode: str) -> int:
    return len(_views(mode))


def expand(batch, mode: str):
    """(N, 3, S, S) -> (V*N, 3, S, S): view v of image i at row v*N + i; the identity view first."""
    import torch

    views = _views(mode)
    return batch if len(views) == 1 else torch.cat([_TRANSFORMS[name][0](batch) for name in views])


def merge_embeddings(embeddings, mode: str, n: int):
    """(V*N, D) unit embeddings of expand's rows -> (N, D): their mean, back on the unit sphere."""
    import torch.nn.functional as F

    views = _views(mode)
    if len(views) == 1:
        return embeddings
    return F.normalize(embeddings.view(len(views), n, -1).mean(dim=0), dim=1)


def merge_maps(maps, mode: str, n: int):
    """(V*N, h, w) maps in each view's orientation -> (N, h, w): each mapped back to the image and summed."""
    views = _views(mode)
    if len(views) == 1:
        return maps
    per_view = maps.view(len(views), n, *maps.shape[1:])
    return sum(_TRANSFORMS[name][1](per_view[v]) for v, name in enumerate(views))


def _views(mode: str) -> tuple:
    try:
        return VIEWS[mode]
    except KeyError:
        raise InputError(f"unknown test-time augmentation {mode!r}; choose one of {', '.join(TTA_MODES)}") from None
