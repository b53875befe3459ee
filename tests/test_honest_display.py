"""A map that fails its faithfulness check is marked on the image itself (hatched), one the check cannot judge is
captioned so, and a reviewer sees which regions carry the score (the outline of the map's top fifth): the rule is
one function, core.trust.checks.check_verdict."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from core.explain.faithfulness import faithfulness
from core.explain.overlay import TOP_SHARE, draw_top_contour, hatch, top_contours, top_region
from core.explain.pair import explain_pair
from core.io.images import load_image
from core.model.weights import load_model
from core.review import report_layout
from core.trust.checks import (
    FAITHFUL,
    FLAT,
    INCONCLUSIVE,
    UNFAITHFUL,
    better_than_chance,
    check_verdict,
    faithfulness_text,
)
from tests.test_report import _explanation, render_report, report_facts

# Curves as sidecars written before several random maps were drawn: one random map, no lists.
PASSING = {"deletion_auc_map": 0.2, "deletion_auc_random": 0.4, "insertion_auc_map": 0.7, "insertion_auc_random": 0.5}
FAILING = {**PASSING, "deletion_auc_map": 0.5}


def measured(deletion, insertion, deletions, insertions, moves: float = 0.5) -> dict:
    """A check's result as core.explain.faithfulness writes it: the map's AUCs, each random map's and their mean,
    and curves that move by `moves` from the unperturbed score 0.9."""
    def curve():
        return [0.9, 0.9 - moves, 0.9 - moves, 0.9, 0.9, 0.9]

    return {"deletion_auc_map": deletion, "insertion_auc_map": insertion,
            "deletion_auc_randoms": list(deletions), "insertion_auc_randoms": list(insertions),
            "deletion_auc_random": float(np.mean(deletions)), "insertion_auc_random": float(np.mean(insertions)),
            "deletion_map": curve(), "insertion_map": curve(), "deletion_random": curve(), "insertion_random": curve(),
            "deletion_randoms": [curve() for _ in deletions], "insertion_randoms": [curve() for _ in insertions]}


RANDOMS = (0.3, 0.35, 0.4), (0.5, 0.55, 0.6)  # deletion, insertion AUCs of three random maps
BEATS_EVERY = measured(0.2, 0.7, *RANDOMS)
BEATS_THE_MEAN_ONLY = measured(0.32, 0.7, *RANDOMS)  # deletion: below the mean 0.35, not below 0.3
BELOW_THE_MEAN = measured(0.2, 0.52, *RANDOMS)  # insertion: above one random map, not above their mean 0.55
FLAT_CURVES = measured(0.2, 0.7, *RANDOMS, moves=FLAT / 2)


def test_the_rule_has_three_answers_or_none_when_not_measured():
    assert check_verdict(BEATS_EVERY) == FAITHFUL
    assert check_verdict(BEATS_THE_MEAN_ONLY) == INCONCLUSIVE
    assert check_verdict(BELOW_THE_MEAN) == UNFAITHFUL
    assert check_verdict(measured(0.36, 0.7, *RANDOMS)) == UNFAITHFUL  # deletion alone not better than the mean
    assert check_verdict(measured(0.3, 0.7, *RANDOMS)) == INCONCLUSIVE  # level with the best random map: strict
    assert check_verdict(None) is None and check_verdict({"deletion_auc_map": 0.1}) is None
    assert check_verdict(measured(float("nan"), 0.7, *RANDOMS)) is None


def test_curves_that_hardly_move_are_inconclusive_whatever_the_areas_say():
    assert check_verdict(FLAT_CURVES) == INCONCLUSIVE
    assert check_verdict(measured(0.2, 0.52, *RANDOMS, moves=FLAT / 2)) == INCONCLUSIVE  # not unfaithful either
    assert check_verdict(measured(0.2, 0.7, *RANDOMS, moves=2 * FLAT)) == FAITHFUL
    one_moves = {**FLAT_CURVES, "insertion_randoms": [*FLAT_CURVES["insertion_randoms"][:2], [0.9, 0.5, 0.9]]}
    assert check_verdict(one_moves) == FAITHFUL  # one random map moving the score is enough to judge


def test_an_older_sidecar_with_one_random_map_is_judged_by_the_strict_rule():
    """Without the random maps' lists the mean is the one map: faithful or unfaithful, inconclusive only when flat."""
    assert check_verdict(PASSING) == FAITHFUL and check_verdict(FAILING) == UNFAITHFUL
    still = [0.9, 0.905, 0.9, 0.895, 0.9, 0.9]
    old_flat = {**PASSING, "deletion_map": still, "insertion_map": still, "deletion_random": still,
                "insertion_random": still}
    assert check_verdict(old_flat) == INCONCLUSIVE
    rng = np.random.default_rng(0)
    for _ in range(200):  # one random map: "better than each" and "better than the mean" are the same test
        old = dict(zip(PASSING, rng.random(4), strict=True))
        assert check_verdict(old) == (FAITHFUL if better_than_chance(old) else UNFAITHFUL)


