"""A real PACS (issue #32, points 3-5): Orthanc with DICOMweb (tests/pacs_server.py) holds a patient's visits; the
workstation finds and pulls them, runs a follow-up on the pulled files and stores its report and SR into the
follow-up's study, and both are read back from the server with the patient's identity. Every bad input is one
line, exit 2, nothing written and nothing retried forever."""

from __future__ import annotations

import io
import json
from itertools import count

import highdicom as hd
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient

from tests.dicom_visits import PATIENT, visit_dataset, write_visits

_ids = count(1)


@pytest.fixture
def patient(tmp_path, orthanc):  # noqa: F811
    """A new patient (own id, so tests share the server without seeing each other) with two visits on the PACS."""
    identity = {**PATIENT, "PatientID": f"PAT-{next(_ids)}-{tmp_path.name[-6:]}"}
    source = tmp_path / "source"
    source.mkdir()
    visits = write_visits(source, identity)
    for path in visits:
        orthanc.upload(path)
    return identity, visits


def _main(argv, capsys):
    from main import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_find_lists_the_patients_visits_with_dates_body_part_and_instances(orthanc, pacs_login, patient,  # noqa: F811
                                                                            capsys):
    identity, visits = patient
    code, out, err = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", identity["PatientID"], "--json"],
                           capsys)
    assert code == 0, err
    studies = json.loads(out)["studies"]
    sources = [pydicom.dcmread(path) for path in visits]
    assert [s["study_uid"] for s in studies] == [ds.StudyInstanceUID for ds in sources]  # oldest first
    assert [s["date"] for s in studies] == ["20260110", "20260712"]
    assert studies[0]["patient_name"] == identity["PatientName"] and studies[0]["accession"] == "ACC-001"
    (series,) = studies[1]["series"]
    assert series["body_part"] == "BACK" and series["modality"] == "XC"
    (instance,) = series["instances"]
    assert instance["sop_uid"] == sources[1].SOPInstanceUID and instance["image"] is True
    assert (instance["columns"], instance["rows"]) == (160, 160)
    code, out, _ = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", identity["PatientID"]], capsys)
    assert code == 0 and out.count("study 2026") == 2 and sources[0].SOPInstanceUID in out


