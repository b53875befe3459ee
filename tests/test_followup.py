"""Follow-up mode (issue: sequential dermoscopy): registration, measurements, the follow-up core, CLI and report.

Synthetic follow-ups of a few real skin images (core.followup.synthetic: known rotation, shift, brightness and
lesion growth) give the answers to check against; generated discs and shapes check the measurements exactly.
Nothing here depends on timing (benchmarks/bench_followup.py measures that)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.followup.measurements import measure
from core.followup.registration import register
from core.followup.synthetic import make_followup, point_error, skin_ring
from core.model.lesion import find_lesion

ROOT = Path(__file__).resolve().parents[1]
SKIN = ROOT.parent / "shared" / "data" / "skin"
# A handful of skin images whose lesion the lesion finder finds, with skin around it.
SKIN_FILES = ["benign/525 Target 0.jpg", "benign/913 Target 0.jpg", "malignant/96 Target 1.jpg",
              "malignant/1155 Target 1.jpg", "benign/831 Target 0.jpg"]
needs_skin = pytest.mark.skipif(not (SKIN / SKIN_FILES[0]).exists(), reason="shared skin data not available")


def _skin(name: str) -> np.ndarray:
    return np.asarray(Image.open(SKIN / name).convert("RGB"))


def _disc(radius: int = 20, size: int = 120, colour=(90, 50, 30)) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((size, size, 3), (215, 170, 160), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (size // 2, size // 2), radius, 1, -1)
    rgb[mask.astype(bool)] = colour
    return rgb, mask.astype(bool)



def test_visits_larger_than_the_working_copy_get_both_outlines_at_full_size():
    # Over 512 px a side (most dermoscopy photographs), the baseline's outline was scaled back before the
    # follow-up's contrast was compared with it: "operands could not be broadcast together with shapes (512,512)
    # (1600,1600)" ended every such follow-up, in the CLI, batch and the window.
    from core.followup.paired_outline import WORK_SIDE, paired_outlines

    rgb, mask = _disc(radius=300, size=3 * WORK_SIDE)
    rgb = np.clip(rgb + np.random.default_rng(0).normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    first, second = paired_outlines(rgb, rgb.copy(), np.ones(mask.shape, bool))
    assert first is not None and second is not None and first.shape == second.shape == mask.shape
    assert (first & mask).sum() / (first | mask).sum() > 0.95 and (second == first).all()

@needs_skin
def test_registration_recovers_known_rotation_shift_and_brightness_despite_growth():
    errors = []
    for index, name in enumerate(SKIN_FILES):
        rgb = _skin(name)
        lesion = find_lesion(rgb)
        synthetic = make_followup(rgb, lesion.mask, np.random.default_rng(index))
        result = register(rgb, synthetic.followup)
        error = point_error(result.matrix, synthetic.matrix, skin_ring(lesion.mask))
        errors.append(error)
        if result.ok:  # a registration it stands behind is close, and says about how close
            assert error <= 3.0, (name, error, result.message)
            assert 0.0 < result.quality <= 1.0 and np.isfinite(result.error_px)
    assert np.median(errors) <= 3.0, errors


@needs_skin
def test_similarity_mode_recovers_a_change_of_magnification():
    rgb = _skin(SKIN_FILES[1])
    h, w = rgb.shape[:2]
    forward = cv2.getRotationMatrix2D((w / 2, h / 2), 12.0, 1.1)  # baseline -> follow-up
    forward[:, 2] += (5.0, -4.0)
    followup = cv2.warpAffine(rgb, forward, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    result = register(rgb, followup, mode="similarity")
    assert result.ok, result.message
    assert result.scale == pytest.approx(1 / 1.1, abs=0.02)
    truth = cv2.invertAffineTransform(forward)
    assert point_error(result.matrix, truth, skin_ring(find_lesion(rgb).mask)) <= 3.0
    rigid = register(rgb, followup, mode="rigid")
    assert rigid.scale == pytest.approx(1.0, abs=1e-6)  # rigid never scales


@needs_skin
def test_registration_of_unrelated_images_fails_with_a_clear_message():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    result = register(_skin(SKIN_FILES[0]), noise)
    assert not result.ok and result.message.startswith("registration failed")
    facts = result.facts()
    json.dumps(facts, allow_nan=False)  # an unknown error is None, never inf
    assert np.asarray(facts["transform"]).shape == (2, 3)
    with pytest.raises(ValueError, match="mode"):
        register(noise, noise, mode="affine")


def test_measurements_of_a_disc_are_its_geometry():
    rgb, mask = _disc(radius=20)
    m = measure(rgb, mask, pixel_size_mm=0.1)
    assert m["found"] and m["outline"] == "given"
    assert m["area_px"] == int(mask.sum()) and m["area_px"] == pytest.approx(np.pi * 400, rel=0.03)
    assert m["area_mm2"] == pytest.approx(m["area_px"] * 0.01)
    assert m["diameter_px"] == pytest.approx(41, abs=1.5) and m["diameter_mm"] == pytest.approx(4.1, abs=0.15)
    assert m["asymmetry"] < 0.03 and 0.95 < m["border_irregularity"] < 1.15
    assert m["colours"] == 1 and m["colour_names"] == ["dark brown"]
    unknown = measure(rgb, mask)
    assert unknown["area_mm2"] is None and unknown["diameter_mm"] is None
    with pytest.raises(ValueError, match="pixel size"):
        measure(rgb, mask, pixel_size_mm=-1.0)


def test_asymmetry_border_and_colours_tell_shapes_apart():
    rgb, disc = _disc(radius=24)
    blob = disc.copy()
    blob[60:, 60:] = False  # a quarter cut away: asymmetric about both axes
    star = np.zeros_like(disc, np.uint8)
    points = [(60 + int(r * np.cos(a)), 60 + int(r * np.sin(a)))
              for a, r in zip(np.linspace(0, 2 * np.pi, 24, endpoint=False), [35, 12] * 12, strict=True)]
    cv2.fillPoly(star, [np.array(points, np.int32)], 1)
    assert measure(rgb, blob)["asymmetry"] > measure(rgb, disc)["asymmetry"] + 0.05
    assert measure(rgb, star.astype(bool))["border_irregularity"] > 1.5
    two = rgb.copy()
    two[disc & (np.arange(120)[None, :] < 60)] = (10, 10, 10)  # left half black
    names = measure(two, disc)["colour_names"]
    assert len(names) == 2 and "black" in names
    assert measure(rgb, np.zeros_like(disc))["found"] is False  # nothing to measure: said so, no numbers


@needs_skin
def test_followup_measures_the_growth_on_synthetic_follow_ups(tiny_model):
    from core.followup.visits import followup, followup_facts
    from core.io.images import from_pil

    errors = []
    for index, name in enumerate(SKIN_FILES[:3]):
        rgb = _skin(name)
        synthetic = make_followup(rgb, find_lesion(rgb).mask, np.random.default_rng(10 + index))
        result = followup(tiny_model, from_pil(Image.fromarray(rgb), path=str(SKIN / name)),
                          from_pil(Image.fromarray(synthetic.followup)), pixel_size_mm=0.02)
        errors.append(abs(result.changes["area_change"] / synthetic.area_ratio - 1))
        facts = followup_facts(result, tiny_model)
        json.dumps(facts, allow_nan=False)
        assert facts["kind"] == "followup" and len(facts["measurements"]) == 2
        assert facts["measurements"][0]["area_mm2"] == pytest.approx(facts["measurements"][0]["area_px"] * 4e-4)
        assert facts["verdict"] and facts["verdict_reason"] and facts["images"][1]["aligned_to_baseline"] is True
        assert result.aligned.shape == rgb.shape and result.explanation.factual[1].ndim == 2
        assert facts["area_change_uncertainty"] > 0
    assert np.median(errors) <= 0.10, errors


def test_an_outline_on_the_picture_s_edge_is_not_measured_against_another_visit():
    from core.followup.visits import at_frame, compare
    from core.io.images import from_pil

    _rgb, inside = _disc(radius=20)
    assert at_frame(inside) == 0.0 and at_frame(None) is None
    cut = np.roll(inside, 45, axis=1)  # the disc's right part beyond the picture's right edge
    cut[:, :60] = False
    assert 0.05 < at_frame(cut) < 0.5
    covered = np.ones_like(inside)
    covered[:, 78:] = False  # an aligned follow-up without pixels just right of the disc
    assert at_frame(inside, covered) > 0 and at_frame(inside, np.ones_like(inside)) == 0.0
    # a real lesion, photographed again with its left half outside the picture: no figures, and said why
    rgb = _skin(SKIN_FILES[0])
    xs = np.nonzero(find_lesion(rgb).mask)[1]
    visits = [from_pil(Image.fromarray(image)) for image in (rgb, rgb[:, (xs.min() + xs.max()) // 2 - 10:].copy())]
    whole = compare(visits[0], visits[0])
    assert whole.changes["change_brief"] == ["no change", "area 0 %"]
    assert [m["outline_at_frame"] for m in whole.measurements] == [0.0, 0.0]
    result = compare(*visits)
    assert result.registration.ok and result.measurements[1]["outline_at_frame"] > 0.1
    assert result.changes["area_change"] is None and result.changes["change_brief"] == ["not compared", "at the edge"]
    assert result.changes["change_headline"].startswith("the lesion reaches the edge of the follow-up picture")


def test_pixel_spacing_of_a_dicom_file_gives_the_pixel_size(tmp_path):
    import pydicom

    from core.followup.visits import file_pixel_size
    from core.io.dicom import secondary_capture
    from core.io.images import load_image

    ds = pydicom.dcmread(io.BytesIO(secondary_capture(Image.new("RGB", (32, 32), (200, 150, 140)), {})))
    ds.PixelSpacing = [0.025, 0.025]
    path = tmp_path / "visit.dcm"
    ds.save_as(path, enforce_file_format=True)
    loaded = load_image(path)
    assert file_pixel_size(loaded) == pytest.approx(0.025)
    ds.PixelSpacing = [0.025, 0.05]  # not square: no single pixel size
    ds.save_as(path, enforce_file_format=True)
    assert file_pixel_size(load_image(path)) is None


@pytest.fixture
def visits(tmp_path):
    """A baseline (a generated lesion on textured skin) and a rotated, shifted, brighter follow-up of it."""
    rng = np.random.default_rng(4)
    skin = cv2.GaussianBlur(rng.normal(0, 1, (160, 160)).astype(np.float32), (0, 0), 1.5)
    rgb = np.clip(np.array([210, 165, 150]) + 60 * skin[..., None], 0, 255).astype(np.uint8)
    cv2.ellipse(rgb, (80, 80), (26, 18), 30, 0, 360, (95, 55, 40), -1)
    synthetic = make_followup(rgb, find_lesion(rgb).mask, rng, max_rotation=20, max_growth=0.3)
    paths = tmp_path / "baseline.png", tmp_path / "followup.png"
    Image.fromarray(rgb).save(paths[0])
    Image.fromarray(synthetic.followup).save(paths[1])
    return paths, synthetic


def test_followup_cli_json_in_a_subprocess(weights, visits):
    (baseline, follow), synthetic = visits
    run = subprocess.run([sys.executable, str(ROOT / "main.py"), "followup", str(baseline), str(follow), "--model",
                          str(weights), "--device", "cpu", "--pixel-size-mm", "0.05", "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert np.asarray(data["transform"]).shape == (2, 3) and 0 <= data["registration_quality"] <= 1
    assert data["registration_ok"], data["registration_message"]
    assert point_error(np.asarray(data["transform"]), synthetic.matrix, skin_ring(find_lesion(
        np.asarray(Image.open(baseline))).mask)) <= 3.0
    first, second = data["measurements"]
    assert {"area_px", "area_mm2", "diameter_px", "diameter_mm", "asymmetry", "border_irregularity",
            "colours"} <= set(first)
    assert first["area_mm2"] == pytest.approx(first["area_px"] * 0.0025, rel=1e-3)
    assert data["area_change"] == pytest.approx(synthetic.area_ratio, rel=0.10)
    assert {"similarity", "verdict", "verdict_reason", "model", "images", "probability_same"} <= set(data)


def test_followup_cli_report_carries_both_dates_and_the_measurements(weights, visits, tmp_path, capsys):
    from main import main

    (baseline, follow), _ = visits
    report = tmp_path / "out" / "followup.png"
    code = main(["followup", str(baseline), str(follow), "--model", str(weights), "--device", "cpu",
                 "--acquired", "2026-01-10,2026-07-12", "--case-id", "C-9", "--report", str(report)])
    assert code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("area +")  # what changed leads
    assert "registered (rigid, chosen automatically" in out and "not a medical device" in out
    facts = json.loads(report.with_suffix(".json").read_text())
    assert facts["acquired"] == ["2026-01-10", "2026-07-12"] and facts["case_id"] == "C-9"
    assert facts["interval_days"] == 183 and facts["change_headline"].startswith("area +")
    assert len(facts["measurements"]) == 2 and facts["area_change"] is not None
    assert "not for diagnosis" in facts["disclaimer"] and facts["report_file"] == "followup.png"
    assert Image.open(report).size[0] > 900
    # its maps refined as explain --report's; no check ran, so none is claimed (the panels say "not checked")
    assert facts["method"] == "coalition" and "faithfulness" not in facts


def test_followup_cli_refuses_bad_input_in_one_line(weights, visits, tmp_path, capsys):
    from main import main

    (baseline, follow), _ = visits
    drawn = tmp_path / "outline.png"
    outline = np.zeros((160, 160), np.uint8)
    cv2.ellipse(outline, (80, 80), (26, 18), 30, 0, 360, 255, -1)
    Image.fromarray(outline).save(drawn)
    for argv, words in ((["followup", str(baseline), str(tmp_path / "missing.png")], "missing.png"),
                        (["followup", str(baseline), str(follow), "--pixel-size-mm", "-2"], "--pixel-size-mm"),
                        (["followup", str(baseline), str(follow), "--acquired", "2026-13-01"], "2026-13-01"),
                        (["followup", str(baseline), str(follow), "--mask1", str(drawn), "--json"], None),
                        (["followup", str(baseline), str(follow), "--report", str(tmp_path / "r.txt")], "r.txt")):
        code = main([*argv, "--model", str(weights), "--device", "cpu"])
        out, err = capsys.readouterr()
        if words is None:  # a drawn outline of the right size is accepted, and said to be drawn
            assert code == 0, err
            assert json.loads(out)["measurements"][0]["outline"] == "drawn"
            continue
        assert code == 2 and err.count("\n") == 1 and words in err, err
    small = tmp_path / "small.png"
    Image.new("L", (10, 10), 255).save(small)
    assert main(["followup", str(baseline), str(follow), "--mask2", str(small), "--model", str(weights)]) == 2
    assert "outline is 10x10" in capsys.readouterr().err


def test_the_report_shows_measurements_to_the_precision_their_uncertainty_supports(weights, visits, tmp_path, capsys,
                                                                                   monkeypatch):
    """An area uncertain by about 10 % is drawn with 3 significant digits ("2.36", not "2.3575"); the JSON keeps
    the measured values."""
    from PIL import ImageDraw

    from core.followup.measurements import shown_figure
    from main import main

    drawn: list[str] = []
    text = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, words, *a, **k: drawn.append(str(words))
                        or text(self, xy, words, *a, **k))
    (baseline, follow), _ = visits
    report = tmp_path / "precision" / "followup.png"
    code = main(["followup", str(baseline), str(follow), "--model", str(weights), "--device", "cpu",
                 "--pixel-size-mm", "0.0137", "--report", str(report)])
    assert code == 0, capsys.readouterr().err
    facts = json.loads(report.with_suffix(".json").read_text())
    measured = [m[key] for m in facts["measurements"] for key in ("area_mm2", "diameter_mm", "asymmetry")]
    assert any(len(repr(value).replace(".", "").lstrip("0")) > 3 for value in measured)  # more digits than shown
    for value in measured:
        assert shown_figure(value) in drawn and (repr(value) == shown_figure(value) or repr(value) not in drawn)
    ratio = [t for t in drawn if "+/-" in t][0]
    assert ratio == f"{facts['area_change']:.2f} +/- {facts['area_change_uncertainty']:.2f}"


def test_the_report_wraps_a_long_registration_message_and_change_note_never_cuts_them(tiny_model, monkeypatch):
    """The registration's message ends with its error ("..., quality 1.00, error about 0.4 px"): clipped to one
    line at 130 characters, a real message lost that number ("erro..."). Every word is on the page."""
    from PIL import ImageDraw

    from core.followup.visits import followup
    from core.review import followup_report
    from tests.test_followup_history import _loaded, _textured

    drawn: list[str] = []
    text = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, words, *a, **k: drawn.append(str(words))
                        or text(self, xy, words, *a, **k))
    result = followup(tiny_model, _loaded(_textured(4)), _loaded(_textured(5), "later.png"))
    facts = followup_report.followup_report_facts(result, tiny_model)
    facts["registration_message"] = ("registered (similarity, chosen automatically: magnification x0.974 +- 0.002): "
                                     "rotation 0.0 deg, scale 0.974, quality 1.00, error about 0.4 px")
    facts["change_note"] = "not compared: " + "the follow-up's outline reaches the picture's edge " * 3 + "(end)"
    followup_report.render(result, facts)
    page = " ".join(drawn)
    assert "..." not in page
    for fact in (facts["registration_message"], facts["change_note"]):
        assert " ".join(fact.split()) in " ".join(page.split()), fact


def test_the_report_s_case_record_is_read_whole_and_nothing_runs_off_the_page(tiny_model, monkeypatch):
    """After the dates, a worklist's long case id ran off the page's right edge and took the patient id and the body
    site with it: the page said whose lesion it was only in part. Every line drawn now ends inside the page."""
    from PIL import ImageDraw

    from core.followup.visits import followup
    from core.review import followup_report
    from core.review.case_record import make_record
    from tests.test_followup_history import _loaded, _textured

    drawn: list[tuple[float, str]] = []  # where each text ends, and the text
    text = ImageDraw.ImageDraw.text

    def spy(self, xy, words, *args, **kwargs):
        font = kwargs.get("font")
        if font is not None and kwargs.get("anchor") is None:
            drawn.append((xy[0] + self.textlength(str(words), font=font), str(words)))
        return text(self, xy, words, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", spy)
    result = followup(tiny_model, _loaded(_textured(4)), _loaded(_textured(5), "later.png"))
    record = make_record(case_id="C-913 follow-up of the left scapula naevus, second dermoscopy visit",
                         patient_id="PSN-0042", body_site="left scapula", acquired=("2026-03-02", "2026-09-14"))
    facts = followup_report.followup_report_facts(result, tiny_model, record=record)
    page = followup_report.render(result, facts)
    said = " ".join(" ".join(words for _end, words in drawn).split())
    assert "C-913 follow-up of the left scapula naevus, second dermoscopy visit" in said
    assert "PSN-0042" in said and "left scapula" in said
    assert all(end <= page.width - followup_report.MARGIN + 1 for end, _words in drawn), \
        [words for end, words in drawn if end > page.width - followup_report.MARGIN + 1]
