"""How far a score can be trusted, at inference: calibrated probability, out-of-domain check, same-content
detection, and the words for them.

These read the model's metadata ("calibration", "domain"); a model without them (older files, untrained) gets
None, never a guess. Fitting them is core.evaluation.calibrate's.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext

import numpy as np

from core.io.files import first_line, printable
from core.trust import calibration, domain  # numpy only: the GUI thread may use the words without torch


# --- inference --------------------------------------------------------------------------------------------
def probability_same(model, similarity: float) -> float | None:
    fitted = model.metadata.get("calibration")
    if not isinstance(fitted, dict):
        return None
    try:
        return float(calibration.apply(fitted, similarity))
    except (KeyError, TypeError, ValueError):
        return None


def stage_probe(model):
    """Context manager around the forward pass whose features in_domain will read: it captures the statistics
    of the stages the model's domain summary compares (core.trust.stage_stats) into the dict it yields; a model
    without a version-2 summary gets an empty dict and no hooks."""
    summary = model.metadata.get("domain")
    try:
        indices = [int(stage["index"]) for stage in summary["stages"]] if summary.get("version") else []
    except (AttributeError, KeyError, TypeError, ValueError):
        indices = []
    if not indices:
        return nullcontext({})
    from core.trust.stage_stats import capture

    return capture(model, indices)


def domain_features(feature_maps, stages: Mapping | None = None, whole=None) -> dict:
    """What the domain and same-content checks compare. "pooled": the target layer's maps (N, C, h, w),
    average-pooled, not normalised (version 1, and the same-content check); "stages": what stage_probe
    captured (versions 2 and 3); "whole": the uncropped images' view (core.trust.field_of_view.for_model; version 3,
    None when the summary has none). Not the embeddings: contrastive training folds every input, a daisy
    included, onto a few tight clusters of the embedding sphere (daisies were 0.3 % flagged there)."""
    return {"pooled": feature_maps.detach().float().mean(dim=(2, 3)).cpu().numpy(), "stages": dict(stages or {}),
            "whole": whole}


def in_domain(model, features: dict) -> tuple | None:
    """Per image, inside the model's domain; `features` from domain_features. None: the model cannot tell."""
    return domain_check(model, features)[0]


def domain_check(model, features: dict) -> tuple[tuple | None, str]:
    """(in_domain, why not): per image inside the domain and "", or None and why the check could not run, which
    every verdict then states (core.trust.verdict.judge): an edited summary must not pass for a checked pair."""
    summary = model.metadata.get("domain")
    if summary is None:
        return None, "this model has no domain summary"
    if not isinstance(summary, dict):
        return None, "this model's domain summary is not an object"
    try:
        return tuple(bool(v) for v in domain.check(summary, features)), ""
    except KeyError as exc:
        return None, f"this model's domain summary is malformed (no {printable(repr(exc.args[0]), 40)})"
    except (TypeError, ValueError, AttributeError, IndexError) as exc:  # a summary edited by hand
        return None, f"this model's domain summary is malformed ({first_line(exc, 100)})"


def same_content(model, distance: float, features) -> bool:
    """The pair is (nearly) the same image content: embeddings within DEFAULT_DUPLICATE_DISTANCE and, where the
    model has a domain summary, backbone features closer than any two distinct training images."""
    if not distance <= domain.DEFAULT_DUPLICATE_DISTANCE:
        return False
    summary = model.metadata.get("domain")
    try:
        limit = float(summary["duplicate_distance"])
        pooled = features["pooled"]
        gap = float(np.linalg.norm(np.asarray(pooled[0], np.float64) - np.asarray(pooled[1], np.float64)))
    except (KeyError, TypeError, ValueError, IndexError):
        return True
    return gap <= limit


# --- words ------------------------------------------------------------------------------------------------
def describe_trust(result, faithful: dict | None = None, band: tuple[float, float] | None = None) -> list[str]:
    """Plain-text lines (CLI) for the verdict, the calibrated probability and faithfulness; the domain and
    same-content warnings are the verdict's reason. `band`: the model's, so P prints as the reason does."""
    from core.trust.verdict import shown_probability, withholds

    lines = [f"verdict: {result.verdict.upper()} ({result.verdict_reason})"]
    withheld = withholds(result.verdict, result.in_domain)  # outside the domain: no number reads as a result
    if result.probability_same is not None:
        shown = "withheld (not assessed)" if withheld else f"{shown_probability(result.probability_same, band)}"
        lines.append(f"probability same class {shown} (calibrated)")
    if faithful:
        lines.append(f"faithfulness: {'withheld (not assessed)' if withheld else faithfulness_text(faithful)}")
    return lines


def better_than_chance(faithful: dict) -> bool:
    """The earlier single-map rule, kept for benchmarks/bench_explanations.py's CHOOSE rule and for comparing the
    rules (benchmarks/bench_check_margin.py): blurring the map's top regions away lowers the score faster
    (deletion) AND restoring them raises it faster (insertion) than for the (mean) random map, strictly. The
    displays follow check_verdict."""
    return (faithful["deletion_auc_map"] < faithful["deletion_auc_random"]
            and faithful["insertion_auc_map"] > faithful["insertion_auc_random"])


