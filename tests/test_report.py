"""core.review.report: the picture, the JSON sidecar, atomic writing and refusal to overwrite."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from core.explain.facts import explanation_facts
from core.explain.pair import Explanation
from core.io import files
from core.io.images import from_pil
from core.model.network import ModelInfo
from core.review import outputs, report, report_layout


def report_facts(explanation, images, model, **options) -> dict:
    """What a report's sidecar holds for these options, as core.review.outputs builds it."""
    return report.sidecar_facts(explanation_facts(explanation, images, model), **options)


def render_report(explanation, images, model, **options) -> Image.Image:
    """The report picture alone, as core.review.outputs draws it."""
    return report_layout.render(explanation, images, report_facts(explanation, images, model, **options))


def _explanation(size1, size2) -> Explanation:
    def ramp(size):
        w, h = size
        return np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))

    return Explanation(similarity=0.734, distance=0.532, decision="similar", threshold=0.5, method="gradcam",
                       factual=(ramp(size1), ramp(size2)), counterfactual=(ramp(size1)[::-1], ramp(size2)[::-1]),
                       signed_cams=(np.zeros((2, 2)), np.zeros((2, 2))), timings_ms={"total": 12.0})


@pytest.fixture
def pair():
    wide = Image.new("RGB", (300, 100), (200, 180, 160))
    tall = Image.new("RGB", (80, 160), (90, 120, 200))
    image1 = from_pil(wide, crop=(10, 0, 200, 100), path="/data/a.jpg")
    image2 = from_pil(tall, path="/data/b.png")
    info = ModelInfo(name="skin-v1", architecture="resnet18", input_size=128, threshold=0.5, sha256="ab" * 32,
                     path="weights/skin.pt", metadata={"test_metrics": {"accuracy": 0.91, "auc": 0.95}})
    return _explanation(image1.size, image2.size), (image1, image2), info


def test_facts_state_everything_the_report_shows(pair):
    explanation, images, info = pair
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    facts = report_facts(explanation, images, info, colormaps={"factual": "viridis"}, note="check edge",
                                layers=({"factual": 0.7}, {"counterfactual": 0.4}), when=when)
    assert facts["similarity"] == pytest.approx(0.734) and facts["decision"] == "similar"
    assert facts["model"]["sha256"] == "ab" * 32 and facts["model"]["test_metrics"]["auc"] == 0.95
    assert facts["images"][0]["crop"] == [10, 0, 200, 100] and facts["images"][1]["crop"] is None
    assert facts["images"][0]["layers"] == {"factual": 0.7, "counterfactual": 0.0}
    assert facts["created"] == "2024-05-06T07:08:09+00:00" and facts["note"] == "check edge"


