"""Explanations of the similarity score itself: factual and counterfactual maps for each image of a pair.

One forward pass of the pair (as a batch of two) runs the backbone under no_grad, as a plain score does; the
gradient of the score w.r.t. its output, the target layer's maps, comes from the small head alone (in closed form,
SiameseModel.pair_gradient; with test-time views by one backward pass of a graph that starts at those maps). It
holds each image's *own* gradients, and all four maps follow from them, since the counterfactual score is a sign
flip of the factual.
How activations and gradients become maps is the method's callable (core.explain.methods: decomposition,
gradcam, attention, occlusion, reference).

A pair whose embeddings (nearly) coincide has no gradient evidence worth drawing (the maps would be noise):
it is reported as "same image content" with empty maps. Calibrated probability and the out-of-domain check come
from the model's metadata when it has them (core.trust.checks).
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.explain.methods import Evidence, grad_cam, method_for
from core.explain.overlay import resize_map
from core.explain.timing import elapsed_ms
from core.io.images import LoadedImage
from core.model import tta
from core.model.network import SiameseModel
from core.model.similarity import similarity_from_distance
from core.trust import checks, domain_view
from core.trust import verdict as verdict_words
from core.vocabulary import DEFAULT_METHOD, MAX_MAP_SIDE


@dataclass
class Explanation:
    """Result of explain_pair. Maps are float32 in [0, 1], shaped (height, width) = map_size of each (cropped)
    image: the image's own size, or at most MAX_MAP_SIDE on the longest side with the aspect ratio kept (a map
    is smooth, so a larger one adds memory, not detail). A consumer draws a map over its image by resizing it to
    the image (core.explain.overlay.resize_map, blend); map.shape against the image's size says by how much."""

    similarity: float
    distance: float
    decision: str  # "similar" or "different"
    threshold: float
    method: str
    factual: tuple[np.ndarray, np.ndarray]
    counterfactual: tuple[np.ndarray, np.ndarray]
    signed_cams: tuple[np.ndarray, np.ndarray]  # before rectification, at feature-map resolution
    timings_ms: dict = field(default_factory=dict)
    note: str = ""
    # The box (x, y, w, h) in original pixels that each map covers: the user's crop, else the model's automatic
    # lesion crop, else None (the whole image).
    crops: tuple = (None, None)
    # Calibrated P(same class) (None: the model has no calibration), each image inside the model's domain
    # (None: no training summary), and whether the pair is the same image content (empty maps then).
    probability_same: float | None = None
    in_domain: tuple | None = None
    same_content: bool = False
    # Why the out-of-domain check could not run (in_domain None): no summary, or a malformed one; "" when it ran.
    domain_unchecked: str = ""
    # What the model can stand behind (core.trust.verdict): similar, different, inconclusive or not assessed, and why.
    verdict: str = verdict_words.NOT_ASSESSED
    verdict_reason: str = ""
    # Only when asked (explain_pair's `correspondence`): the K strongest links between the images' cells,
    # [{"p1": [x, y], "p2": [x, y], "weight": w}] in each image's own pixels, strongest first
    # (core.explain.correspondence).
    correspondence: list | None = None
    # The first map's method when these maps are a background refinement of it (core.explain.refine), else "".
    refined_from: str = ""