# The check's three answers (check_verdict), as the faithfulness JSON stores them under "verdict".
FAITHFUL = "faithful"
INCONCLUSIVE = "inconclusive"
UNFAITHFUL = "unfaithful"
# The score "hardly moves" when every curve, the map's and each random map's, stays within FLAT of the unperturbed
# explained score: then any two AUCs differ by at most 2 x FLAT = 0.02, below the median gap between two random
# maps' AUCs on validation pairs (0.022 skin, 0.029 flowers: benchmarks/bench_check_margin.py), so any ordering of
# them is noise. Chosen on validation pairs, where it fires on 2-3 of 38 skin pairs and no flower pair
# (docs/explanations.md).
FLAT = 0.01

# Written on a map that failed the check, in the window and in every report picture.
UNFAITHFUL_MARK = "map not better than chance"
# Written (without the hatch) on a map the check could not judge either way: better than chance or not.
INCONCLUSIVE_MARK = "map: check inconclusive"
# Written (without the hatch) on a map the window shows before its check has judged it: the first map while the
# refinement and the check run in the background, or a map whose check could not run.
UNCHECKED_MARK = "map not yet checked"
# Written (without the hatch) on a map a report carries unjudged: "not yet" would promise a check a page never gets.
UNCHECKED_REPORT_MARK = "map not checked for faithfulness"
# A report's words for a map it carries unjudged (exported before the check, or `explain` without --faithfulness).
UNCHECKED_LINE = "not checked: whether this map explains the score better than chance was not measured"


def check_verdict(faithful: dict | None) -> str | None:
    """The one rule every display follows, for core.explain.faithfulness's curves: FAITHFUL when the map's deletion
    AUC lies below EVERY random map's and its insertion AUC above every one's (a map no better than random does so
    on a curve about one time in K + 1); UNFAITHFUL when it is not better than the random maps' mean on at least
    one curve; INCONCLUSIVE otherwise, and whenever the score hardly moves (flat). None while the map is not
    measured or the curves are unreadable.

    Curves from before several random maps were drawn (one random map, no "*_auc_randoms"): the mean is that one
    map, so the comparison can only say FAITHFUL or UNFAITHFUL (the earlier strict rule); flat curves still make
    it INCONCLUSIVE."""
    if not isinstance(faithful, dict):
        return None
    try:
        deletion, insertion = float(faithful["deletion_auc_map"]), float(faithful["insertion_auc_map"])
        deletions = _randoms(faithful, "deletion")
        insertions = _randoms(faithful, "insertion")
    except (KeyError, TypeError, ValueError):
        return None
    if not all(np.isfinite([deletion, insertion, *deletions, *insertions])):
        return None
    if flat(faithful):
        return INCONCLUSIVE
    if not (deletion < float(np.mean(deletions)) and insertion > float(np.mean(insertions))):
        return UNFAITHFUL
    if deletion < min(deletions) and insertion > max(insertions):
        return FAITHFUL
    return INCONCLUSIVE


def _randoms(faithful: dict, mode: str) -> list[float]:
    """Each random map's AUC of `mode`; the one (mean) AUC of curves that carry no list."""
    values = faithful.get(f"{mode}_auc_randoms")
    if not values:
        values = [faithful[f"{mode}_auc_random"]]
    return [float(v) for v in values]


def flat(faithful: dict) -> bool:
    """Every curve present (the map's, each random map's, or their mean for older curves) stays within FLAT of the
    unperturbed explained score (the deletion curve's first point); False when the curves are missing."""
    try:
        original = float(faithful["deletion_map"][0])
        curves = [faithful["deletion_map"], faithful["insertion_map"]]
        for mode in ("deletion", "insertion"):
            curves += faithful.get(f"{mode}_randoms") or [faithful[f"{mode}_random"]]
        return all(abs(float(v) - original) <= FLAT for curve in curves for v in curve)
    except (KeyError, TypeError, ValueError, IndexError):
        return False


def faithfulness_text(faithful: dict | None) -> str:
    """One line a reader can act on (why, for an inconclusive check; UNCHECKED_LINE for no readable curves); the
    AUCs stay in the JSON and in the technical section."""
    verdict = check_verdict(faithful)
    if verdict is None or faithful is None:  # no curves, or curves that cannot be read: they judge nothing
        return UNCHECKED_LINE
    if verdict == INCONCLUSIVE:
        why = ("the score hardly moves when regions are hidden" if flat(faithful)
               else "better than the random maps' mean but not than each of them")
        return f"check inconclusive ({why})"
    if verdict == UNFAITHFUL:
        return "this map does not explain the score better than chance"
    deletions, insertions = _randoms(faithful, "deletion"), _randoms(faithful, "insertion")
    deletion = _versus(faithful["deletion_auc_map"], min(deletions))  # the random map it beat by the least
    insertion = _versus(faithful["insertion_auc_map"], max(insertions))
    maps = "a random map" if len(deletions) == 1 else f"each of {len(deletions)} random maps"
    return f"better than {maps} (deletion AUC {deletion}, insertion {insertion})"


def _versus(map_auc: float, random_auc: float) -> str:
    """"0.945 vs 0.962": three decimals, more (up to six) when three would print a passing map level with chance."""
    for decimals in range(3, 7):
        shown = f"{map_auc:.{decimals}f}", f"{random_auc:.{decimals}f}"
        if shown[0] != shown[1]:
            break
    return f"{shown[0]} vs {shown[1]}"
