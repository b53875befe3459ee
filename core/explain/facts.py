"""The facts of one explanation as plain JSON-ready data: the one builder behind `explain --json`, every report's
JSON sidecar (CLI, GUI, batch) and the batch summary's model hash. Torch-free.

    explanation_facts(explanation, images, model) -> {similarity, distance, decision, threshold, method,
        explanation_note, probability_same, in_domain, domain_unchecked, same_content, verdict, verdict_reason,
        model: model_facts, images: [image_facts], timings_ms}

"decision" is the raw similarity against the model's threshold; "verdict" is what the product stands behind.

An image is named by its ABSOLUTE path and its sha256: of the file's bytes ("sha256_of": "file"), or, for an image
with no file (pasted) or whose file can no longer be read, of the RGB pixels explained ("sha256_of": "pixels").
"map_size" is [width, height] of the image's maps, which may be smaller than "size" (core.explain.pair.map_size).
"""

from __future__ import annotations

import hashlib
import os

from core.io.files import file_sha256
from core.trust.verdict import band_of, domain_unchecked_text, withholds


def model_facts(model) -> dict:
    """A core.model.network.ModelInfo, or a SiameseModel (described on the fly), as data; sha256 None when not
    recorded."""
    info = model if hasattr(model, "sha256") else _describe(model)
    meta = info.metadata or {}
    return {"name": info.name, "architecture": info.architecture, "input_size": info.input_size,
            "test_time_augmentation": getattr(info, "tta", "none"),
            "sha256": info.sha256 or None, "path": info.path, "test_metrics": meta.get("test_metrics"),
            "untrained": bool(meta.get("untrained", False)), "verdict_band": band_of(meta),
            "verdict_selective_accuracy": (meta.get("verdict") or {}).get("selective_accuracy"),
            "verdict_coverage": (meta.get("verdict") or {}).get("coverage")}


def image_facts(loaded, heatmap=None) -> dict:
    """A core.io.images.LoadedImage as explained; `heatmap` (one of its maps) adds the maps' size."""
    path = os.path.abspath(loaded.path) if loaded.path else None
    digest, source = None, "file"
    if path is not None:
        try:
            digest = file_sha256(path)
        except OSError:  # moved or deleted since it was opened: the pixels still identify what was explained
            pass
    if digest is None:
        digest, source = hashlib.sha256(loaded.image.convert("RGB").tobytes()).hexdigest(), "pixels"
    # "original_size": the file's own size; "loaded_size": after downsampling a huge file by "scale" (crop and maps
    # are in loaded pixels: multiply by scale for the file's)
    facts = {"path": path, "sha256": digest, "sha256_of": source, "original_size": list(loaded.file_size),
             "loaded_size": list(loaded.original_size), "size": list(loaded.image.size),
             "crop": list(loaded.crop) if loaded.crop else None, "scale": loaded.scale}
    if heatmap is not None:
        facts["map_size"] = [int(heatmap.shape[1]), int(heatmap.shape[0])]
    return facts


def explanation_facts(explanation, images, model) -> dict:
    """Everything known about one explained pair (images: the pair as explained, core.explain.pair.explained_images)."""
    if len(images) != 2:
        raise ValueError("an explanation has exactly two images")
    in_domain = getattr(explanation, "in_domain", None)
    return {
        "similarity": round(float(explanation.similarity), 6),
        "distance": round(float(explanation.distance), 6),
        "decision": explanation.decision,
        "threshold": float(explanation.threshold),
        "method": explanation.method,
        "refined_from": explanation.refined_from,
        "explanation_note": explanation.note,
        # how far the score and maps can be trusted (core.trust.checks); None = not available for this model
        "probability_same": getattr(explanation, "probability_same", None),
        "in_domain": list(in_domain) if in_domain is not None else None,
        "domain_unchecked": _unchecked(explanation) if in_domain is None else None,  # why not, said in every verdict
        "same_content": bool(getattr(explanation, "same_content", False)),
        # what the model stands behind (core.trust.verdict): similar, different, inconclusive or not assessed
        "verdict": explanation.verdict,
        "verdict_reason": explanation.verdict_reason,
        # not assessed for an image outside the domain: the numbers are kept for machines but stand for nothing
        "extrapolated": withholds(explanation.verdict, in_domain),
        "model": model_facts(model),
        "images": [image_facts(image, explanation.factual[index]) for index, image in enumerate(images)],
        "timings_ms": dict(explanation.timings_ms),
    }


def _unchecked(explanation) -> str:
    return domain_unchecked_text(getattr(explanation, "domain_unchecked", ""))


def _describe(model):
    from core.model.network import describe  # a SiameseModel was passed: torch is already loaded

    return describe(model)
