"""The one verdict (core.trust.verdict): it never contradicts the calibrated probability, an image outside the domain is
never decided, the band comes from the model's metadata, and every output (API, JSON, batch, evaluate) carries it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.explain.pair import explain_pair
from core.io.images import load_image
from core.model.weights import load_model, save_model
from core.trust import verdict

probabilities = st.floats(0.0, 1.0, allow_nan=False)
bands = st.tuples(st.floats(0.0, 0.5), st.floats(0.5, 1.0))
domains = st.one_of(st.none(), st.tuples(st.booleans(), st.booleans()))


@settings(max_examples=500, deadline=None)
@given(probabilities, bands, domains, st.booleans())
def test_the_verdict_never_contradicts_the_probability(p, band, in_domain, same_content):
    judged = verdict.judge(p, band, in_domain, same_content)
    assert judged.label in verdict.VERDICTS and judged.reason and "\n" not in judged.reason
    if judged.label == verdict.SIMILAR:
        assert p >= 0.5 and p > band[1]
    if judged.label == verdict.DIFFERENT:
        assert p <= 0.5 and p < band[0]
    if judged.label == verdict.INCONCLUSIVE:
        assert band[0] <= p <= band[1]
    if in_domain is not None and not all(in_domain):  # a flagged image is never decided
        assert judged.label == verdict.NOT_ASSESSED and "outside this model's domain" in judged.reason


@settings(max_examples=200, deadline=None)
@given(st.lists(probabilities, min_size=1, max_size=60), bands)
def test_vectorised_labels_agree_with_judge(ps, band):
    expected = {verdict.SIMILAR: 1, verdict.DIFFERENT: 0, verdict.INCONCLUSIVE: -1}
    assert verdict.labels(ps, band).tolist() == [expected[verdict.judge(p, band, (True, True)).label] for p in ps]


def test_no_calibration_or_band_means_not_assessed():
    assert verdict.judge(None, (0.3, 0.7)).label == verdict.NOT_ASSESSED
    assert verdict.judge(0.99, None).label == verdict.NOT_ASSESSED
    assert verdict.band_of({}) is None and verdict.band_of({"verdict": {"band": [0.6, 0.9]}}) is None  # 0.5 outside
    assert verdict.band_of({"verdict": {"band": [0.2, 0.7]}}) == (0.2, 0.7)


def test_fit_band_reaches_its_target_and_a_weak_model_decides_nothing():
    rng = np.random.default_rng(0)
    same = rng.integers(0, 2, 3000)
    # Informative: confident pairs are right, pairs near 0.5 a coin toss.
    p = np.clip(0.5 + (same - 0.5) * rng.uniform(0, 1, same.size) + rng.normal(0, 0.12, same.size), 0, 1)
    fitted = verdict.fit_band(p[:1500], same[:1500])
    low, high = fitted["band"]
    assert 0 <= low <= 0.5 <= high <= 1 and fitted["selective_accuracy"] >= verdict.TARGET_ACCURACY
    assert 0.3 < fitted["coverage"] < 1.0  # it decides many pairs, not all
    held_out = verdict.selective(p[1500:], same[1500:], (low, high))
    assert held_out["accuracy"] > 0.88  # and holds roughly on new pairs
    # Uninformative probabilities: no band is accurate enough, so nothing is decided.
    noise = verdict.fit_band(rng.uniform(0, 1, 1000), rng.integers(0, 2, 1000))
    assert noise["band"] == [0.0, 1.0] and noise["coverage"] == 0.0
    assert verdict.judge(0.97, tuple(noise["band"]), (True, True)).label == verdict.INCONCLUSIVE


def test_risk_coverage_ends_at_full_coverage():
    rng = np.random.default_rng(1)
    same = rng.integers(0, 2, 400)
    p = np.clip(same * 0.4 + rng.uniform(0, 0.6, 400), 0, 1)
    curve = verdict.risk_coverage(p, same)
    assert curve["coverage"][-1] == 1.0 and len(curve["coverage"]) == len(curve["accuracy"])
    assert np.all(np.diff(curve["coverage"]) >= 0)


def _with_band(shapes_copy, band, tmp_path, name):
    model = load_model(shapes_copy)
    path = tmp_path / f"{name}.pt"
    save_model(model, path, {"verdict": {**model.metadata["verdict"], "band": band}})
    return load_model(path)


def test_trained_model_has_a_band_and_explain_pair_reads_it_from_metadata(shapes_copy, shapes_dir, tmp_path):
    model = load_model(shapes_copy)
    fitted = model.metadata["verdict"]
    assert verdict.band_of(model.metadata) is not None and "validation" in fitted["fitted_on"]
    paths = sorted((shapes_dir / "red_circles").glob("*.png"))[:2]
    images = [load_image(p) for p in paths]
    result = explain_pair(model, *images)
    assert result.verdict == verdict.judge(result.probability_same, verdict.band_of(model.metadata),
                                           result.in_domain, result.same_content).label
    # The same pair under a band that decides nothing, and under one that decides everything.
    wide = explain_pair(_with_band(shapes_copy, [0.0, 1.0], tmp_path, "wide"), *images)
    assert wide.verdict in (verdict.INCONCLUSIVE, verdict.NOT_ASSESSED)
    narrow = explain_pair(_with_band(shapes_copy, [0.5, 0.5], tmp_path, "narrow"), *images)
    if all(narrow.in_domain) and narrow.probability_same != 0.5:
        assert narrow.verdict == (verdict.SIMILAR if narrow.probability_same > 0.5 else verdict.DIFFERENT)


def test_a_flagged_image_is_never_decided(shapes_copy, shapes_dir, tmp_path):
    model = load_model(shapes_copy)
    summary = dict(model.metadata["domain"], threshold=-1.0)  # every image lies beyond it
    path = tmp_path / "strict.pt"
    save_model(model, path, {"domain": summary})
    paths = sorted((shapes_dir / "red_circles").glob("*.png"))[:2]
    result = explain_pair(load_model(path), load_image(paths[0]), load_image(paths[1]))
    assert result.in_domain == (False, False) and result.verdict == verdict.NOT_ASSESSED
    assert result.verdict_reason.startswith("both images are outside")


def test_cli_json_carries_verdict_and_reason(shapes_copy, image_pair):
    done = subprocess.run([sys.executable, "main.py", "explain", str(image_pair[0]), str(image_pair[1]), "--model",
                           str(shapes_copy), "--json", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["verdict"] in verdict.VERDICTS and facts["verdict_reason"]
    assert facts["model"]["verdict_band"] == list(verdict.band_of(load_model(shapes_copy).metadata))
    judged = verdict.judge(facts["probability_same"], tuple(facts["model"]["verdict_band"]), facts["in_domain"],
                           facts["same_content"])
    assert (facts["verdict"], facts["verdict_reason"]) == (judged.label, judged.reason)
    text = subprocess.run([sys.executable, "main.py", "explain", str(image_pair[0]), str(image_pair[1]), "--model",
                           str(shapes_copy), "--device", "cpu"], capture_output=True, text=True, timeout=300)
    first = text.stdout.splitlines()[0]
    assert first.startswith(f"verdict: {facts['verdict'].upper()}") and "not for diagnosis" in text.stdout


def test_evaluate_reports_selective_accuracy(shapes_copy, shapes_dir, tmp_path):
    plot = tmp_path / "rc.png"
    done = subprocess.run([sys.executable, "main.py", "evaluate", str(shapes_dir), "--model", str(shapes_copy),
                           "--json", "--device", "cpu", "--include-seen", "--risk-coverage", str(plot)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    selective = json.loads(done.stdout)["selective"]
    assert selective["band"] == list(verdict.band_of(load_model(shapes_copy).metadata))
    assert 0 <= selective["coverage"] <= 1 and selective["decided"] <= selective["pairs"]
    assert plot.stat().st_size > 1000


def test_faithfulness_no_better_than_chance_says_so():
    from core.trust.checks import faithfulness_text

    worse = {"deletion_auc_map": 0.6, "deletion_auc_random": 0.55, "insertion_auc_map": 0.7,
             "insertion_auc_random": 0.6}
    assert faithfulness_text(worse) == "this map does not explain the score better than chance"
    better = dict(worse, deletion_auc_map=0.5)
    assert faithfulness_text(better).startswith("better than a random map")


@pytest.mark.parametrize("same_content", [False, True])
def test_same_content_is_said(same_content):
    judged = verdict.judge(0.99, (0.3, 0.7), (True, True), same_content)
    assert judged.label == verdict.SIMILAR and ("same image content" in judged.reason) == same_content


def test_similar_cases_give_no_vote_for_a_query_outside_the_domain(shapes_copy, shapes_dir, tmp_path):
    from core.review.gallery import build_index
    from core.review.neighbours import nearest_cases

    model = load_model(shapes_copy)
    query = load_image(sorted((shapes_dir / "red_circles").glob("*.png"))[0])
    index, _ = build_index(model, shapes_dir, out=tmp_path / "index")
    vote = nearest_cases(model, index, query, 5).vote
    assert vote is None or "labelled" in vote
    strict = tmp_path / "strict.pt"
    save_model(model, strict, {"domain": dict(model.metadata["domain"], threshold=-1.0)})
    strict_model = load_model(strict)
    index, _ = build_index(strict_model, shapes_dir, out=tmp_path / "index2")
    found = nearest_cases(strict_model, index, query, 5)
    hits, vote = found.hits, found.vote
    assert hits and vote.startswith("no vote: the query lies outside this model's domain")


def test_the_printed_probability_never_contradicts_the_band_it_is_compared_with():
    """Issue #33: 16.8 % was printed "P 17 % is below the band 17-81 %". Every number a reason prints compares
    with the printed band edges as the verdict says, near the edges too."""
    import re

    for band in ((0.17, 0.81), (0.3, 0.7), (0.5, 0.5)):
        edges = [float(f"{100 * edge:.0f}") for edge in band]
        grid = [edge + step for edge in band for step in np.linspace(-0.012, 0.012, 97)] + [0.16999999, 0.8100001]
        for p in grid:
            if not 0.0 <= p <= 1.0:
                continue
            judged = verdict.judge(p, band, (True, True))
            number = re.search(r"P\(same class\) (just under |just over )?([0-9.]+) %", judged.reason)
            assert number, judged.reason
            qualifier, printed = number.group(1), float(number.group(2))
            if judged.label == verdict.DIFFERENT:
                assert printed < edges[0] or qualifier == "just under ", judged.reason
            elif judged.label == verdict.SIMILAR:
                assert printed > edges[1] or qualifier == "just over ", judged.reason
            else:
                assert edges[0] <= printed <= edges[1], judged.reason
    assert "16.8 %" in verdict.judge(0.168, (0.17, 0.81), (True, True)).reason
    assert verdict.shown_probability(0.168, (0.17, 0.81)) == "16.8 %"
    assert verdict.shown_probability(0.5, (0.17, 0.81)) == "50 %"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), probabilities), st.one_of(st.none(), bands), st.booleans())
def test_every_verdict_says_when_the_domain_could_not_be_checked_and_why(p, band, same_content):
    """An inconclusive verdict said nothing of a domain check that could not run; a decided one did."""
    judged = verdict.judge(p, band, None, same_content, "this model's domain summary is malformed (no 'x')")
    assert judged.reason.endswith("; domain not checked: this model's domain summary is malformed (no 'x')")
    assert "domain not checked" not in verdict.judge(p, band, (True, True), same_content).reason


def test_an_edited_domain_summary_is_disclosed_in_every_output(shapes_copy, image_pair, tmp_path):
    """Issue: domain={"junk": 1} in a weights file lost the out-of-domain check silently for an inconclusive pair."""
    from core.explain.facts import explanation_facts
    from core.review.report_layout import _trust_lines
    from core.trust.checks import describe_trust

    model = load_model(shapes_copy)
    path = tmp_path / "junk.pt"
    save_model(model, path, {"domain": {"junk": 1}, "verdict": {**model.metadata["verdict"], "band": [0.0, 1.0]}})
    model = load_model(path)
    images = [load_image(p) for p in image_pair]
    result = explain_pair(model, *images)
    why = "domain not checked: this model's domain summary is malformed (no 'embeddings')"
    assert result.in_domain is None and result.verdict == verdict.INCONCLUSIVE
    assert result.verdict_reason.endswith(why)  # the window's score panel shows this reason
    assert why in describe_trust(result)[0]  # the CLI's first line
    facts = explanation_facts(result, images, model)
    assert facts["domain_unchecked"] == why and facts["verdict_reason"].endswith(why)  # JSON
    assert ("Domain", why) in _trust_lines(facts)  # every report page (PNG, PDF, DICOM), past the clipped reason
    fine = explanation_facts(explain_pair(load_model(shapes_copy), *images), images, model)
    assert fine["domain_unchecked"] is None and "domain not checked" not in fine["verdict_reason"]
