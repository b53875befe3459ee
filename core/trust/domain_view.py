"""The out-of-domain check's inputs for a batch of images, in one place for explain_pair and the benchmark.

core.explain.pair scores each pair in one forward pass, whose stage statistics (checks.stage_probe) and target-layer
maps feed the crop check; the whole-image view (core.trust.field_of_view) comes from the images as loaded, before
any crop. Building both here keeps explain_pair and benchmarks/bench_domain.py from drifting apart: what the
benchmark measures is what a user is warned by.
"""

from __future__ import annotations

from core.trust import checks, field_of_view


def features_of(model, images, feature_maps, stages) -> dict:
    """checks.domain_features of `images` (LoadedImage or PIL, as given to explain_pair, uncropped by the model)
    from the forward pass's `feature_maps` and captured `stages`, plus their whole view if the summary has one."""
    return checks.domain_features(feature_maps, stages, whole_view(model, images))


def whole_view(model, images):
    """The whole view of `images` (as for features_of), or None when the model's summary has none. explain_pair
    takes it before its pass: right after the lesion crop has read the same images, it cost about 0.5 ms less a
    pair than after the pass (skin model, one thread; same numbers)."""
    return field_of_view.for_model(model, [field_of_view.uncropped(image) for image in images])