def explain_pair(model: SiameseModel, image1, image2, method: str = DEFAULT_METHOD,
                 correspondence: int = 0) -> Explanation:
    """Score a pair and explain it; image1/image2 are LoadedImage (from load_image) or PIL images.

    An image without a crop of its own gets the model's automatic crop, if the model has one; each map covers
    the image as cropped (see Explanation.crops). `correspondence` > 0 adds that many links
    (core.explain.correspondence).
    """
    spec = method_for(method, model)  # the amortised first map falls back to Grad-CAM for a model without a head
    t0 = time.perf_counter()
    (pil1, crop1), (pil2, crop2) = model_view(model, image1), model_view(model, image2)
    batch = torch.cat([model.input_tensor(pil1), model.input_tensor(pil2)])
    # The out-of-domain check's view of the uncropped images (what the lesion crop hides), if the summary compares it
    whole = domain_view.whole_view(model, (image1, image2))
    t1 = time.perf_counter()
    with checks.stage_probe(model) as stages, _local_probe(model, correspondence) as local:
        passed = first_pass(model, batch, early=bool(spec.fallback))
    t2 = time.perf_counter()
    sim, dist, activations, grads = passed.similarity, passed.distance, passed.activations, passed.grads
    decision = model.decide(sim)
    views = model.config.tta  # with test-time views, each view's maps are turned back and summed (core.model.tta)
    signed = _array(tta.merge_maps(grad_cam(activations, grads), views, 2))
    # The method orients the gradients (positive = evidence for the map called "factual") and makes the maps.
    sign = spec.sign(decision)
    evidence = Evidence(activations, grads * sign, sign, model, batch, sim, passed.early)
    fact_cams, counter_cams = (_array(c) for c in spec.cams(evidence))
    # The domain summary was fitted on unaugmented images: the identity view, rows 0 and 1 of the batch.
    features = checks.domain_features(activations[:2], {k: v[:2] for k, v in stages.items()}, whole)
    same_content = checks.same_content(model, dist, features)
    if same_content:  # no evidence to draw, only noise: say so instead
        fact_cams, counter_cams = np.zeros_like(fact_cams), np.zeros_like(counter_cams)
    sizes = [pil1.size, pil2.size]
    factual, counterfactual = image_maps(fact_cams, sizes), image_maps(counter_cams, sizes)
    in_domain, unchecked = checks.domain_check(model, features)
    links = _links(model, activations, local, sim, (pil1, crop1), (pil2, crop2), correspondence)
    t3 = time.perf_counter()
    if same_content:
        note = "same image content: the two embeddings (nearly) coincide, so there is no evidence to map"
    else:
        note = "" if np.abs(signed).max() > 0 else "no gradient evidence: the two embeddings coincide"
    probability = checks.probability_same(model, sim)
    judged = verdict_words.judge(probability, verdict_words.band_of(model.metadata), in_domain, same_content,
                                 unchecked)
    return Explanation(
        similarity=min(max(sim, 0.0), 1.0),
        distance=dist,
        decision=decision,
        threshold=model.threshold,
        method=spec.name,
        factual=factual,
        counterfactual=counterfactual,
        signed_cams=(signed[0], signed[1]),
        timings_ms={"preprocess": elapsed_ms(t0, t1), "model": elapsed_ms(t1, t2), "maps": elapsed_ms(t2, t3),
                    "total": elapsed_ms(t0, t3)},
        note=note,
        crops=(crop1, crop2),
        probability_same=probability,
        in_domain=in_domain,
        domain_unchecked=unchecked,
        same_content=same_content,
        verdict=judged.label,
        verdict_reason=judged.reason,
        correspondence=links,
    )


@dataclass(frozen=True)
class FirstPass:
    """What one pass of the pair leaves: the target layer's activations (V*2, C, h, w) and the gradient of the
    similarity w.r.t. them (not oriented), the score, and the early stage's output when asked (else None)."""

    activations: torch.Tensor
    grads: torch.Tensor
    similarity: float
    distance: float
    early: torch.Tensor | None


def first_pass(model: SiameseModel, batch: torch.Tensor, early: bool = False) -> FirstPass:
    """One forward pass of the pair (2, 3, S, S) and the score's gradient w.r.t. the target layer's maps: the
    backbone runs under no_grad, exactly as a plain forward pass does; the gradient through the small head is
    model.pair_gradient's closed form, or (test-time views) one backward pass of a graph that starts at the
    target layer's maps (model.feature_maps, then model.embed_maps). `early`: also keep model.early_stage's output
    (what the amortised explainer reads), by a forward hook in the same pass."""
    kept: dict = {}
    hook = (model.early_stage.register_forward_hook(lambda _m, _i, out: kept.update(early=out.detach()))
            if early else None)
    try:
        with torch.no_grad():
            maps = model.feature_maps(batch)
    finally:
        if hook is not None:
            hook.remove()
    closed = model.pair_gradient(maps)
    if closed is not None:
        similarity, distance, grads = closed
        return FirstPass(maps, grads, similarity, distance, kept.get("early"))
    leaf = maps.requires_grad_(True)
    with torch.enable_grad():  # autograd.grad asks for the leaf's gradient alone: no parameter's is computed
        embeddings = model.embed_maps(leaf, len(batch))
        distance_t = model.distance(embeddings[0:1], embeddings[1:2])[0]
        similarity_t = similarity_from_distance(distance_t)
        grads = torch.autograd.grad(similarity_t, leaf)[0]
    return FirstPass(leaf.detach(), grads, float(similarity_t.detach()), float(distance_t.detach()),
                     kept.get("early"))


