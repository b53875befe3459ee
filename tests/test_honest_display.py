"""A map that fails its faithfulness check is marked on the image itself, and a reviewer sees which regions carry
the score (the outline of the map's top fifth): the rule is one function, core.trust.checks.map_faithful."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.explain.faithfulness import faithfulness
from core.explain.overlay import TOP_SHARE, draw_top_contour, hatch, top_region
from core.explain.pair import explain_pair
from core.io.images import load_image
from core.model.weights import load_model
from core.review import report_layout
from core.trust.checks import map_faithful
from tests.test_report import _explanation, render_report, report_facts

PASSING = {"deletion_auc_map": 0.2, "deletion_auc_random": 0.4, "insertion_auc_map": 0.7, "insertion_auc_random": 0.5}
FAILING = {**PASSING, "deletion_auc_map": 0.5}


def test_the_rule_is_true_false_or_not_measured():
    assert map_faithful(PASSING) is True
    assert map_faithful(FAILING) is False
    assert map_faithful(None) is None and map_faithful({"deletion_auc_map": 0.1}) is None


def _shape_mask(image) -> np.ndarray:
    rgb = np.asarray(image.image, dtype=int)
    return (rgb.max(axis=2) - rgb.min(axis=2)) > 80  # the coloured shape; the background is noisy grey


def test_a_map_of_the_background_only_is_flagged(trained_shapes, shapes_dir):
    """The shapes carry the score: a map that points at everything but the shape fails the product's check,
    and the map of the shape itself passes it."""
    model = load_model(trained_shapes[1])
    paths = sorted((shapes_dir / "red_circles").glob("*.png"))
    verdicts = {"background": [], "shape": []}
    for first, second in ((0, 5), (3, 7), (2, 9)):
        images = load_image(paths[first]), load_image(paths[second])
        result = explain_pair(model, *images)
        masks = [_shape_mask(image).astype(np.float32) for image in images]
        for name, maps in (("background", tuple(1.0 - m for m in masks)), ("shape", tuple(masks))):
            built = dataclasses.replace(result, factual=maps)
            verdicts[name].append(map_faithful(faithfulness(model, [image.image for image in images], built)))
    assert verdicts["background"] == [False] * 3, verdicts
    assert verdicts["shape"] == [True] * 3, verdicts


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
                for name, curves in (("passing", PASSING), ("failing", FAILING), ("unmeasured", None))}
    facts = report_facts(explanation, images, info, layers=layers)
    panels = {name: _panel(picture, facts) for name, picture in pictures.items()}
    hatched = {name: float((panel == 40).all(axis=2).mean()) for name, panel in panels.items()}
    assert hatched["failing"] > 0.05 and hatched["passing"] < 0.005 and hatched["unmeasured"] < 0.005
    # only a failed check hatches the image; a map not judged is captioned so (as in the window), a passing one is not
    assert np.array_equal(panels["passing"][:-34], panels["unmeasured"][:-34])

    def captioned(panel) -> bool:  # the caption's band across the panel's bottom, in the mark's colour
        return bool(((panel[-34:] == (255, 220, 90)).all(axis=2)).any())

    assert captioned(panels["failing"]) and captioned(panels["unmeasured"]) and not captioned(panels["passing"])
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
