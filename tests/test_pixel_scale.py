"""Where a mm figure's scale came from is a fact of every follow-up result (core.followup.visits.pixel_scale), for a
pair and each visit of a history alike, and every record keeps it: the JSON, the report's sidecar, the report
picture's lines and the measurement SR's measurement method. A size typed over a DICOM file's own spacing states
both; a file's spacing alone says so; no size: no mm figure, and it says none."""

from __future__ import annotations

import io
import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from PIL import Image

from core.followup.synthetic import make_followup
from core.followup.visits import compare, scale_words
from core.io.images import load_image
from core.model.lesion import find_lesion
from core.review.followup_report import _change_lines
from tests.test_followup_history import _textured

FILE_MM, TYPED_MM = 0.05, 0.02
DATES = ("20260110", "20260401", "20260901")


def visit_pictures(count: int = 3) -> list[np.ndarray]:
    """A lesion on textured skin and its later visits, each grown and turned (they register onto the first)."""
    rgb = _textured()
    rng = np.random.default_rng(2)
    growths = (0.15, 0.35)[: count - 1]
    return [rgb] + [make_followup(rgb, find_lesion(rgb).mask, rng, growth=g, max_rotation=40,
                                  max_brightness=0.05).followup for g in growths]


def dicom_visits(folder: Path, count: int = 3, spacing: float | None = FILE_MM) -> list[Path]:
    """The visits as DICOM files of one patient, dated, each stating its PixelSpacing (None: none)."""
    from core.io.dicom import secondary_capture

    paths = []
    for index, rgb in enumerate(visit_pictures(count)):
        ds = pydicom.dcmread(io.BytesIO(secondary_capture(Image.fromarray(rgb), {})))
        ds.PatientID, ds.AcquisitionDate = "PSN-1", DATES[index]
        if spacing is not None:
            ds.PixelSpacing = [spacing, spacing]
        paths.append(folder / f"v{index + 1}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def test_a_history_with_a_size_typed_over_the_files_spacing_states_both_on_every_record(tmp_path, weights, capsys):
    from main import main

    paths = dicom_visits(tmp_path)
    report, sr = tmp_path / "history.png", tmp_path / "history-sr.dcm"
    code = main(["followup", *map(str, paths), "--model", str(weights), "--device", "cpu", "--json",
                 "--pixel-size-mm", str(TYPED_MM), "--report", str(report), "--sr", str(sr)])
    out, err = capsys.readouterr()
    assert code == 0, err
    facts = json.loads(out)
    sidecar = json.loads(report.with_suffix(".json").read_text())
    said = f"{TYPED_MM:g} mm per pixel, typed by the reviewer, the file says {FILE_MM:g} mm"
    for record in (facts, sidecar):
        assert len(record["visits"]) == 3
        for visit in record["visits"]:
            m = visit["measurements"]
            assert m["pixel_scale"]["source"] == "typed" and m["pixel_scale"]["said"] == said
            assert m["pixel_scale"]["pixel_size_mm"] == TYPED_MM
            assert m["pixel_scale"]["file_pixel_size_mm"] == pytest.approx(FILE_MM)
            assert m["pixel_scale"]["on_baseline_grid"] == (not visit["baseline"])
            assert m["area_mm2"] == pytest.approx(m["area_px"] * TYPED_MM ** 2, rel=1e-3)  # the typed size used
        assert record["pixel_scale"]["source"] == "typed"
        assert record["scale"] == f"Scale: {said} (the follow-up measured on the baseline's grid)"
    assert record["scale"] in _change_lines(sidecar)  # the line the report picture prints
    methods = {m.method.meaning for group in hd.sr.srread(sr).content.get_image_measurement_groups()
               for m in group.get_measurements() if m.unit.value in ("mm", "mm2")}
    assert methods == {"Pixel size typed by the reviewer over the file's own spacing"}


def test_a_pair_with_only_the_files_spacing_says_so(tmp_path, weights, capsys):
    images = [load_image(path) for path in dicom_visits(tmp_path, count=2)]
    result = compare(*images)
    assert result.registration.ok, result.registration.message
    base, follow = (m["pixel_scale"] for m in result.measurements)
    assert base["source"] == "file" and base["pixel_size_mm"] == pytest.approx(FILE_MM)
    assert base["said"] == f"{FILE_MM:g} mm per pixel, from the file's PixelSpacing"
    assert follow == {**base, "on_baseline_grid": True}
    assert result.measurements[0]["area_mm2"] is not None
    assert scale_words(result.measurements) == (f"Scale: {FILE_MM:g} mm per pixel, from the file's PixelSpacing "
                                                "(the follow-up measured on the baseline's grid)")
    from main import main

    sr = tmp_path / "pair-sr.dcm"
    assert main(["followup", *(image.path for image in images), "--model", str(weights), "--device", "cpu",
                 "--sr", str(sr)]) == 0
    out = capsys.readouterr().out
    assert f"scale {FILE_MM:g} mm per pixel, from the file's PixelSpacing" in out
    methods = {m.method.meaning for group in hd.sr.srread(sr).content.get_image_measurement_groups()
               for m in group.get_measurements() if m.unit.value in ("mm", "mm2")}
    assert methods == {"Pixel size from the image file's PixelSpacing"}


def test_no_size_no_mm_and_it_says_none(tmp_path):
    images = [load_image(path) for path in dicom_visits(tmp_path, count=2, spacing=None)]
    result = compare(*images)
    for m in result.measurements:
        assert m["pixel_scale"]["source"] == "none" and m["pixel_scale"]["pixel_size_mm"] is None
        assert m["area_mm2"] is None and m["diameter_mm"] is None
    said = scale_words(result.measurements)
    assert said.startswith("Scale: pixel size unknown: no mm figures")


def test_an_unregistered_follow_up_keeps_its_own_scale(tmp_path):
    """Not registered, the follow-up is measured in its own pixels: its own file's spacing, said apart."""
    from core.followup.visits import pixel_scale

    images = [load_image(path) for path in dicom_visits(tmp_path, count=2)]
    assert pixel_scale(images[1], None)["source"] == "file"
    assert pixel_scale(images[1], FILE_MM)["said"] == (f"{FILE_MM:g} mm per pixel, typed by the reviewer, as the "
                                                      "file's PixelSpacing says")
    measurements = [{"pixel_scale": pixel_scale(images[0], TYPED_MM)}, {"pixel_scale": pixel_scale(images[1], None)}]
    assert scale_words(measurements) == (f"Scale: baseline {TYPED_MM:g} mm per pixel, typed by the reviewer, the "
                                         f"file says {FILE_MM:g} mm; follow-up (not registered) {FILE_MM:g} mm per "
                                         "pixel, from the file's PixelSpacing")
