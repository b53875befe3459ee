"""Measurements as structured data (issue #32, point 2): `--sr FILE.dcm` on `explain` and `followup` writes a TID 1500
Measurement Report that highdicom reads back with the values the run printed, filed into the source study."""

from __future__ import annotations

import json

import highdicom as hd
import pydicom
import pytest
from PIL import Image

from core.io.images import load_image
from tests.dicom_visits import PATIENT, write_visits


def _groups(sr) -> list:
    return sr.content.get_image_measurement_groups()


def _children(item) -> dict:
    """An SR content item's children by concept name: text, or a number."""
    return {child.ConceptNameCodeSequence[0].CodeMeaning: child.get("TextValue") if child.ValueType == "TEXT"
            else float(child.MeasuredValueSequence[0].NumericValue) if child.ValueType == "NUM" else child.ValueType
            for child in item.ContentSequence}


def _measured(group) -> dict:
    return {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}


def test_followup_sr_states_both_visits_the_changes_and_the_verdict(tmp_path, weights, capsys):
    from main import main

    visits = write_visits(tmp_path)
    sr_path, report = tmp_path / "out" / "followup-sr.dcm", tmp_path / "out" / "followup.dcm"
    code = main(["followup", *map(str, visits), "--model", str(weights), "--device", "cpu", "--json",
                 "--report", str(report), "--sr", str(sr_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    facts = json.loads(out)
    assert str(sr_path) in facts["written"]
    sr = hd.sr.srread(sr_path)
    follow = pydicom.dcmread(visits[1])
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    assert sr.StudyInstanceUID == follow.StudyInstanceUID and sr.PatientName == PATIENT["PatientName"]
    assert sr.PatientID == PATIENT["PatientID"] and sr.PatientBirthDate == PATIENT["PatientBirthDate"]
    assert sr.SeriesInstanceUID != pydicom.dcmread(report).SeriesInstanceUID and sr.SeriesNumber == 9911
    # in the PACS's series list what changed leads, as on the report's series, never the verdict on appearance
    headline = facts["change_headline"]  # "area +X % +- Y %, diameter ...": longer than a series description holds
    assert sr.SeriesDescription == f"Siamese Lens measurements (SR): {headline[:headline.index(', ')]}..."
    baseline, later = _groups(sr)
    assert baseline.tracking_identifier == "lesion, baseline" and later.tracking_identifier == "lesion, follow-up"
    for group, measured, path in ((baseline, facts["measurements"][0], visits[0]),
                                  (later, facts["measurements"][1], visits[1])):
        values = _measured(group)
        assert values["Area"] == (pytest.approx(measured["area_mm2"]), "mm2")  # DICOM PixelSpacing 0.05 mm
        assert values["Long axis"] == (pytest.approx(measured["diameter_mm"]), "mm")
        assert [s.referenced_sop_instance_uid for s in group.source_images] == [pydicom.dcmread(path).SOPInstanceUID]
        items = _children(group[0])
        assert items["Algorithm Name"] == "tiny" and items["Algorithm Version"] == facts["model"]["sha256"]
    changes = {m.name.meaning: m for m in later.get_measurements()}
    area = changes["Lesion area, follow-up to baseline ratio"]
    assert area.value == pytest.approx(facts["area_change"]) and area.unit.value == "1"
    uncertainty = _children(area[0])["+, range of upper measurement uncertainty"]
    assert uncertainty == pytest.approx(facts["area_change_uncertainty"])
    (verdict,) = later.get_qualitative_evaluations()
    assert verdict.value.meaning == facts["verdict"] and verdict.name.scheme_designator == "99SLENS"
    device = sr.content.get_observer_contexts()  # the model is the observer device, its digest the serial number
    assert any(getattr(o.observer_identifying_attributes, "name", None) == "tiny" for o in device)
    attributes = [o.observer_identifying_attributes for o in device]
    digest = facts["model"]["sha256"]
    assert any(getattr(a, "model_name", None) == "tiny" and getattr(a, "serial_number", None) == digest
               for a in attributes)
    # and the SR's equipment module, as the picture report's, names model, software version and weights digest
    assert sr.ManufacturerModelName == "tiny" and sr.SoftwareVersions == facts["app"]["version"]
    assert sr.DeviceSerialNumber == facts["model"]["sha256"]


def test_explain_sr_states_the_similarity_and_verdict(tmp_path, weights, capsys):
    from main import main

    visits = write_visits(tmp_path)
    sr_path = tmp_path / "pair-sr.dcm"
    code = main(["explain", *map(str, visits), "--model", str(weights), "--device", "cpu", "--json",
                 "--sr", str(sr_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    facts = json.loads(out)
    sr = hd.sr.srread(sr_path)
    assert sr.StudyInstanceUID == pydicom.dcmread(visits[0]).StudyInstanceUID
    last = _groups(sr)[-1]
    assert _measured(last)["Model similarity of the two images"] == (pytest.approx(100 * facts["similarity"]), "%")
    assert last.get_qualitative_evaluations()[0].value.meaning == facts["verdict"]


def test_measurements_in_pixels_when_no_size_is_known_and_missing_keys_left_out(tmp_path):
    from core.io.dicom import report_filing
    from core.review.measurement_sr import measurement_sr

    visits = write_visits(tmp_path)
    images = [load_image(path) for path in visits]
    facts = {"measurements": [{"found": True, "area_px": 900, "diameter_px": 41.5, "area_mm2": None},
                              {"found": False}], "area_change": None, "verdict": "inconclusive"}
    sr = hd.sr.srread(_file(tmp_path, measurement_sr(facts, report_filing(images, "follow-up", 1), images)))
    baseline, later = _groups(sr)
    assert _measured(baseline) == {"Area": (900, "{pixels}"), "Long axis": (41.5, "{pixels}")}
    assert _measured(later) == {} and later.get_qualitative_evaluations()[0].value.meaning == "inconclusive"


def test_sr_refused_in_one_line_for_images_that_are_not_dicom_and_nothing_written(tmp_path, weights, capsys):
    from main import main

    pngs = []
    for name in ("a.png", "b.png"):
        Image.new("RGB", (64, 64), (200, 150, 140)).save(tmp_path / name)
        pngs.append(str(tmp_path / name))
    for extra, words in ((["--sr", str(tmp_path / "x.dcm"), "--report", str(tmp_path / "r.png")], "not DICOM"),
                         (["--sr", str(tmp_path / "x.txt")], "must end in .dcm")):
        code = main(["followup", *pngs, "--model", str(weights), "--device", "cpu", *extra])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and words in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "tiny.json", "tiny.pt"]


def _file(folder, data: bytes):
    path = folder / "sr.dcm"
    path.write_bytes(data)
    return path


def test_an_sr_that_cannot_be_built_is_one_line_naming_it_and_leaves_no_part(tmp_path):
    """core.review.measurement_sr.write_sr (explain --sr, followup --sr and the window's stores): no folder made
    for it and no temporary stays; the line names the SR, not a temporary."""
    from core.review.measurement_sr import write_sr
    from core.review.report import ReportError

    with pytest.raises(ReportError, match=r"^.*sr\.dcm: cannot write the measurement SR \(a measurement SR needs "):
        write_sr(tmp_path / "new" / "sr.dcm", {}, None, [], overwrite=False)
    assert sorted(tmp_path.iterdir()) == []


def test_a_nested_unit_is_removed_when_the_renames_after_it_fail(tmp_path, monkeypatch):
    """core.io.files.write_unit: what before_renames placed (the SR inside a report's unit) goes when this unit's
    own renames then fail, so the two are placed together or not at all."""
    from core.io import files

    sr, report = tmp_path / "sr" / "sr.dcm", tmp_path / "report.png"
    sr.parent.mkdir()
    real = files.os.replace

    def replace(src, dst):
        if str(dst) == str(report):
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(OSError, match="Input/output"):
        files.write_unit([(report, b"report")], before_renames=lambda: files.write_unit([(sr, b"sr")]))
    assert sorted(tmp_path.rglob("*")) == [sr.parent]
    monkeypatch.undo()
    assert files.write_unit([(report, b"report")], before_renames=lambda: files.write_unit([(sr, b"sr")])) == [
        report, sr]
