"""Reports for the patient file: the case record in every report and sidecar, PDF and DICOM outputs, DICOM input,
overlays capped at a legible opacity, and an image's file size and scale recorded right."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageLoadError
from core.explain.facts import image_facts
from core.io.dicom import secondary_capture
from core.io.images import from_pil, load_image, with_crop
from core.review import outputs, report_layout
from core.review.case_record import RECORD_KEYS, make_record, parse_acquired
from tests.test_report import pair, render_report, report_facts  # noqa: F401  (pair: the fixture)

RECORD = dict(case_id="C-17", patient_id="PSN-0042", body_site="left scapula", acquired=("2026-03-02", "2026-09-14"),
              reviewer="Dr. Keller")


def test_case_record_checks_its_fields():
    record = make_record(**RECORD)
    assert record.facts() == {**RECORD, "acquired": ["2026-03-02", "2026-09-14"]}
    assert parse_acquired("20260302,") == ("2026-03-02", "")
    assert make_record().facts() == {key: None for key in RECORD_KEYS}
    with pytest.raises(ValueError, match="not a date"):
        parse_acquired("2026-13-40")
    with pytest.raises(ValueError, match="one line"):
        make_record(patient_id="a\nb")
    with pytest.raises(ValueError, match="at most"):
        make_record(body_site="x" * 500)


def test_every_report_carries_the_case_record_and_the_reviewer_verdict(tmp_path, pair):  # noqa: F811
    record = make_record(**RECORD)
    png, sidecar = outputs.write_report(tmp_path / "r.png", *pair, record=record, reviewer_verdict="disagree")
    facts = json.loads(sidecar.read_text())
    assert {key: facts[key] for key in RECORD_KEYS} == record.facts() and facts["reviewer_verdict"] == "disagree"
    assert facts["verdict"] and facts["report_file"] == "r.png"
    bare = report_facts(*pair)
    assert all(bare[key] is None for key in RECORD_KEYS) and bare["reviewer_verdict"] is None
    with pytest.raises(ValueError, match="reviewer verdict"):
        report_facts(*pair, reviewer_verdict="maybe")
    # the record shows on the page: a report with it differs from one without in the header band only
    from datetime import datetime, timezone

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # the same stamp: only the record differs
    with_record = np.asarray(render_report(*pair, record=record, when=when))
    without = np.asarray(render_report(*pair, when=when))
    changed = np.nonzero(np.any(with_record[:200] != without[:200], axis=2))[0]
    assert changed.size and changed.min() < report_layout.panel_top(bare)


def test_pdf_report_is_a_pdf_with_pages_and_the_case_in_its_metadata(tmp_path, pair):  # noqa: F811
    pdf, sidecar = outputs.write_report(tmp_path / "r.pdf", *pair, record=make_record(**RECORD))
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") + data.count(b"/Type /Page/") >= 1
    assert b"C-17" in data  # the subject names the case
    assert json.loads(sidecar.read_text())["report_file"] == "r.pdf"


def test_dicom_report_round_trips_with_pydicom(tmp_path, pair):  # noqa: F811
    import pydicom

    dcm, _ = outputs.write_report(tmp_path / "r.dcm", *pair, record=make_record(**RECORD))
    ds = pydicom.dcmread(dcm)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and ds.PatientID == "PSN-0042"
    assert ds.AccessionNumber == "C-17" and ds.BodyPartExamined == "LEFT SCAPULA" and ds.OperatorsName == "Dr. Keller"
    page = render_report(*pair, record=make_record(**RECORD))
    assert ds.pixel_array.shape == (page.height, page.width, 3)
    # and a report written as DICOM opens as an image like any other, with its case fields
    loaded = load_image(dcm)
    assert loaded.size == page.size and loaded.case_fields["patient_id"] == "PSN-0042"


def test_dicom_images_are_read_with_their_case_fields_and_hostile_ones_refused(tmp_path):
    rgb = (np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(30, 40, 3)
    data = secondary_capture(Image.fromarray(rgb), {"patient_id": "P1", "body_site": "arm", "created": "2025-01-02"})
    path = tmp_path / "lesion.dcm"
    path.write_bytes(data)
    loaded = load_image(path)
    assert np.array_equal(np.asarray(loaded.image), rgb)
    assert loaded.case_fields == {"patient_id": "P1", "body_site": "ARM", "acquired": "20250102"}
    for name, content in (("empty-pixels.dcm", b"\0" * 128 + b"DICM" + b"\x02\x00" * 40),
                          ("cut.dcm", data[: len(data) // 3])):
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ImageLoadError) as caught:
            load_image(bad)
        assert str(caught.value).startswith(str(bad)) and "\n" not in str(caught.value)


def test_a_report_never_hides_the_lesion_under_an_opaque_map(pair):  # noqa: F811
    from datetime import datetime, timezone

    explanation, images, info = pair
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # the same stamp on both pages
    full = np.asarray(render_report(explanation, images, info, layers=({"factual": 1.0}, {}), when=when),
                      dtype=int)
    capped = np.asarray(render_report(explanation, images, info, when=when,
                                             layers=({"factual": report_layout.MAX_OPACITY}, {})), dtype=int)
    assert np.array_equal(full, capped)


def test_a_huge_image_records_its_file_size_and_scale(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("RGB", (5000, 4000), (120, 90, 80)).save(path)
    loaded = load_image(path)
    assert loaded.scale > 1 and loaded.file_size == (5000, 4000)
    recropped = with_crop(loaded, (0, 0, 400, 300))  # as the GUI's crop tool and the automatic crop re-crop it
    facts = image_facts(recropped)
    assert facts["original_size"] == [5000, 4000] and facts["scale"] == loaded.scale
    assert facts["loaded_size"] == list(loaded.original_size)
    assert image_facts(from_pil(Image.new("RGB", (50, 40))))["scale"] == 1.0


def test_explain_cli_writes_the_case_record(tmp_path, shapes_copy, image_pair):
    out = tmp_path / "case.png"
    done = subprocess.run([sys.executable, "main.py", "explain", str(image_pair[0]), str(image_pair[1]), "--model",
                           str(shapes_copy), "--device", "cpu", "--json", "--report", str(out), "--case-id", "C-17",
                           "--patient-id", "PSN-0042", "--body-site", "left scapula", "--acquired",
                           "2026-03-02,2026-09-14", "--reviewer", "Dr. Keller"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    printed, sidecar = json.loads(done.stdout), json.loads(out.with_suffix(".json").read_text())
    for facts in (printed, sidecar):
        assert facts["case_id"] == "C-17" and facts["acquired"] == ["2026-03-02", "2026-09-14"]
    bad = subprocess.run([sys.executable, "main.py", "explain", str(image_pair[0]), str(image_pair[1]), "--model",
                          str(shapes_copy), "--acquired", "yesterday"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a date" in bad.stderr


def test_a_long_case_id_is_printed_whole_on_the_report_never_cut(pair, monkeypatch):  # noqa: F811
    """A worklist's case id of 64 characters was cut at 44 on the page ("C-913 follow-up of the left scapula
    naevus,..."): an identifier cut short can name another case. It wraps; the images move down with it."""
    from PIL import ImageDraw

    drawn: list[str] = []
    text = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, xy, words, *a, **k: drawn.append(str(words))
                        or text(self, xy, words, *a, **k))
    case = "C-913 follow-up of the left scapula naevus, second dermoscopy visit, referred by Dr. Roth"
    record = make_record(**{**RECORD, "case_id": case, "body_site": "left scapula, 4 cm below the acromion, lateral"})
    render_report(*pair, record=record)
    page = " ".join(" ".join(drawn).split())
    assert case in page and "left scapula, 4 cm below the acromion, lateral" in page
    assert not any(line.endswith("…") for line in drawn)
    short = report_facts(*pair, record=make_record(**RECORD))
    long = report_facts(*pair, record=record)
    # the case id takes three lines, the body site two: three more lines, the images below them
    assert report_layout.panel_top(long) == report_layout.panel_top(short) + 3 * 24