def test_render_keeps_aspect_ratio_and_draws_overlays(pair):
    explanation, images, info = pair
    plain = render_report(explanation, images, info, layers=({}, {}))
    heated = render_report(explanation, images, info, layers=({"factual": 1.0}, {"factual": 1.0}))
    assert plain.size == heated.size and plain.width >= 1000
    diff = np.abs(np.asarray(plain, dtype=int) - np.asarray(heated, dtype=int)).sum(axis=2)
    top = report_layout.panel_top(report_facts(explanation, images, info))  # the image panels' row
    rows, cols = np.nonzero(diff[top: top + report_layout.PANEL, : plain.width // 2])
    # image 1 is 200x100 after its crop: the overlaid region is twice as wide as it is tall
    assert (np.ptp(cols) + 1) / (np.ptp(rows) + 1) == pytest.approx(2.0, rel=0.03)



def test_a_crop_of_a_very_wide_image_still_gets_its_report(pair):
    # 6000 x 16 px: the crop box on the 160 px overview was under a pixel tall, and Pillow refused to draw it
    # ("y1 must be greater than or equal to y0": the report was not written, the message named no file)
    explanation, (_, image2), info = pair
    strip = from_pil(Image.new("RGB", (6000, 16), (200, 180, 160)), crop=(100, 0, 400, 16), path="/data/strip.png")
    picture = render_report(dataclasses.replace(explanation, factual=(np.zeros((16, 400), np.float32),
                                                                      explanation.factual[1]),
                                                counterfactual=(np.zeros((16, 400), np.float32),
                                                                explanation.counterfactual[1])),
                            (strip, image2), info)
    assert picture.width >= 1000

def test_write_report_writes_png_and_json_and_refuses_overwrite(tmp_path, pair):
    explanation, images, info = pair
    target = tmp_path / "r.png"
    png, sidecar = outputs.write_report(target, explanation, images, info, note="n1")
    assert Image.open(png).format == "PNG"
    assert json.loads(sidecar.read_text())["note"] == "n1" and sidecar == tmp_path / "r.json"
    with pytest.raises(FileExistsError, match="already exists"):
        outputs.write_report(target, explanation, images, info, note="n2")
    outputs.write_report(target, explanation, images, info, note="n2", overwrite=True)
    assert json.loads(sidecar.read_text())["note"] == "n2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.png"]


def test_sidecar_alone_also_blocks_overwrite(tmp_path, pair):
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(FileExistsError):
        outputs.write_report(tmp_path / "r.png", *pair)


def test_full_disk_leaves_no_partial_files(tmp_path, pair, monkeypatch):
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the PNG is in place, the sidecar fails
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(report.ReportError, match="No space left") as caught:
        outputs.write_report(tmp_path / "r.png", *pair)
    assert isinstance(caught.value, OSError) and "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_under_a_file_and_bad_names_are_one_line_errors(tmp_path, pair):
    (tmp_path / "file").write_text("x")
    with pytest.raises(report.ReportError, match="is not a folder"):
        outputs.write_report(tmp_path / "file" / "sub" / "r.png", *pair)
    with pytest.raises(ValueError, match=r"\.png"):
        outputs.write_report(tmp_path / "r.jpg", *pair)
    with pytest.raises(ValueError, match="unknown colormap"):
        outputs.write_report(tmp_path / "r.png", *pair, colormaps={"factual": "rainbow"})


def test_sidecar_names_each_image_by_absolute_path_and_sha256(tmp_path, pair, monkeypatch):
    import hashlib

    explanation, _, info = pair
    Image.new("RGB", (300, 100), (200, 180, 160)).save(tmp_path / "a.png")
    monkeypatch.chdir(tmp_path)
    opened = from_pil(Image.open("a.png").convert("RGB"), crop=(10, 0, 200, 100), path="a.png")  # as the GUI opens it
    pasted = from_pil(Image.new("RGB", (80, 160), (90, 120, 200)))  # from the clipboard: no file
    _, sidecar = outputs.write_report("r.png", explanation, (opened, pasted), info)
    first, second = json.loads(sidecar.read_text())["images"]
    assert first["path"] == str(tmp_path / "a.png") and first["sha256_of"] == "file"
    assert first["sha256"] == hashlib.sha256((tmp_path / "a.png").read_bytes()).hexdigest()
    assert second["path"] is None and second["sha256_of"] == "pixels"
    assert second["sha256"] == hashlib.sha256(pasted.image.tobytes()).hexdigest()


def test_report_into_a_missing_folder_creates_it_and_a_failed_write_removes_it(tmp_path, pair, monkeypatch):
    png, sidecar = outputs.write_report(tmp_path / "new" / "deeper" / "r.png", *pair)
    assert png.exists() and sidecar.exists()

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", no_space)
    with pytest.raises(report.ReportError, match="No space left"):
        outputs.write_report(tmp_path / "other" / "deeper" / "r.png", *pair)
    assert not (tmp_path / "other").exists()  # no empty folders left behind


def test_report_shows_the_whole_image_with_the_crop_box_and_states_the_disclaimer(pair):
    from dataclasses import replace

    from core.vocabulary import DISCLAIMER

    explanation, images, info = pair
    picture = np.asarray(render_report(explanation, images, info))
    without = np.asarray(render_report(explanation, (replace(images[0], overview=None), images[1]), info))
    below = slice(report_layout.panel_top(report_facts(*pair)) + report_layout.PANEL, None)
    box_red = np.all(picture[below] == report_layout.CROP_BOX, axis=2)
    assert box_red.any() and not np.all(without[below] == report_layout.CROP_BOX, axis=2).any()
    columns = np.nonzero(box_red.any(axis=0))[0]
    assert columns.max() < picture.shape[1] // 2  # beside image 1, the cropped one; image 2 is shown whole
    assert report_facts(*pair)["disclaimer"] == DISCLAIMER


def test_counts_print_as_integers_and_rates_with_decimals(pair):
    explanation, images, info = pair
    info.metadata["test_metrics"] = {"accuracy": 0.91, "auc": 0.95, "pairs": 760}
    lines = dict(report_layout._fact_lines(report_facts(explanation, images, info)))
    assert lines["Test metrics"] == "accuracy 0.910, auc 0.950, pairs 760"


def test_a_not_assessed_pair_s_report_withholds_maps_and_numbers_unless_shown_anyway(tmp_path, pair):
    """An image outside the domain: the page draws no map, no similarity, no P and no faithfulness, and says why;
    with the reviewer's "show anyway" it draws them and says the reviewer chose to. The sidecar keeps the numbers,
    flagged, and the SR states no similarity."""
    from dataclasses import replace
    from datetime import datetime, timezone

    from core.review.measurement_sr import _values
    from core.trust.verdict import SHOWN_ANYWAY_LINE, WITHHELD_LINE

    explanation, images, info = pair
    outside = replace(explanation, in_domain=(True, False), verdict="not assessed", probability_same=0.8,
                      verdict_reason="image 2 lies outside this model's domain")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    options = {"layers": ({"factual": 1.0}, {"counterfactual": 1.0}), "when": when,
               "faithfulness": {"deletion_auc_map": 0.1, "deletion_auc_random": 0.3, "insertion_auc_map": 0.6,
                                "insertion_auc_random": 0.4}}
    withheld = report_facts(outside, images, info, **options)
    assert withheld["withheld"] and withheld["extrapolated"] and not withheld["shown_anyway"]
    assert withheld["similarity"] == pytest.approx(0.734) and withheld["probability_same"] == 0.8
    lines = dict(report_layout._fact_lines(withheld))
    assert "withheld" in lines["Similarity"] and "withheld" in lines["P(same class)"] and "Faithfulness" not in lines
    assert report_layout.withheld_line(withheld) == WITHHELD_LINE
    def states_similarity(facts: dict) -> bool:
        return any("similarity" in str(concept).lower() for concept, _ in _values(facts)["changes"])

    assert not states_similarity(withheld) and states_similarity(report_facts(explanation, images, info))
    assert not states_similarity(explanation_facts(outside, images, info))  # an SR written without a report

    def panels(**extra) -> np.ndarray:
        page = np.asarray(report_layout.render(outside, images, report_facts(outside, images, info,
                                                                             **{**options, **extra})), dtype=int)
        top = report_layout.panel_top(withheld)
        return page[top: top + report_layout.PANEL]

    bare = panels(layers=({}, {}))
    assert np.array_equal(panels(), bare)  # no map drawn on either image
    shown = report_facts(outside, images, info, shown_anyway=True, **options)
    assert shown["shown_anyway"] and not shown["withheld"] and shown["extrapolated"]
    assert report_layout.withheld_line(shown) == SHOWN_ANYWAY_LINE
    assert "%" in dict(report_layout._fact_lines(shown))["Similarity"]
    assert not np.array_equal(panels(shown_anyway=True), bare)
    inside = report_facts(explanation, images, info, shown_anyway=True, **options)  # nothing to withhold
    assert not inside["withheld"] and not inside["shown_anyway"] and report_layout.withheld_line(inside) == ""
    for suffix in (".pdf", ".dcm"):  # every format draws the same page and keeps the flagged numbers
        written, sidecar = outputs.write_report(tmp_path / f"r{suffix[1:]}{suffix}", outside, images, info, **options)
        facts = json.loads(sidecar.read_text())
        assert facts["withheld"] and facts["similarity"] == pytest.approx(0.734) and written.stat().st_size > 0


def test_the_timing_of_a_refined_map_counts_its_refinement(pair):
    explanation, images, info = pair
    timing = dict(report_layout._fact_lines(report_facts(explanation, images, info)))["Timing"]
    assert timing == "12 ms"
    refined = dataclasses.replace(explanation, method="integrated", timings_ms={"total": 12.0, "refine": 950.0},
                                  refined_from="gradcam")
    timing = dict(report_layout._fact_lines(report_facts(refined, images, info)))["Timing"]
    assert timing == "12 ms, refined in 950 ms"
    assert dict(report_layout._fact_lines(report_facts(refined, images, info)))["Method"] == (
        "integrated (refined from gradcam)")
    assert dict(report_layout._fact_lines(report_facts(explanation, images, info)))["Method"] == "gradcam"
