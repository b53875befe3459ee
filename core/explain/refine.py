"""The background refinement of a pair's first maps: coalition gradients of the pair score (core.explain.integrated
.coalitions: the score's input gradients summed over random mixtures of sharp and blurred cells, a sampled Shapley
value) in place of Grad-CAM, chosen by measurement over blur integrated gradients (docs/explanations.md, issue 35).

The first maps (one pass of the pair) appear at once; this costs STEPS more pair passes with gradients, so the
window runs it in the background, stoppable between chunks, with progress, and the report tools run it before
drawing. Only the maps and the method change: the score, the decision, the verdict and the checks stay those of
the pair, and signed_cams stay Grad-CAM's (the faithfulness check's random maps keep the feature-map resolution).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Callable

from core.explain.methods import get_method  # torch-free at import
from core.explain.timing import elapsed_ms
from core.vocabulary import DEFAULT_METHOD

if TYPE_CHECKING:  # torch only once a refinement runs: the window asks `refines` of every pair
    from core.explain.pair import Explanation

REFINED_METHOD = "coalition"


# the default first map, and what it falls back to for a model without an explainer
FIRST_MAPS = (DEFAULT_METHOD, get_method(DEFAULT_METHOD).fallback)


def method_words(method: str, refined_from: str = "") -> str:
    """The method of the maps shown, as the panel and the reports print it: a refined map names the first map it
    replaced, so the reviewer's choice (the default) and the map shown do not read as a contradiction."""
    return f"{method} (refined from {refined_from})" if refined_from else method


def refines(explanation: Explanation, requested: str = DEFAULT_METHOD) -> bool:
    """Whether the refinement applies: to the maps of the default method (`requested`: the method asked for; as
    drawn for this model: amortised, or Grad-CAM without an explainer) of a pair with evidence to draw (a method the
    reviewer chose, Grad-CAM included, is theirs to keep) whose maps are shown at all (a pair not assessed withholds
    them)."""
    from core.trust.verdict import withholds

    return (requested == DEFAULT_METHOD and explanation.method in FIRST_MAPS and not explanation.same_content
            and not withholds(explanation.verdict, explanation.in_domain))


def refined(model, pil_images, explanation: Explanation, should_stop: Callable[[], bool] | None = None,
            progress: Callable[[float], None] | None = None) -> Explanation:
    """`explanation` with coalition-gradient maps, for the pair as explained (`pil_images`: the two images
    its maps cover, cropped as it says). Raises core.errors.Stopped when should_stop() turns true."""
    import numpy as np
    import torch

    from core.explain.integrated import integrated_cells, path_of
    from core.explain.pair import image_maps

    started = time.perf_counter()
    inputs = torch.cat([model.input_tensor(image) for image in pil_images])
    sign = get_method(REFINED_METHOD).sign(explanation.decision)
    cells = np.nan_to_num((sign * integrated_cells(model, inputs, should_stop=should_stop, progress=progress,
                                                   path=path_of(REFINED_METHOD))).numpy())
    sizes = [image.size for image in pil_images]
    return dataclasses.replace(
        explanation, method=REFINED_METHOD, refined_from=explanation.method,
        factual=image_maps(np.maximum(cells, 0), sizes), counterfactual=image_maps(np.maximum(-cells, 0), sizes),
        timings_ms={**explanation.timings_ms, "refine": elapsed_ms(started, time.perf_counter())})
