"""Reports that file (issue #32, point 1): made from a patient's DICOM images, every report (pair, follow-up, similar
cases) copies the patient and the source study, is a new series naming its kind, says its pixels carry identifiers
and references the source instances; from other images it stays a pseudonymised record of its own."""

from __future__ import annotations

import json

import pydicom
from PIL import Image

from core.io.dicom import REPORT_SERIES, report_filing, secondary_capture
from core.io.images import load_image
from tests.dicom_visits import PATIENT, write_visits


def _assert_files_with(report: pydicom.Dataset, source: pydicom.Dataset, references: list[pydicom.Dataset],
                       kind: str) -> None:
    for keyword in (*PATIENT, "StudyInstanceUID", "AccessionNumber", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID"):
        assert str(report[keyword].value) == str(source[keyword].value), keyword
    assert report.SeriesInstanceUID != source.SeriesInstanceUID
    assert report.SeriesNumber == REPORT_SERIES[kind][1]
    assert report.SeriesDescription.startswith(REPORT_SERIES[kind][0])
    assert report.BurnedInAnnotation == "YES" and report.Modality == "OT"
    assert len(report.ContentDate) == 8 and len(report.ContentTime) >= 6
    for sequence in (report.SourceImageSequence, report.ReferencedImageSequence):
        assert [(item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID) for item in sequence] == [
            (ds.SOPClassUID, ds.SOPInstanceUID) for ds in references]


def _filed_report(command: str, tmp_path, weights, capsys):
    """`main.py COMMAND` (explain, followup) of two DICOM visits with a DICOM report and --json: (the visits, the
    report's path, the report as read back, the JSON facts printed)."""
    from main import main

    visits = write_visits(tmp_path)
    report = tmp_path / f"{command}.dcm"
    code = main([command, *map(str, visits), "--model", str(weights), "--device", "cpu", "--report", str(report),
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return visits, report, pydicom.dcmread(report), json.loads(out)


def test_a_pair_report_from_dicom_images_files_with_the_first_images_patient_and_study(tmp_path, weights, capsys):
    visits, _report, written, facts = _filed_report("explain", tmp_path, weights, capsys)
    sources = [pydicom.dcmread(path) for path in visits]
    _assert_files_with(written, sources[0], sources, "pair")
    _assert_auditable(written, facts)


def _assert_auditable(ds: pydicom.Dataset, facts: dict) -> None:
    """The record alone says which model and which software made it (issue: pixel reports lacked the model)."""
    from core.version import __version__

    assert ds.Manufacturer == "Siamese Lens" and ds.ManufacturerModelName == facts["model"]["name"] == "tiny"
    assert ds.SoftwareVersions == __version__
    assert ds.DeviceSerialNumber == facts["model"]["sha256"] and len(ds.DeviceSerialNumber) == 64


def test_a_followup_report_files_into_the_followup_visits_study(tmp_path, weights, capsys):
    visits, report, written, facts = _filed_report("followup", tmp_path, weights, capsys)
    baseline, follow = (pydicom.dcmread(path) for path in visits)
    _assert_files_with(written, follow, [follow, baseline], "follow-up")
    _assert_auditable(written, facts)
    assert written.StudyInstanceUID != baseline.StudyInstanceUID
    # the report opens as an image again, its identity that of the study it filed into
    assert load_image(report).dicom.StudyInstanceUID == follow.StudyInstanceUID


def test_another_patients_image_is_never_referenced_and_a_similar_cases_report_names_its_kind(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mine, _ = write_visits(tmp_path / "a")
    theirs, _ = write_visits(tmp_path / "b", {**PATIENT, "PatientID": "PAT-8", "PatientName": "Other^Otto"})
    images = [load_image(mine), load_image(theirs)]
    filing = report_filing(images, "similar cases")
    ds = pydicom.dcmread(_sc(secondary_capture(Image.new("RGB", (40, 30)), {"verdict": "similar"}, filing)))
    source = pydicom.dcmread(mine)
    _assert_files_with(ds, source, [source], "similar cases")
    assert ds.SeriesDescription == "Siamese Lens similar cases: similar"
    # the primary image missing a DICOM identity: the first DICOM one files the report
    assert report_filing([load_image(_png(tmp_path)), images[1]], "pair").sources[0].PatientID == "PAT-8"


def test_a_report_from_other_images_stays_a_pseudonymised_study_of_its_own(tmp_path):
    assert report_filing([load_image(_png(tmp_path))] * 2, "pair") is None
    facts = {"patient_id": "PSN-1", "case_id": "C-1", "created": "2026-02-03T10:00:00+01:00"}
    ds = pydicom.dcmread(_sc(secondary_capture(Image.new("RGB", (40, 30)), facts)))
    assert ds.PatientID == "PSN-1" and ds.PatientName == "" and ds.AccessionNumber == "C-1"
    assert ds.StudyDate == ds.ContentDate == "20260203" and ds.BurnedInAnnotation == "YES"
    assert ds.SeriesDescription == REPORT_SERIES["pair"][0] and "SourceImageSequence" not in ds
    # a model whose digest was not recorded: no serial number guessed
    assert "DeviceSerialNumber" not in ds and "ManufacturerModelName" not in ds


def _sc(data: bytes):
    import io

    return io.BytesIO(data)


def _png(folder):
    path = folder / "plain.png"
    Image.new("RGB", (64, 64), (200, 150, 140)).save(path)
    return path