def test_pull_a_patients_visits_then_store_a_followup_report_and_sr_into_the_pacs(  # noqa: F811
        orthanc, pacs_login, patient, weights, tmp_path, capsys):  # noqa: F811
    identity, visits = patient
    pid = identity["PatientID"]
    pulled = tmp_path / "pulled"
    code, out, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--out", str(pulled)], capsys)
    assert code == 0, err
    files = sorted(pulled.iterdir())
    assert [p.name[:9] for p in files] == ["20260110_", "20260712_"] and out.count("wrote") == 2
    for path, source in zip(files, visits, strict=True):
        back, original = pydicom.dcmread(path), pydicom.dcmread(source)
        assert back.SOPInstanceUID == original.SOPInstanceUID and np.array_equal(back.pixel_array,
                                                                                 original.pixel_array)
    # one study only
    study = pydicom.dcmread(visits[1]).StudyInstanceUID
    code, _, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--study", study, "--out",
                          str(tmp_path / "one")], capsys)
    assert code == 0 and len(list((tmp_path / "one").iterdir())) == 1, err
    # the follow-up of the pulled visits, its report and SR stored into the follow-up's study
    report, sr = tmp_path / "out" / "followup.dcm", tmp_path / "out" / "followup-sr.dcm"
    code, out, err = _main(["followup", *map(str, files), "--model", str(weights), "--device", "cpu", "--json",
                            "--report", str(report), "--sr", str(sr), "--store", orthanc.url], capsys)
    assert code == 0, err
    facts = json.loads(out)
    assert facts["stored"] == [str(report), str(sr)]
    # read back from the PACS by DICOMweb, as any viewer would
    client = DICOMwebClient(orthanc.url, session=orthanc.session())
    found = client.search_for_instances(study_instance_uid=study, fields=["SeriesDescription"])
    by_uid = {item["00080018"]["Value"][0]: item for item in found}
    mine = {ds.SOPInstanceUID: ds for ds in (pydicom.dcmread(report), pydicom.dcmread(sr))}
    assert set(mine) < set(by_uid)  # both beside the follow-up image
    for uid, local in mine.items():
        back = client.retrieve_instance(study, local.SeriesInstanceUID, uid)
        assert str(back.PatientName) == identity["PatientName"] and back.PatientID == pid
        assert back.PatientBirthDate == identity["PatientBirthDate"] and back.PatientSex == identity["PatientSex"]
        assert back.StudyInstanceUID == study and back.AccessionNumber == "ACC-002"
    sr_uid, report_uid = pydicom.dcmread(sr).SOPInstanceUID, pydicom.dcmread(report).SOPInstanceUID
    stored_sr = hd.sr.Comprehensive3DSR.from_dataset(client.retrieve_instance(study, mine[sr_uid].SeriesInstanceUID,
                                                                              sr_uid))
    groups = stored_sr.content.get_image_measurement_groups()
    area = {m.name.meaning: m.value for m in groups[1].get_measurements()}["Area"]
    assert area == pytest.approx(facts["measurements"][1]["area_mm2"])
    stored_report = client.retrieve_instance(study, mine[report_uid].SeriesInstanceUID, report_uid)
    assert stored_report.BurnedInAnnotation == "YES"
    assert stored_report.SeriesDescription.startswith("Siamese Lens follow-up")
    # pulling the study again brings its image only: the report is a Secondary Capture (an image), but the
    # workstation's own (its Manufacturer), as the window's Open from PACS leaves it out; the SR has no pixels
    code, out, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--study", study, "--out",
                            str(tmp_path / "again")], capsys)
    assert code == 0 and "1 instance(s) without pixels" in out, err
    assert "left 1 report picture(s) this workstation filed on the PACS (--include-reports pulls them)" in out
    (image,) = (tmp_path / "again").iterdir()
    assert pydicom.dcmread(image).SOPInstanceUID == pydicom.dcmread(files[1]).SOPInstanceUID
    code, out, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--out", str(tmp_path / "all"),
                            "--include-reports"], capsys)
    assert code == 0 and "report picture" not in out, err
    assert report_uid in {pydicom.dcmread(path).SOPInstanceUID for path in (tmp_path / "all").iterdir()}
    assert len(list((tmp_path / "all").iterdir())) == 3  # both visits and the report


def _one_line_exit_2(code: int, err: str, *words: str) -> None:
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert all(word in err for word in words), err


