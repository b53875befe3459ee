"""The explanation methods, as a registry of callables implementing core.vocabulary.METHODS.

explain_pair runs one forward pass of the pair and one backward pass through the head, giving the target layer's
activations A (V*2, C, h, w), V test-time views, and the gradients G of the similarity s w.r.t. them. A method is
the part that varies:
  - which way the factual map points (`sign(decision)`: +1 explains s, -1 explains the opposite, 1 - s or d), and
  - how that pass (an Evidence: A, the oriented G, the model, the inputs, s) becomes two non-negative maps per
    image (`cams(evidence)` -> factual, counterfactual, each (2, h, w), views merged).
Both are plain callables (as in pytorch-grad-cam, where the channel weighting is the overridable part), so a new
method is one entry here, not a branch in explain_pair.

Why these: with a global-average-pooled head G is constant over locations within a channel, so every
gradient x activation map summed over channels (HiResCAM, Zheng et al. 2020's similarity attention) equals
Grad-CAM. `attention` rectifies each channel's contribution *before* summing (element-wise Grad-CAM). `reference`
is the paper's recipe, kept to compare with. `decomposition` is each cell's exact share of the score
(core.explain.correspondence's row/column sums; a map's cells add up to the score minus the threshold); measured,
it is *not* faithful: it credits the cells that lengthen the embedding along the shared direction, which removing
does not change. `ablation` asks the model instead: one cell's target-layer features are swapped for the blurred
image's and the small head re-scores the pair, every cell at once (one more pass of the pair to the target layer);
`occlusion` blurs each place of the input in turn (2 x 64 more image passes). Both are core.explain.occlusion.
`integrated` integrates the input gradients of the pair score from the blurred pair to the pair
(core.explain.integrated, 16 more pair passes with gradients); its cells add up to s - s(blurred pair).
`coalition` sums the same gradients over random mixtures of sharp and blurred cells instead (a sampled Shapley
value; the same cost). Measured on validation and test pairs (docs/explanations.md), none of decomposition,
ablation and occlusion beats Grad-CAM by more than sampling noise; `integrated` and `coalition` do, by a wide
margin, `coalition` most on flowers, but cost 16 more pair passes. So the first map is `amortised`: the model's own
small head (core.model.explainer_head, trained by `main.py explainer`) predicts the coalition map from this one
pass; a model without a head falls back to `gradcam`. The window then refines the first map to `coalition` in the
background (core.explain.refine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from core import vocabulary
from core.errors import InputError

if TYPE_CHECKING:  # no torch at import: the CLI parser reads METHODS before any model is needed
    import torch


@dataclass(frozen=True)
class Evidence:
    """What explain_pair's one pass of the pair leaves for a method to turn into maps."""

    activations: torch.Tensor  # target layer (V*2, C, h, w), each test-time view in its own orientation
    grads: torch.Tensor  # d s / d activations, times the method's sign (positive = evidence for "factual")
    sign: float  # the method's sign for this decision
    model: Any  # the SiameseModel (its head and config)
    inputs: torch.Tensor  # the pair's normalised input tensors (2, 3, S, S), before test-time views
    similarity: float
    early: torch.Tensor | None = None  # the model's early stage (V*2, C', H, W), for a model with an explainer


@dataclass(frozen=True)
class Method:
    name: str
    help: str  # one line: GUI tooltip, README, --help
    sign: Callable[[str], float]  # decision ('similar'/'different') -> +1 to explain s, -1 to explain against it
    cams: Callable[[Evidence], tuple[torch.Tensor, torch.Tensor]]  # -> (factual, counterfactual), each (2, h, w)
    fallback: str = ""  # a method needing the model's amortised explainer: the one used for a model without it


def for_the_decision(decision: str) -> float:
    return 1.0 if decision == "similar" else -1.0


def for_the_distance(_decision: str) -> float:
    return -1.0  # d = 2 (1 - s): the paper's "factual" map always explains a larger distance


