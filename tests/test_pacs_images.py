"""A visit of several images on a real PACS (Orthanc, tests/pacs_server.py): an overview and two close-ups, each
its own series. `pacs find` counts and numbers them with what tells them apart, `find --study` lists one study's,
`pull --image` retrieves one chosen by number or SOP Instance UID, and the pulled file opens as that image. An
image the study does not hold is one line, exit 2, nothing written."""

from __future__ import annotations

import json
from itertools import count

import numpy as np
import pydicom
import pytest

from tests.dicom_visits import PATIENT, VISIT_IMAGES, write_visit_of_images

_ids = count(1)


@pytest.fixture
def visit(tmp_path, orthanc):
    """A new patient with one visit of three images on the PACS: (patient id, study uid, the source files)."""
    identity = {**PATIENT, "PatientID": f"MULTI-{next(_ids)}-{tmp_path.name[-6:]}"}
    source = tmp_path / "source"
    source.mkdir()
    paths = write_visit_of_images(source, identity)
    for path in reversed(paths):  # stored in another order than numbered: the number follows the series
        orthanc.upload(path)
    return identity["PatientID"], pydicom.dcmread(paths[0]).StudyInstanceUID, paths


def _main(argv, capsys):
    from main import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_exit_2(code: int, err: str, *words: str) -> None:
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert all(word in err for word in words), err


def test_find_numbers_a_visits_images_with_what_tells_them_apart(orthanc, pacs_login, visit, capsys):
    pid, study, paths = visit
    sources = [pydicom.dcmread(path) for path in paths]
    code, out, err = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", pid, "--json"], capsys)
    assert code == 0, err
    (found,) = json.loads(out)["studies"]
    assert found["images"] == 3
    instances = [instance for series in found["series"] for instance in series["instances"]]
    assert [i["index"] for i in instances] == [1, 2, 3]
    assert [i["sop_uid"] for i in instances] == [ds.SOPInstanceUID for ds in sources]
    assert [s["description"] for s in found["series"]] == [d for d, _, _ in VISIT_IMAGES]
    assert [i["laterality"] for i in instances] == [lat for _, _, lat in VISIT_IMAGES]
    assert [(i["columns"], i["rows"]) for i in instances] == [(size, size) for _, size, _ in VISIT_IMAGES]
    # one study's images, as a reviewer reads them
    code, out, err = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", pid, "--study", study], capsys)
    assert code == 0, err
    assert "3 image(s)" in out.splitlines()[0]
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("image ")]
    assert lines[1].startswith("image 2 | Close-up lesion A | series 2, instance 1 | BACK | left | 160x160 px")
    assert lines[2].endswith(sources[2].SOPInstanceUID) and "| right |" in lines[2]


def test_pull_one_image_by_number_or_uid_and_open_it(orthanc, pacs_login, visit, tmp_path, capsys):
    from core.io.images import load_image

    pid, study, paths = visit
    second, third = pydicom.dcmread(paths[1]), pydicom.dcmread(paths[2])
    out = tmp_path / "second"
    code, text, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--study", study,
                             "--image", "2", "--out", str(out)], capsys)
    assert code == 0, err
    (pulled,) = out.iterdir()
    assert text.count("wrote") == 1 and pulled.name == f"20260915_{second.SOPInstanceUID}.dcm"
    opened = load_image(pulled)  # opens as any image does: the second image's pixels, not the first's
    assert opened.dicom.SOPInstanceUID == second.SOPInstanceUID
    assert np.array_equal(np.asarray(opened.image), second.pixel_array)
    code, _, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--study", study,
                          "--image", third.SOPInstanceUID, "--out", str(tmp_path / "third")], capsys)
    assert code == 0, err
    assert [pydicom.dcmread(p).SOPInstanceUID for p in (tmp_path / "third").iterdir()] == [third.SOPInstanceUID]


def test_an_image_the_study_does_not_hold_is_one_line_exit_2_nothing_written(orthanc, pacs_login, visit, tmp_path,
                                                                             capsys):
    pid, study, _ = visit
    out = tmp_path / "none"

    def pull(*extra):
        return _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--out", str(out), *extra], capsys)

    for which in ("4", "0"):
        code, _, err = pull("--study", study, "--image", which)
        _one_line_exit_2(code, err, f"has no image {which}", "numbered 1-3", f"find --study {study}")
    code, _, err = pull("--study", study, "--image", "1.2.3.999")
    _one_line_exit_2(code, err, "no image with SOP Instance UID 1.2.3.999", "numbered 1-3")
    code, _, err = pull("--image", "2")
    _one_line_exit_2(code, err, "give the study too")
    code, _, err = pull("--study", "1.2.3.4.5", "--image", "1")
    _one_line_exit_2(code, err, "has no study 1.2.3.4.5")
    code, _, err = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", pid, "--study", "../x"], capsys)
    _one_line_exit_2(code, err, "has no study ../x")
    assert not out.exists()


def test_the_workstations_own_reports_in_a_visit_are_not_images_to_compare(orthanc, pacs_login, visit, capsys):
    """A pair report stored into the visit (series 9901, OT, Manufacturer Siamese Lens) has pixels, yet it is no
    image of the lesion: not numbered, not offered (Open from PACS lists study_images), not pulled as image N."""
    from PIL import Image

    from core.io.dicom import report_filing, secondary_capture
    from core.io.images import load_image
    from core.pacs.images import study_images, workstation_report

    pid, study, paths = visit
    report = paths[0].parent / "report.dcm"
    report.write_bytes(secondary_capture(Image.new("RGB", (64, 48), "white"), {"verdict": "similar"},
                                         report_filing([load_image(paths[0])], "pair")))
    orthanc.upload(report)
    report_uid = pydicom.dcmread(report).SOPInstanceUID
    code, out, err = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", pid, "--json"], capsys)
    assert code == 0, err
    (found,) = json.loads(out)["studies"]
    assert found["images"] == 3
    (ours,) = [s for s in found["series"] if s["number"] == "9901"]
    assert ours["manufacturer"] == "Siamese Lens" and ours["instances"][0]["image"]  # it has pixels
    assert ours["instances"][0]["index"] is None
    assert [i["sop_uid"] for i in study_images(found)] == [pydicom.dcmread(p).SOPInstanceUID for p in paths]
    code, out, err = _main(["pacs", "--url", orthanc.url, "find", "--patient-id", pid, "--study", study], capsys)
    assert code == 0 and "3 image(s)" in out and f"a Siamese Lens report (not an image)  {report_uid}" in out, err
    code, _, err = _main(["pacs", "--url", orthanc.url, "pull", "--patient-id", pid, "--study", study, "--image",
                          report_uid, "--out", str(paths[0].parent / "none")], capsys)
    _one_line_exit_2(code, err, "not an image to open")
    # a server that leaves the manufacturer out: the series number and modality the workstation writes tell
    assert workstation_report({"manufacturer": "", "modality": "SR", "number": "9911"})
    assert not workstation_report({"manufacturer": "", "modality": "OT", "number": "2"})
    assert not workstation_report({"manufacturer": "Dermlite", "modality": "OT", "number": "9901"})