def test_bad_input_is_one_line_exit_2_and_nothing_written(orthanc, pacs_login, patient, tmp_path, capsys,  # noqa: F811
                                                          monkeypatch):
    identity, visits = patient
    pid = identity["PatientID"]
    out = tmp_path / "none"

    def pull(*extra, url=orthanc.url):
        return _main(["pacs", "--url", url, "pull", "--patient-id", pid, "--out", str(out), *extra], capsys)

    # a server that is not there (a free port): refused at once, not retried forever
    from tests.pacs_server import _free_port

    code, _, err = pull(url=f"http://127.0.0.1:{_free_port()}/dicom-web")
    _one_line_exit_2(code, err, "cannot reach the PACS")
    # a huge instance (over --max-mb), a study without images, a patient without studies, a wildcard id
    code, _, err = pull("--max-mb", "0.01")
    _one_line_exit_2(code, err, "over the limit", "huge instance")
    sr_only = visit_dataset(np.zeros((8, 8, 3), np.uint8), pydicom.uid.generate_uid(), "20260801", "ACC-009",
                            identity)
    for keyword in ("PixelData", "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
                    "PlanarConfiguration", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                    "PixelSpacing"):
        delattr(sr_only, keyword)
    sr_only.SOPClassUID = sr_only.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # basic text
    sr_only.Modality = "SR"
    blob = io.BytesIO()
    sr_only.save_as(blob, enforce_file_format=True)
    (tmp_path / "sr.dcm").write_bytes(blob.getvalue())
    orthanc.upload(tmp_path / "sr.dcm")
    code, _, err = pull("--study", sr_only.StudyInstanceUID)
    _one_line_exit_2(code, err, "has no images", "without pixels")
    # an instance the search calls an image (rows and columns) that comes without pixels: nothing pulled
    hollow = visit_dataset(np.zeros((8, 8, 3), np.uint8), pydicom.uid.generate_uid(), "20260901", "ACC-010", identity)
    del hollow.PixelData
    hollow.save_as(tmp_path / "hollow.dcm", enforce_file_format=True)
    orthanc.upload(tmp_path / "hollow.dcm")
    code, _, err = pull("--study", hollow.StudyInstanceUID)
    _one_line_exit_2(code, err, "is not an image (no pixel data)", "nothing pulled")
    code, _, err = pull()  # the whole patient: the good visits are not kept either
    _one_line_exit_2(code, err, "is not an image")
    code, _, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", "NOBODY-HERE", "--out", str(out)],
                         capsys)
    _one_line_exit_2(code, err, "no studies of patient NOBODY-HERE")
    code, _, err = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", "PAT*"], capsys)
    _one_line_exit_2(code, err, "no wildcards")
    assert not out.exists()
    # credentials the server does not accept, or none: 401 in one line, no password in it
    monkeypatch.setenv("SIAMESE_LENS_PACS_PASSWORD", "wrong-password")
    code, _, err = pull()
    _one_line_exit_2(code, err, "access denied (HTTP 401)", "SIAMESE_LENS_PACS_USER")
    assert "wrong-password" not in err and not out.exists()
    # credentials are never sent in the clear to another machine, nor taken from the URL
    code, _, err = pull(url="http://pacs.example.org/dicom-web")
    _one_line_exit_2(code, err, "unencrypted", "use https")
    code, _, err = pull(url="https://clinic:secret@pacs.example.org/dicom-web")
    _one_line_exit_2(code, err, "credentials do not belong in the URL")
    assert ":secret@" not in err


def test_an_answer_over_the_size_limit_is_stopped_while_it_arrives(orthanc, pacs_login, patient):  # noqa: F811
    from core.pacs.connection import PacsError, open_pacs
    from core.pacs.transfer import find

    identity, _ = patient
    with pytest.raises(PacsError, match="over the limit of 200 bytes"):
        find(open_pacs(orthanc.url, max_bytes=200), identity["PatientID"])


def test_a_store_the_pacs_refuses_is_one_line_and_the_local_files_stay(orthanc, pacs_login, patient, weights,  # noqa: F811
                                                                        tmp_path, capsys, monkeypatch):
    from core.pacs.connection import PacsError, open_pacs
    from core.pacs.transfer import store

    identity, visits = patient
    # the server refuses an instance sent to a study it does not belong to (HTTP 409)
    other = tmp_path / "other.dcm"
    ds = pydicom.dcmread(visits[0])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(other, enforce_file_format=True)
    pacs = open_pacs(orthanc.url)
    with pytest.raises(PacsError, match="refused the store .HTTP 409"):
        pacs.call("the store", pacs.client.store_instances, [ds], study_instance_uid=pydicom.uid.generate_uid())
    with pytest.raises(PacsError, match="not of study"):
        store(pacs, [other], pydicom.uid.generate_uid())
    # through the command: a store refused (no access) leaves the complete local files and says so
    monkeypatch.setenv("SIAMESE_LENS_PACS_PASSWORD", "wrong-password")
    report = tmp_path / "out" / "r.dcm"
    code, _, err = _main(["followup", *map(str, visits), "--model", str(weights), "--device", "cpu", "--report",
                          str(report), "--store", orthanc.url], capsys)
    _one_line_exit_2(code, err, "HTTP 401", "written here, not stored", "r.dcm")
    assert pydicom.dcmread(report).PatientID == identity["PatientID"]
    # --store with nothing DICOM to store, or with images that are not DICOM: refused before any work
    code, _, err = _main(["followup", *map(str, visits), "--model", str(weights), "--report",
                          str(tmp_path / "r.png"), "--store", orthanc.url], capsys)
    _one_line_exit_2(code, err, "--store")
    assert not (tmp_path / "r.png").exists()