def test_the_words_say_why_a_check_is_inconclusive():
    assert faithfulness_text(FLAT_CURVES) == "check inconclusive (the score hardly moves when regions are hidden)"
    assert faithfulness_text(BEATS_THE_MEAN_ONLY) == ("check inconclusive (better than the random maps' mean but "
                                                      "not than each of them)")
    assert faithfulness_text(BELOW_THE_MEAN) == "this map does not explain the score better than chance"
    # a passing map is compared with the random map it beat by the least
    assert faithfulness_text(BEATS_EVERY) == ("better than each of 3 random maps (deletion AUC 0.200 vs 0.300, "
                                              "insertion 0.700 vs 0.600)")


def _shape_mask(image) -> np.ndarray:
    rgb = np.asarray(image.image, dtype=int)
    return (rgb.max(axis=2) - rgb.min(axis=2)) > 80  # the coloured shape; the background is noisy grey


def test_a_map_of_the_background_only_is_flagged(trained_shapes, shapes_dir):
    """The shapes carry the score: a map that points at everything but the shape fails the product's check, and
    the map of the shape itself is never failed: it passes, or on a pair whose score hardly moves (one of these:
    the whole pair blurred moves it by 0.007) it beats the random maps' mean but not each of them, and the check
    says it cannot tell."""
    model = load_model(trained_shapes[1])
    paths = sorted((shapes_dir / "red_circles").glob("*.png"))
    verdicts: dict[str, list] = {"background": [], "shape": []}
    for first, second in ((0, 5), (3, 7), (2, 9)):
        images = load_image(paths[first]), load_image(paths[second])
        result = explain_pair(model, *images)
        masks = [_shape_mask(image).astype(np.float32) for image in images]
        for name, maps in (("background", tuple(1.0 - m for m in masks)), ("shape", tuple(masks))):
            built = dataclasses.replace(result, factual=maps)
            curves = faithfulness(model, [image.image for image in images], built)
            verdicts[name].append(check_verdict(curves))
    assert verdicts["background"] == [UNFAITHFUL] * 3, verdicts
    assert UNFAITHFUL not in verdicts["shape"] and verdicts["shape"].count(FAITHFUL) >= 2, verdicts


def test_top_region_is_the_top_fifth_and_its_contour_is_drawn():
    ramp = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (50, 1))
    region = top_region(ramp, (100, 50))
    assert region.mean() == pytest.approx(TOP_SHARE, abs=0.02) and region[:, -1].all() and not region[:, 0].any()
    grey = np.full((50, 100, 3), 128, np.uint8)
    drawn = draw_top_contour(grey, ramp)
    changed = np.nonzero(np.abs(drawn.astype(int) - grey).sum(axis=2))[1]
    assert changed.size and abs(np.median(changed) - 80) < 20  # the outline runs along the region's edge
    assert not top_region(np.zeros((4, 4), np.float32), (8, 8)).any()
    assert (hatch(grey) == 40).all(axis=2).mean() > 0.05


def _panel(picture, facts, index: int = 0) -> np.ndarray:
    top = report_layout.panel_top(facts)
    x = report_layout.MARGIN + index * (report_layout.PANEL + report_layout.MARGIN)
    return np.asarray(picture)[top:top + report_layout.PANEL, x:x + report_layout.PANEL]


@pytest.fixture
def pair_of_images():
    from PIL import Image

    from core.io.images import from_pil
    from core.model.network import ModelInfo

    images = (from_pil(Image.new("RGB", (200, 200), (200, 160, 140)), path="/data/a.jpg"),
              from_pil(Image.new("RGB", (200, 200), (190, 150, 130)), path="/data/b.jpg"))
    info = ModelInfo(name="skin", architecture="resnet18", input_size=128, threshold=0.5, sha256="ab" * 32,
                     path="weights/skin.pt", metadata={})
    return _explanation(images[0].size, images[1].size), images, info


