"""The explanation methods, as a registry of callables implementing core.vocabulary.METHODS.

explain_pair runs one forward pass of the pair and one backward pass through the head, giving the target layer's
activations A (2, C, h, w) and the gradients G of the similarity s w.r.t. them. A method is the part that varies:
  - which way the factual map points (`sign(decision)`: +1 explains s, -1 explains the opposite, 1 - s or d), and
  - how A and the oriented G become two non-negative maps (`cams(A, G)` -> factual, counterfactual, each (2, h, w)).
Both are plain callables (as in pytorch-grad-cam, where the channel weighting is the overridable part), so a new
method is one entry here, not a branch in explain_pair.

Why these three: with a global-average-pooled head G is constant over locations within a channel, so every
gradient x activation map summed over channels (HiResCAM, Zheng et al. 2020's similarity attention) equals
Grad-CAM. `attention` therefore rectifies each channel's contribution *before* summing (element-wise Grad-CAM):
a place where some channels argue for the decision and others against it shows in both maps instead of cancelling
out, which is what a reviewer of a similarity needs to see. `reference` is the paper's recipe, kept to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from core import vocabulary

if TYPE_CHECKING:  # no torch at import: the CLI parser reads METHODS before any model is needed
    import torch


@dataclass(frozen=True)
class Method:
    name: str
    help: str  # one line: GUI tooltip, README, --help
    sign: Callable[[str], float]  # decision ('similar'/'different') -> +1 to explain s, -1 to explain against it
    cams: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # (A, oriented G) -> maps


def for_the_decision(decision: str) -> float:
    return 1.0 if decision == "similar" else -1.0


def for_the_distance(_decision: str) -> float:
    return -1.0  # d = 2 (1 - s): the paper's "factual" map always explains a larger distance


def grad_cam(maps: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's signed map (N, h, w): one weight per channel (the spatial mean of its gradient), then a sum over
    channels. The one home of the formula (explanations, attention-guided training)."""
    return (grads.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1)


def channel_weighted(maps: torch.Tensor, grads: torch.Tensor):
    """Grad-CAM, split into its positive part and its negative part."""
    signed = grad_cam(maps, grads)
    return signed.clamp(min=0), (-signed).clamp(min=0)


def element_wise(maps: torch.Tensor, grads: torch.Tensor):
    """Gradient x activation per channel and location, positive and negative parts summed separately."""
    product = grads * maps
    return product.clamp(min=0).sum(dim=1), (-product).clamp(min=0).sum(dim=1)


REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("gradcam", "Grad-CAM of the score for the decision: where the pooled evidence for it lies "
                      "(counterfactual: against it)", for_the_decision, channel_weighted),
    Method("attention", "element-wise gradient x activation (Zheng et al. 2020), rectified per channel: "
                        "evidence for and against at one place shows in both maps", for_the_decision, element_wise),
    Method("reference", "the paper's recipe (Livieris et al. 2023): Grad-CAM of the distance, for comparison "
                        "(on a 'different' pair it equals gradcam)", for_the_distance, channel_weighted),
)}
METHODS = vocabulary.METHODS
DEFAULT_METHOD = vocabulary.DEFAULT_METHOD
if tuple(REGISTRY) != METHODS:  # the vocabulary names the methods, in order; this registry implements them
    raise ImportError(f"core.explain.methods implements {tuple(REGISTRY)}, core.vocabulary names {METHODS}")


def get_method(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