def test_a_similar_cases_report_is_stored_into_the_querys_study(orthanc, pacs_login, patient, weights,  # noqa: F811
                                                                 tmp_path, capsys):
    from PIL import Image

    from tests.dicom_visits import lesion_rgb

    identity, visits = patient
    gallery = tmp_path / "gallery" / "known"
    gallery.mkdir(parents=True)
    for seed in range(3):  # other patients' cases, never named in this patient's file
        Image.fromarray(lesion_rgb(seed=seed + 10)).save(gallery / f"case{seed}.png")
    report = tmp_path / "similar.dcm"
    code, out, err = _main(["retrieve", str(visits[0]), str(gallery.parent), "-k", "2", "--model", str(weights),
                            "--device", "cpu", "--report", str(report), "--store", orthanc.url, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["stored"] == [str(report)]
    written = pydicom.dcmread(report)
    source = pydicom.dcmread(visits[0])
    client = DICOMwebClient(orthanc.url, session=orthanc.session())
    back = client.retrieve_instance(source.StudyInstanceUID, written.SeriesInstanceUID, written.SOPInstanceUID)
    assert back.PatientID == identity["PatientID"] and back.SeriesDescription.startswith("Siamese Lens similar cases")
    assert [item.ReferencedSOPInstanceUID for item in back.SourceImageSequence] == [source.SOPInstanceUID]


@pytest.mark.parametrize("tag", ["0020000D", "0020000E", "00080018"])
def test_a_uid_that_is_not_one_is_an_unreadable_answer_never_a_path(tmp_path, tag):
    """A hostile or broken server's UIDs name the pulled files and the next requests' paths: "../x" stops the pull
    with one line before anything is written (a real Orthanc never answers so: a stand-in client does)."""
    from core.pacs.connection import Pacs, PacsError
    from core.pacs.transfer import pull

    def answer(uid_tag):
        item = {"0020000D": {"Value": ["1.2"]}, "0020000E": {"Value": ["1.2.3"]}, "00080018": {"Value": ["1.2.3.4"]},
                "00280010": {"Value": [8]}, "00280011": {"Value": [8]}}
        return [{**item, uid_tag: {"Value": ["../../escaped"]}} if uid_tag == tag else item]

    class Client:
        def search_for_studies(self, **_):
            return answer("0020000D")

        def search_for_series(self, **_):
            return answer("0020000E")

        def search_for_instances(self, **_):
            return answer("00080018")

        def retrieve_instance(self, *_):
            raise AssertionError("nothing is retrieved after an unreadable search")

    with pytest.raises(PacsError, match="is not a DICOM UID"):
        pull(Pacs("https://pacs.example.org", Client(), 1 << 20), "P1", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.parent.glob("escaped*"))


@pytest.mark.parametrize("size", ["inf", "nan", "-1"])
def test_a_size_limit_that_is_no_size_is_one_line_before_anything_is_sent(tmp_path, capsys, size):
    code, out, err = _main(["pacs", "--url", "https://pacs.example.org/dicom-web", "pull", "--patient-id", "P1",
                            "--out", str(tmp_path / "out"), "--max-mb", size], capsys)
    assert code == 2 and err.strip() == f"error: --max-mb: give a size in MB above 0, got {float(size)}"
    assert not (tmp_path / "out").exists()
