"""The nearest known cases of a query in a gallery's index, as a reviewer may count them.

Two rules keep the count honest (issue #33):
- the query's own content is never a case: gallery files with the query's sha256 are named apart ("this image is
  in the gallery, labelled ...") and never voted, and so are near-duplicates of the query (a re-saved or resized
  copy of it);
- near-duplicates among the cases (copies of one picture, at embedding distance under NEAR_DUPLICATE_DISTANCE) are
  folded into the nearest of them, so one picture counts once in the vote; the hit lists what was folded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.io.files import file_sha256
from core.model.similarity import distance_from_similarity
from core.review.gallery import GalleryIndex

# Embedding distance under which two images are near-duplicates of one picture. Chosen on the shipped models'
# validation images with benchmarks/near_duplicates.py: the largest distance that folds at most 1 % of the
# validation images with their nearest distinct image, the smallest such over skin (0.0027), flowers (0.0035) and
# airbnb (0.0168). Contrastive training packs images of one class close (a skin image's nearest distinct image
# lies at 0.023, median), so only exact and nearly exact copies fold: 36 % of re-saved, resized or trimmed copies
# on skin, 31 % on flowers, 7 % on airbnb (docs/benchmarks.md). Identical pixels always fold.
NEAR_DUPLICATE_DISTANCE = 0.0027
# Candidates read beyond k, so k cases remain once the query's copies and the folded duplicates are set aside.
EXTRA_CANDIDATES = 16


@dataclass
class Neighbours:
    hits: list[dict]  # rank, path, sha256, label, similarity, folded (paths of near-duplicates folded into it)
    vote: str | None  # "7 of the 10 nearest-looking known cases are labelled ..." or why there is none
    own: list[dict] = field(default_factory=list)  # the query itself in the gallery: path, label, how (same/near)
    notes: list[str] = field(default_factory=list)  # what was set aside, in words

    @property
    def in_gallery(self) -> str | None:
        """'this image is in the gallery, labelled benign (path)' when the query's content is in the gallery."""
        if not self.own:
            return None
        named = "; ".join(f"labelled {item['label'] or '(no label)'} ({item['path']})" for item in self.own)
        exact = all(item["how"] == "same content" for item in self.own)
        what = "this image is in the gallery" if exact else "this image (or a near-identical copy) is in the gallery"
        return f"{what}, {named}: not counted as a similar case"


def nearest_cases(model, index: GalleryIndex, query, k: int) -> Neighbours:
    """The k cases of `index` nearest to `query` (a LoadedImage, seen as the model explains it: its own crop, else
    the model's automatic one), best first, without the query's own content and with near-duplicates folded, and
    the vote summary when the gallery has labels."""
    from core.model.retrieval import nearest, vote

    embedding, inside = embed_and_check(model, query)
    query_vector = embedding.float().cpu().numpy()
    gallery = index.embeddings()
    query_sha = _sha256(query.path)
    own = [{"path": str(index.path_of(entry)), "label": entry.label, "how": "same content"}
           for entry in index.entries if query_sha is not None and entry.sha256 == query_sha]
    want = min(len(gallery), k + len(own) + EXTRA_CANDIDATES)
    while True:
        order, similarity = nearest(gallery, query_vector, want)
        hits, near_copies = _fold(index, gallery, order[0], similarity[0], query_sha, k)
        if len(hits) >= k or want >= len(gallery):
            break
        want = min(len(gallery), 2 * want)
    own += near_copies
    neighbours = Neighbours(hits, None, own, _notes(hits))
    if inside is False:  # the same rule as a pair's verdict: an image outside the domain is not assessed
        neighbours.vote = ("no vote: the query lies outside this model's domain, so its nearest cases say nothing "
                           "about it")
        return neighbours
    label, count = vote([hit["label"] for hit in hits])
    if label is not None:
        # Worded as what it is: which labels the nearest-looking cases carry, not what the query is.
        neighbours.vote = (f"{count} of the {len(hits)} nearest-looking known cases are labelled {label} "
                           f"(a likeness of appearance, not a diagnosis)")
    return neighbours


def _fold(index: GalleryIndex, gallery: np.ndarray, order, similarity, query_sha, k: int):
    """(up to k hits in rank order, near-duplicates folded into the nearest kept hit; near copies of the query)."""
    hits: list[dict] = []
    kept_rows: list[int] = []
    near_copies = []
    for row, sim in zip(order, similarity, strict=True):
        entry = index.entries[int(row)]
        path = str(index.path_of(entry))
        if query_sha is not None and entry.sha256 == query_sha:
            continue  # the query itself: named in Neighbours.own, never a case
        if distance_from_similarity(float(sim)) < NEAR_DUPLICATE_DISTANCE:
            near_copies.append({"path": path, "label": entry.label, "how": "near-duplicate"})
            continue
        if kept_rows:
            cosine = gallery[kept_rows] @ gallery[int(row)]
            distance = np.sqrt(np.clip(2.0 - 2.0 * cosine, 0.0, 4.0))
            closest = int(np.argmin(distance))
            if distance[closest] < NEAR_DUPLICATE_DISTANCE:
                hits[closest]["folded"].append(path)
                continue
        if len(hits) < k:
            hits.append({"rank": len(hits) + 1, "path": path, "sha256": entry.sha256, "label": entry.label,
                         "similarity": round(float(sim), 6), "folded": []})
            kept_rows.append(int(row))
    return hits, near_copies


def _notes(hits: list[dict]) -> list[str]:
    folded = sum(len(hit["folded"]) for hit in hits)
    if not folded:
        return []
    return [f"{folded} near-duplicate{'s' if folded > 1 else ''} of the cases shown folded into them "
            "(copies of one picture count once)"]


def _sha256(path) -> str | None:
    if not path:
        return None
    try:
        return file_sha256(Path(path))
    except OSError:
        return None


def embed_and_check(model, image):
    """((1, D) embedding of `image` as explain_pair sees it, whether it lies inside the model's domain: True,
    False, or None when the model cannot tell), from one forward pass: what a similar-case query needs."""
    import torch

    from core.explain.pair import model_view
    from core.trust.checks import in_domain, stage_probe
    from core.trust.domain_view import features_of

    view, _box = model_view(model, image)
    model.eval()
    with torch.no_grad():
        x = model.input_tensor(view)
        embedding = model.embed(x) if model.config.tta != "none" else None  # its views would overwrite the stages
        with stage_probe(model) as stages:
            maps = model.features(x)
        if embedding is None:
            embedding = model.embed_from_features(maps)
        inside = in_domain(model, features_of(model, (image,), maps, stages))
    return embedding, None if inside is None else inside[0]