def test_the_report_marks_a_failing_map_on_the_image(pair_of_images):
    explanation, images, info = pair_of_images
    layers = ({"factual": 0.5}, {"factual": 0.5})
    pictures = {name: render_report(explanation, images, info, layers=layers, faithfulness=curves)
                for name, curves in (("passing", PASSING), ("failing", FAILING), ("unmeasured", None),
                                     ("inconclusive", BEATS_THE_MEAN_ONLY), ("flat", FLAT_CURVES))}
    facts = report_facts(explanation, images, info, layers=layers)
    panels = {name: _panel(picture, facts) for name, picture in pictures.items()}
    hatched = {name: float((panel == 40).all(axis=2).mean()) for name, panel in panels.items()}
    assert hatched["failing"] > 0.05 and all(hatched[name] < 0.005 for name in hatched if name != "failing")
    # only a failed check hatches the image; a map not judged or judged inconclusive is captioned so (as in the
    # window), a passing one is not: the same picture above the caption's band
    for name in ("inconclusive", "flat"):
        assert np.array_equal(panels["unmeasured"][:-34], panels[name][:-34]), name

    def captioned(panel) -> bool:  # the caption's band across the panel's bottom, in the mark's colour
        return bool(((panel[-34:] == (255, 220, 90)).all(axis=2)).any())

    assert all(captioned(panels[name]) for name in ("failing", "unmeasured", "inconclusive", "flat"))
    assert not captioned(panels["passing"])
    # an inconclusive check has its own words, whichever the reason: not those of a map never checked
    assert np.array_equal(panels["inconclusive"][-34:], panels["flat"][-34:])
    assert not np.array_equal(panels["inconclusive"][-34:], panels["unmeasured"][-34:])
    # the outline of the factual map's top fifth: white pixels in the passing panel's right part (a ramp map)
    white = (panels["passing"] == 255).all(axis=2)
    assert white[:, :report_layout.PANEL // 2].sum() == 0 and white[:, report_layout.PANEL // 2:].sum() > 50


def test_the_report_says_whether_the_map_it_carries_was_checked(pair_of_images):
    """A report exported before the check judged the map (the window's first map, or `explain` without
    --faithfulness) says so beside the method, instead of saying nothing about faithfulness."""
    explanation, images, info = pair_of_images
    layers = ({"factual": 0.5}, {"factual": 0.5})

    def faithfulness_line(shown=explanation, **options):
        facts = report_facts(shown, images, info, layers=layers, **options)
        return dict(report_layout._fact_lines(facts)).get("Faithfulness")

    assert faithfulness_line().startswith("not checked")
    assert "random map" in faithfulness_line(faithfulness=PASSING)
    assert "chance" in faithfulness_line(faithfulness=FAILING)
    assert faithfulness_line(faithfulness=FLAT_CURVES).startswith("check inconclusive (the score hardly moves")
    same = dataclasses.replace(explanation, same_content=True)
    assert faithfulness_line(same) is None  # no maps, nothing to check


def test_the_words_never_print_a_passing_map_level_with_the_random_one():
    """A map passes by any margin; "insertion 0.963 vs 0.963" under "better than a random map" reads as a
    contradiction: the numbers get the decimals that tell them apart."""
    from core.trust.checks import faithfulness_text

    close = {"deletion_auc_map": 0.945, "deletion_auc_random": 0.962, "insertion_auc_map": 0.96312,
             "insertion_auc_random": 0.96304}
    text = faithfulness_text(close)
    assert text.startswith("better than a random map") and "insertion 0.9631 vs 0.9630" in text
    assert "deletion AUC 0.945 vs 0.962" in text  # three decimals where they suffice
    assert faithfulness_text(PASSING) == ("better than a random map (deletion AUC 0.200 vs 0.400, insertion 0.700 "
                                          "vs 0.500)")


def test_a_followup_report_marks_its_maps_by_the_same_rule_as_a_pair_report(tiny_model, monkeypatch):
    """The follow-up report draws the aligned pair's maps: each one carries the check's answer on itself (hatched
    "not better than chance", or "not checked" when no check judged it), never a bare map."""
    from core.followup.visits import followup
    from core.review import followup_report
    from tests.test_followup_history import _loaded, _textured

    result = followup(tiny_model, _loaded(_textured(4)), _loaded(_textured(5), "later.png"))
    marks = []

    def spy(rgb, faithfulness, same_content=False):
        marks.append(check_verdict(faithfulness))
        return report_layout.checked_map(rgb, faithfulness, same_content)

    monkeypatch.setattr(followup_report, "checked_map", spy)
    pages = {}
    for name, curves in (("unchecked", None), ("failing", BELOW_THE_MEAN), ("passing", BEATS_EVERY)):
        facts = followup_report.followup_report_facts(result, tiny_model, faithfulness=curves)
        assert ("faithfulness" in facts) == (curves is not None)
        pages[name] = np.asarray(followup_report.render(result, facts))
    assert marks == [None] * 3 + [check_verdict(BELOW_THE_MEAN)] * 3 + [check_verdict(BEATS_EVERY)] * 3
    assert check_verdict(BELOW_THE_MEAN) == UNFAITHFUL
    assert not np.array_equal(pages["failing"], pages["passing"])  # the hatch is on the page
    assert not np.array_equal(pages["unchecked"], pages["passing"])  # so is "not checked"


def test_a_similar_case_report_marks_its_unchecked_maps_and_withholds_those_of_a_pair_not_assessed(monkeypatch):
    """`retrieve --report` draws each hit's first map, which no check judged: it says so on the map; a hit whose
    pair is not assessed (outside the domain) shows its images without a map, as every picture of a pair does."""
    from types import SimpleNamespace

    from PIL import Image

    from core.review import retrieval_report

    marked = []

    def spy(rgb, curves, same_content=False):
        marked.append(curves)
        return report_layout.checked_map(rgb, curves, same_content)

    monkeypatch.setattr(retrieval_report, "checked_map", spy)
    picture = SimpleNamespace(image=Image.new("RGB", (64, 64), (180, 120, 100)))
    hot = np.zeros((8, 8), np.float32)
    hot[2:5, 2:5] = 1.0

    def explained(verdict, in_domain):
        return SimpleNamespace(verdict=verdict, in_domain=in_domain, same_content=False, factual=(hot, hot))

    facts = {"vote": None, "query": {"path": "q.png"}, "model": {"name": "tiny"}, "created": "now", "colormap": "jet",
             "hits": [{"rank": 1, "similarity": 0.9, "path": "a.png"}, {"rank": 2, "similarity": 0.8, "path": "b.png"}]}
    pairs = [explained("similar", (True, True)), explained("not assessed", (True, False))]
    page = retrieval_report.render_retrieval(facts, [picture] * 2, [picture] * 2, pairs)
    assert marked == [None, None]  # the assessed hit's two maps, each marked "not checked"; none for the other
    rows = np.asarray(page)
    top = retrieval_report.MARGIN + 62 + 18  # the first row starts under a one-line header
    second = rows[top + retrieval_report.THUMB + retrieval_report.ROW_GAP:][:retrieval_report.THUMB]
    assert len(np.unique(second[:, :retrieval_report.MARGIN + retrieval_report.THUMB].reshape(-1, 3), axis=0)) <= 2


def test_top_contours_trace_the_top_at_the_map_s_size_or_another():
    ys, xs = np.mgrid[0:40, 0:60]
    blob = np.exp(-((xs - 40.0) ** 2 + (ys - 15.0) ** 2) / 200.0).astype(np.float32)  # its top fifth: one disc
    (own,) = top_contours(blob)
    assert cv2.contourArea(own) == pytest.approx(TOP_SHARE * blob.size, rel=0.15)
    assert own.mean(axis=0) == pytest.approx((40, 15), abs=1.5)
    (doubled,) = top_contours(blob, (120, 80))  # the same outline at twice the size
    assert cv2.contourArea(doubled) == pytest.approx(4 * cv2.contourArea(own), rel=0.1)
    assert doubled.mean(axis=0) == pytest.approx((81, 31), abs=2.5)
    assert top_contours(np.zeros((8, 8), np.float32)) == []


@pytest.mark.parametrize("curves", [None, FAILING, BEATS_THE_MEAN_ONLY], ids=["unchecked", "failing", "inconclusive"])
def test_the_check_s_words_go_under_the_map_never_over_its_bottom(curves):
    """The words were drawn in a band over the panel's bottom 34 px: a lesion reaching the crop's lower edge (an
    automatic crop is tight) lost its lower part under "map not better than chance". The band goes under the picture,
    shrunk to make room; the panel keeps its size."""
    rgb = np.full((300, 300, 3), 200, np.uint8)
    rgb[-20:] = (200, 0, 0)  # the picture's bottom rows: a lesion's lower edge
    panel = np.asarray(report_layout.checked_map(rgb, curves)).astype(int)
    assert panel.shape == rgb.shape
    band = report_layout.MARK_BAND
    assert (np.abs(panel[-band:, :, :3] - (255, 220, 90)).sum(axis=2) < 30).any()  # the words, in the band
    red = (panel[..., 0] > 90) & (panel[..., 1] < 60) & (panel[..., 2] < 60)  # hatched: dimmed towards grey
    rows = np.nonzero(red.any(axis=1))[0]
    assert len(rows) >= 15 and rows.max() < 300 - band  # the whole lower edge, above the band