def _local_probe(model, correspondence: int):
    if correspondence <= 0:
        return nullcontext({})
    from core.explain.correspondence import capture_local

    return capture_local(model)


def _links(model, activations, local: dict, sim: float, view1, view2, k: int):
    """explain_pair's `correspondence` links, None when not asked (the score's decomposition needs no
    gradients, so the same image content gets links too)."""
    if k <= 0:
        return None
    from core.explain.correspondence import correspondence

    boxes = [crop if crop is not None else (0, 0, *pil.size) for pil, crop in (view1, view2)]
    return correspondence(model, activations, local, sim, boxes, k).links


def explained_images(images, explanation: Explanation) -> tuple[LoadedImage, LoadedImage]:
    """The pair as explained: each LoadedImage cropped to the box its maps cover (the automatic crop included),
    so overlays, reports and JSON describe what the model saw."""
    from core.io.images import with_crop

    first, second = (image if image.crop is not None or box is None else with_crop(image, box)
                     for image, box in zip(images, explanation.crops, strict=True))
    return first, second


def model_view(model: SiameseModel, image) -> tuple[Image.Image, tuple | None]:
    """(the image the model explains, its crop box in original pixels): SiameseModel.view, which
    model.preprocess applies too, so the API's embeddings are the explanation's."""
    return model.view(image)


@contextmanager
def target_layer_leaf(model: torch.nn.Module, layer: torch.nn.Module):
    """Within the block, `layer`'s output is a fresh leaf requiring grad (in captured['output']) and every
    parameter is frozen: gradients flow only from the output down to that leaf, never into the backbone."""
    captured: dict = {}

    def hook(_module, _inputs, output):
        leaf = output.detach().requires_grad_(True)
        captured["output"] = leaf
        return leaf

    trainable = [p for p in model.parameters() if p.requires_grad]  # one walk of the modules, not three
    for p in trainable:
        p.requires_grad_(False)
    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            yield captured
    finally:
        handle.remove()
        for p in trainable:
            p.requires_grad_(True)


def similarity_attention(embedder, layer: torch.nn.Module, batch_pair: torch.Tensor) -> np.ndarray:
    """Zheng et al. 2020 for any embedding network: signed gradient-x-activation maps (2, h, w) of the cosine
    similarity of the embeddings of a (2, 3, H, W) batch, w.r.t. `layer`'s output."""
    with target_layer_leaf(embedder, layer) as captured:
        embeddings = embedder(batch_pair).flatten(1)
        cosine = F.cosine_similarity(embeddings[0:1], embeddings[1:2])[0]
        grads = torch.autograd.grad(cosine, captured["output"])[0]
    return _array((grads * captured["output"].detach()).sum(dim=1))


def normalise(cam: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Scale a non-negative map to [0, 1]; an empty map stays all zeros (never NaN). `in_place`: a float32 map
    the caller owns is scaled where it lies (no second 12 MB array for a map of MAX_MAP_SIDE)."""
    top = float(cam.max()) if cam.size else 0.0
    if not np.isfinite(top) or top <= 0:
        return np.zeros_like(cam, dtype=np.float32)
    if in_place and cam.dtype == np.float32:
        return np.divide(cam, top, out=cam)
    return (cam / top).astype(np.float32, copy=False)


def map_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the maps of an image of `image_size`: its own, or scaled down (aspect kept) so that the
    longest side is MAX_MAP_SIDE."""
    width, height = image_size
    longest = max(width, height)
    if longest <= MAX_MAP_SIDE:
        return (width, height)
    factor = MAX_MAP_SIDE / longest
    return (max(1, round(width * factor)), max(1, round(height * factor)))


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Feature-map-resolution map -> `size` (width, height), bilinear, clipped to [0, 1]."""
    return resize_map(cam, size).astype(np.float32, copy=False)


def image_maps(cams: np.ndarray, sizes) -> tuple[np.ndarray, np.ndarray]:
    """Each image's map of `cams`, upsampled to map_size of its image size and normalised there: a fine grid's
    single hot cell loses part of its peak to the interpolation, and the colour scale's top must still be the
    map's strongest place."""
    # upsample returns a new array (or the first normalise's): image_maps owns it
    first, second = (normalise(upsample(normalise(cams[i]), map_size(sizes[i])), in_place=True) for i in range(2))
    return first, second


def _array(cams: torch.Tensor) -> np.ndarray:
    return np.nan_to_num(cams.float().cpu().numpy())