def grad_cam(maps: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's signed map (N, h, w): one weight per channel (the spatial mean of its gradient), then a sum over
    channels. The one home of the formula (explanations, attention-guided training)."""
    return (grads.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1)


def channel_weighted(evidence: Evidence):
    """Grad-CAM, split into its positive part and its negative part."""
    signed = grad_cam(evidence.activations, evidence.grads)
    return _merged(evidence, signed.clamp(min=0)), _merged(evidence, (-signed).clamp(min=0))


def element_wise(evidence: Evidence):
    """Gradient x activation per channel and location, positive and negative parts summed separately."""
    product = evidence.grads * evidence.activations
    return _merged(evidence, product.clamp(min=0).sum(dim=1)), _merged(evidence, (-product).clamp(min=0).sum(dim=1))


def contributions(evidence: Evidence):
    """Each cell's exact share of the score, oriented: positive part factual, negative part counterfactual."""
    import torch

    signed = evidence.sign * torch.from_numpy(decomposition_cells(evidence.model, evidence.activations,
                                                                  evidence.similarity)).float()
    return signed.clamp(min=0), (-signed).clamp(min=0)


def decomposition_cells(model, activations: torch.Tensor, similarity: float):
    """(2, h, w) float64: cell i of image n's exact contribution to (similarity - the decision threshold).

    core.explain.correspondence decomposes s - s0 (s0 the score of orthogonal embeddings) into cell-pair terms;
    their row and column sums r1_i, r2_j are each cell's own contribution and each image's sum to s - s0. A
    decision is about s - threshold, so every cell also carries an equal share of (s0 - threshold): each image's
    cells then sum to s - threshold exactly, positive cells argue for "similar", negative ones for "different".
    """
    from core.explain.correspondence import BASELINE, bilinear_matrix, cell_terms

    h, w = activations.shape[-2:]
    matrix = bilinear_matrix(cell_terms(model, activations), similarity)
    share = (BASELINE - model.threshold) / matrix.shape[0]
    return np.stack([matrix.sum(axis=1) + share, matrix.sum(axis=0) + share]).reshape(2, h, w)


def feature_swap(evidence: Evidence):
    """Feature-space occlusion of the pair score against the blurred pair's features (core.explain.occlusion
    .ablation_cells, one more pass of the pair up to the target layer), oriented."""
    from core.explain.occlusion import ablation_cells

    signed = evidence.sign * ablation_cells(evidence.model, evidence.inputs, evidence.activations, "blurred")
    return signed.clamp(min=0), (-signed).clamp(min=0)


def perturbation(evidence: Evidence):
    """Occlusion of the pair score (core.explain.occlusion), oriented like the others."""
    from core.explain.occlusion import occlusion_cells

    signed = evidence.sign * occlusion_cells(evidence.model, evidence.inputs)
    return signed.clamp(min=0), (-signed).clamp(min=0)


def predicted(evidence: Evidence):
    """The model's amortised explainer's cells (core.model.explainer_head), from the same pass, oriented."""
    import torch

    with torch.no_grad():
        cam = grad_cam(evidence.activations, evidence.grads)
        signed = evidence.model.explainer(evidence.activations, evidence.grads, evidence.early, cam)
    return _merged(evidence, signed.clamp(min=0)), _merged(evidence, (-signed).clamp(min=0))


def along_path(method: str) -> Callable:
    """The input gradients of the pair score summed along `method`'s path from the blurred pair
    (core.explain.integrated.path_of: blur integrated gradients, or random coalitions of sharp and blurred cells),
    pooled to cells, oriented."""
    def cams(evidence: Evidence):
        from core.explain.integrated import integrated_cells, path_of

        signed = evidence.sign * integrated_cells(evidence.model, evidence.inputs, path=path_of(method))
        return signed.clamp(min=0), (-signed).clamp(min=0)
    return cams


def _merged(evidence: Evidence, maps):
    from core.model import tta

    return tta.merge_maps(maps, evidence.model.config.tta, 2)


REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("amortised", "the model's own small network predicts the coalition map from the one pass (like Grad-CAM, "
                        "no extra pass; Grad-CAM for a model without one)", for_the_decision, predicted,
           fallback="gradcam"),
    Method("gradcam", "Grad-CAM of the score for the decision: where the pooled evidence for it lies "
                      "(counterfactual: against it)", for_the_decision, channel_weighted),
    Method("attention", "element-wise gradient x activation (Zheng et al. 2020), rectified per channel: "
                        "evidence for and against at one place shows in both maps", for_the_decision, element_wise),
    Method("reference", "the paper's recipe (Livieris et al. 2023): Grad-CAM of the distance, for comparison "
                        "(on a 'different' pair it equals gradcam)", for_the_distance, channel_weighted),
    Method("decomposition", "each place's exact share of the score (the shares add up to it; not what removing "
                            "the place would change)", for_the_decision, contributions),
    Method("ablation", "how much the score drops when one place's features are swapped for the blurred image's "
                       "(one more pass)", for_the_decision, feature_swap),
    Method("occlusion", "how much the score changes when one place of the image is blurred away "
                        "(128 more passes)", for_the_decision, perturbation),
    Method("integrated", "blur integrated gradients: how much each place moves the score on the way from the "
                         "blurred pair to the pair (16 more passes)", for_the_decision, along_path("integrated")),
    Method("coalition", "how much each place moves the score when it is restored among random other places of the "
                        "blurred pair (a sampled Shapley value; 16 more passes)", for_the_decision,
           along_path("coalition")),
)}
METHODS = vocabulary.METHODS
DEFAULT_METHOD = vocabulary.DEFAULT_METHOD
if tuple(REGISTRY) != METHODS:  # the vocabulary names the methods, in order; this registry implements them
    raise ImportError(f"core.explain.methods implements {tuple(REGISTRY)}, core.vocabulary names {METHODS}")


def method_for(name: str, model) -> Method:
    """The method that makes `name`'s maps for `model`: itself, or its fallback when it needs an amortised
    explainer the model does not have. What an explanation records is this method's name."""
    spec = get_method(name)
    if spec.fallback and getattr(model, "explainer", None) is None:
        return get_method(spec.fallback)
    return spec


def get_method(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
