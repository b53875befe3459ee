"""Worklist store (SQLite), CSV import/export, and the resumable batch command."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.review.worklist import _MIGRATIONS, _SCHEMA_V1, SCHEMA_VERSION, Worklist, WorklistError
from tests.conftest import draw_shape, save_tiny_weights

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for n, kind in enumerate(("ellipse", "rectangle", "polygon", "ellipse")):
        path = tmp_path / f"img{n}.png"
        draw_shape(kind, (200, 60 + 40 * n, 40), rng, size=80).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("w") / "tiny.pt", input_size=32)


def write_csv(path, rows, header="image1,image2,case_id,crop1,crop2,note"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_csv_import_keeps_good_rows_and_lists_bad_ones(tmp_path, pictures):
    a, b, c, _ = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [
        f"{a},{b},case-1,,,first visit",
        f'{a},{c},case-2,"0,0,40,40",,',
        f"{a},{tmp_path / 'missing.png'},case-3,,,",
        f'{b},{c},case-4,"1,2,3",,',
        f",{c},case-5,,,",
    ])
    worklist = Worklist(tmp_path / "w.sqlite")
    imported = worklist.import_csv(pairs)
    added, problems = imported.added, imported.problems
    assert len(added) == 2 and len(problems) == 3
    assert problems[0].startswith(f"{pairs}:4: no such image file") and f"{pairs}:5: crop1" in problems[1]
    assert f"{pairs}:6:" in problems[2]
    cases = worklist.cases()
    assert [c.case_id for c in cases] == ["case-1", "case-2"] and cases[1].crop1 == (0, 0, 40, 40)
    assert cases[0].note == "first visit" and cases[0].status == "new" and cases[0].sha1
    with pytest.raises(WorklistError, match="header"):
        worklist.import_csv(write_csv(tmp_path / "bad.csv", [f"{a},{b}"], header="left,right"))



def test_relative_image_paths_of_a_csv_name_files_beside_it_and_are_kept_absolute(tmp_path, pictures, monkeypatch):
    # Kept as typed, "img0.png" named a file in whatever folder the import ran from: the worklist, opened later
    # from another folder, could not find its images, and a CSV beside its images failed unless run from there.
    a, b, c, _ = pictures
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.open(c).save(elsewhere / "cwd-only.png")
    monkeypatch.chdir(elsewhere)
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a.name},{b.name},beside,,,", f"{a.name},cwd-only.png,cwd,,,"])
    worklist = Worklist(tmp_path / "w.sqlite")
    imported = worklist.import_csv(pairs)
    added, problems = imported.added, imported.problems
    assert len(added) == 2 and problems == []
    first, second = worklist.cases()
    assert (first.image1, first.image2) == (str(a), str(b))
    assert second.image2 == str(elsewhere / "cwd-only.png")  # the current folder still serves, as before
    monkeypatch.chdir(ROOT)
    assert all(Path(case.image1).is_file() and Path(case.image2).is_file() for case in worklist.cases())

def test_a_csv_row_naming_a_non_image_is_refused_in_one_line_naming_the_file(tmp_path, pictures, weights):
    """Pairs CSV rows follow core.io.image_files, in the worklist and in batch alike."""
    a, b, _, _ = pictures
    notes = tmp_path / "notes.txt"
    notes.write_text("image1,image2\n")
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},case-1,,,", f"{a},{notes},case-2,,,"])
    imported = Worklist(tmp_path / "w.sqlite").import_csv(pairs)
    added, problems = imported.added, imported.problems
    assert len(added) == 1 and problems == [f"{pairs}:3: image2 {notes}: not an image file (expected "
                                            ".jpg, .jpeg, .png, .bmp, .gif, .tif, .tiff, .webp, .dcm or a DICOM file)"]
    from core.model.weights import load_model
    from core.review.batch import run_batch

    run_batch(load_model(weights), pairs, tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "summary.csv", encoding="utf-8")))
    assert rows[0]["error"] == "" and rows[1]["error"] == f"line 3: {problems[0].split(':3: ', 1)[1]}"


def test_reviewer_decisions_survive_reopening_and_export(tmp_path, pictures):
    a, b, *_ = pictures
    path = tmp_path / "w.sqlite"
    worklist = Worklist(path)
    case = worklist.add_case(a, b, case_id="x")
    result = worklist.record_result(case, model_sha256="m" * 64, method="gradcam", similarity=0.8, decision="similar")
    worklist.save_review(result, decision="disagree", note="looks different to me")
    worklist.set_status(case, "flagged")
    worklist.close()
    reopened = Worklist(path)
    assert reopened.latest_result(case)["reviewer_decision"] == "disagree"
    assert reopened.latest_result(case)["reviewer_note"] == "looks different to me"
    assert reopened.case(case).status == "flagged"
    with pytest.raises(ValueError):
        reopened.save_review(result, decision="maybe")
    count = reopened.export_csv(tmp_path / "out.csv")
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert count == 1 and rows[0]["reviewer_note"] == "looks different to me" and rows[0]["changed"] == ""


def test_the_note_is_the_cases_whichever_result_is_newest(tmp_path, pictures):
    """Typed on one result, then another model (or the refined map, or a batch run) scored the case: reopening
    shows the note, not the new result's empty one; a note saved while an older result is current goes where
    reopening reads it."""
    a, b, *_ = pictures
    worklist = Worklist(tmp_path / "w.sqlite")
    case = worklist.add_case(a, b, case_id="x")
    first = worklist.ensure_result(case, "m" * 64, "amortised")
    worklist.save_note(case, "irregular border, excise")
    worklist.save_review(first, decision="agree")
    worklist.ensure_result(case, "n" * 64, "amortised")  # another model's score of the case
    latest = worklist.latest_result(case)
    assert latest["reviewer_note"] == "irregular border, excise"
    assert latest["reviewer_decision"] is None  # agreeing was with the other model's verdict
    assert worklist.ensure_result(case, "m" * 64, "amortised") == first  # the first model again: its older result
    worklist.save_note(case, "irregular border, excise; seen by Dr. K")
    worklist.close()
    assert Worklist(tmp_path / "w.sqlite").latest_result(case)["reviewer_note"] == (
        "irregular border, excise; seen by Dr. K")


def test_an_agreement_is_dropped_when_the_verdict_it_was_given_on_changes(tmp_path, pictures):
    """The same model and method re-scored the case (the reviewer drew another crop): agreeing with "similar"
    is not agreeing with "different"."""
    a, b, *_ = pictures
    worklist = Worklist(tmp_path / "w.sqlite")
    case = worklist.add_case(a, b)
    result = worklist.record_result(case, model_sha256="m" * 64, method="gradcam", similarity=0.9, decision="similar")
    worklist.save_review(result, decision="agree")
    worklist.update_score(result, 0.91, "similar", 0.9)
    assert worklist.latest_result(case)["reviewer_decision"] == "agree"
    worklist.update_score(result, 0.2, "different", 0.1)
    assert worklist.latest_result(case)["reviewer_decision"] is None


def test_a_changed_image_is_detected(tmp_path, pictures):
    a, b, c, _ = pictures
    worklist = Worklist(tmp_path / "w.sqlite")
    case = worklist.case(worklist.add_case(a, b))
    assert worklist.changed_images(case) == []
    b.write_bytes(c.read_bytes())
    assert worklist.changed_images(case) == [1]
    a.unlink()
    assert worklist.changed_images(case) == [0, 1]


def test_an_older_schema_is_migrated_in_place(tmp_path, pictures):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA_V1)
    db.execute("INSERT INTO cases (image1, image2, created, updated) VALUES ('a.png', 'b.png', 'then', 'then')")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    worklist = Worklist(path)
    assert worklist.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert worklist.cases()[0].image1 == "a.png" and worklist.cases()[0].label is None
    result = worklist.record_result(1, model_sha256="m", method="gradcam", similarity=0.5, decision="different",
                                    probability=0.4)
    assert worklist.latest_result(1)["probability"] == 0.4 and result
    worklist.close()
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(WorklistError, match="newer"):
        Worklist(path)



def test_a_worklist_that_cannot_be_written_stops_import_and_batch_in_one_line_before_any_write(tmp_path, pictures,
                                                                                               weights):
    # A read-only worklist file: `worklist --import` ended in sqlite3's "attempt to write a readonly database"
    # traceback at its first case, `batch --worklist` too, after its first pair's row. query_only stands in for the
    # file's permissions, which do not stop root (the tests may run as root).
    from core.model.weights import load_model
    from core.review.batch import run_batch

    a, b, _, _ = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},case-1,,,"])
    worklist = Worklist(tmp_path / "w.sqlite")
    worklist.db.execute("PRAGMA query_only=ON")
    with pytest.raises(WorklistError, match="w.sqlite: the worklist cannot be written"):
        worklist.import_csv(pairs)
    with pytest.raises(WorklistError, match="w.sqlite: the worklist cannot be written"):
        run_batch(load_model(weights), pairs, tmp_path / "out", worklist=worklist)
    assert worklist.cases() == [] and not (tmp_path / "out").exists()
    worklist.db.execute("PRAGMA query_only=OFF")
    assert len(worklist.import_csv(pairs).added) == 1


def test_a_pairs_csv_that_is_a_folder_or_a_fifo_is_refused_in_one_line_without_reading_it(tmp_path):
    # a FIFO: `batch pipe.csv` waited forever for a writer; a folder said "[Errno 21] Is a directory"
    from core.review.pairs_csv import PairsCsvError, read_pairs_csv

    with pytest.raises(PairsCsvError, match="is a folder, not a CSV file"):
        read_pairs_csv(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.csv")
        with pytest.raises(PairsCsvError, match="pipe.csv: not a regular file"):
            read_pairs_csv(tmp_path / "pipe.csv")

def test_batch_scores_every_pair_once_and_records_errors(tmp_path, pictures, weights, capsys):
    from main import main

    a, b, c, d = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},,,,", f"{a},{c},,,,", f"{a},{tmp_path / 'gone.png'},,,,",
                                               f"{c},{d},,,,"])
    out = tmp_path / "out"
    # exit status 3: finished, some pairs failed (1 is a bug, cli.run.EXIT_PARTIAL)
    assert main(["batch", str(pairs), "--out", str(out), "--model", str(weights), "--worklist",
                 str(tmp_path / "w.sqlite")]) == 3
    rows = list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))
    assert [r["image2"] for r in rows] == [str(b), str(c), str(tmp_path / "gone.png"), str(d)]
    assert rows[2]["error"] and not rows[0]["error"] and 0 <= float(rows[0]["similarity"]) <= 1
    out_text, err = capsys.readouterr()
    assert "3 scored now" in out_text and "1 failed" in out_text
    assert err == f"failed line 4: {rows[2]['error']}\n" and "gone.png" in err
    assert len(Worklist(tmp_path / "w.sqlite").cases()) == 3
    # Run again: nothing is scored twice, the earlier failure is still one.
    assert main(["batch", str(pairs), "--out", str(out), "--model", str(weights)]) == 3
    assert capsys.readouterr().err == err
    assert len(list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))) == 4
    assert main(["batch", str(tmp_path / "nope.csv"), "--out", str(out), "--model", str(weights)]) == 2
    good = write_csv(tmp_path / "good.csv", [f"{a},{b},,,,"])
    assert main(["batch", str(good), "--out", str(tmp_path / "out2"), "--model", str(weights)]) == 0


def test_worklist_import_with_a_bad_row_exits_3_naming_it(tmp_path, pictures, capsys):
    from main import main

    a, b, _, _ = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},case-1,,,", f"{a},,case-2,,,"])
    assert main(["worklist", "--worklist", str(tmp_path / "w.sqlite"), "--import", str(pairs)]) == 3
    out, err = capsys.readouterr()
    assert "1 case added, 0 already in the worklist (left as they were), 1 row skipped" in out
    assert err == f"skipped {pairs}:3: image1 and image2 are both required\n"


def test_batch_killed_mid_run_resumes_with_each_pair_once(tmp_path, pictures, weights):
    rows = [f"{p},{q},,,," for p in pictures for q in pictures if p != q] * 2  # 12 pairs, each listed twice
    pairs = write_csv(tmp_path / "pairs.csv", rows)
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "main.py"), "batch", str(pairs), "--out", str(out), "--model", str(weights),
               "--report"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = out / "summary.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not summary.exists() or summary.read_text().count("\n") < 3):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = summary.read_text().count("\n") - 1
    assert 0 < partial < 12
    assert subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=300).returncode == 0
    done = list(csv.DictReader(open(summary, encoding="utf-8")))
    # Duplicated CSV rows are the same pair: the summary holds each distinct pair once.
    assert len(done) == 12 and len({(r["image1"], r["image2"]) for r in done}) == 12
    assert all(Path(r["report"]).exists() and not r["error"] for r in done)
    assert not list(out.rglob("*.tmp"))


def test_case_record_columns_import_and_export(tmp_path, pictures):
    a, b, *_ = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [
        f"{a},{b},c-1,PSN-7,left forearm,2026-01-02,2026-04-05,Dr. K",
        f"{a},{b},c-2,PSN-8,back,2026-02-30,,Dr. K",  # no such date: refused with its line
    ], header="image1,image2,case_id,patient_id,body_site,acquired1,acquired2,reviewer")
    worklist = Worklist(tmp_path / "w.sqlite")
    imported = worklist.import_csv(pairs)
    added, problems = imported.added, imported.problems
    assert len(added) == 1 and len(problems) == 1 and f"{pairs}:3:" in problems[0] and "not a date" in problems[0]
    case = worklist.case(added[0])
    assert case.record.facts() == {"case_id": "c-1", "patient_id": "PSN-7", "body_site": "left forearm",
                                   "acquired": ["2026-01-02", "2026-04-05"], "reviewer": "Dr. K"}
    result = worklist.record_result(case.id, model_sha256="m" * 64, method="gradcam", similarity=0.8,
                                    decision="inconclusive", probability=0.55)
    worklist.save_review(result, decision="agree")
    worklist.export_csv(tmp_path / "out.csv")
    row = next(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert row["patient_id"] == "PSN-7" and row["acquired2"] == "2026-04-05" and row["reviewer"] == "Dr. K"
    assert row["verdict"] == "inconclusive" and row["probability"] == "0.55" and row["reviewer_decision"] == "agree"


def test_followup_rows_are_registered_measured_and_kept_as_such(tmp_path, weights):
    from core.model.weights import load_model
    from core.review.batch import run_batch

    source = sorted((ROOT.parent / "shared" / "data" / "skin" / "benign").glob("*.jpg"))[0]
    first, later = tmp_path / "v1.png", tmp_path / "v2.png"
    Image.open(source).convert("RGB").save(first)
    Image.open(source).convert("RGB").rotate(8, resample=Image.BICUBIC, fillcolor=(140, 110, 100)).save(later)
    pairs = write_csv(tmp_path / "pairs.csv", [f"{first},{later},lesion-7,followup", f"{later},{first},x,visit"],
                      header="image1,image2,case_id,kind")
    worklist = Worklist(tmp_path / "w.sqlite")
    counts = run_batch(load_model(weights), pairs, tmp_path / "out", report=True, worklist=worklist)
    assert counts["scored"] == 1 and counts["failed"] == 1
    rows = list(csv.DictReader(open(tmp_path / "out" / "summary.csv", encoding="utf-8")))
    assert rows[0]["kind"] == "followup" and 0.8 < float(rows[0]["area_change"]) < 1.25
    assert "kind must be one of" in rows[1]["error"]
    facts = json.loads(Path(rows[0]["report"]).with_suffix(".json").read_text())
    assert facts["kind"] == "followup" and len(facts["measurements"]) == 2 and facts["case_id"] == "lesion-7"
    assert [case.kind for case in worklist.cases()] == ["followup"]


def test_follow_up_cases_are_grouped_by_lesion_and_a_version_3_file_gains_the_lesion_id(tmp_path, pictures):
    a, b, c, d = pictures
    csv_path = tmp_path / "visits.csv"
    csv_path.write_text(
        "image1,image2,kind,patient_id,body_site,lesion_id,acquired\n"
        f"{a},{b},followup,P-1,left scapula,L1,\"2026-01-05,2026-03-02\"\n"
        f"{b},{c},followup,P-1,left scapula,L1,\"2026-03-02,2026-06-01\"\n"
        f"{a},{d},followup,P-1,left scapula,L2,\"2026-01-05,2026-06-01\"\n"  # another lesion at that site
        f"{a},{c},followup,P-2,left scapula,L1,\n"  # another patient
        f"{a},{b},pair,P-1,left scapula,L1,\n")  # a comparison, not a visit of the lesion
    worklist = Worklist(tmp_path / "w.sqlite")
    imported = worklist.import_csv(csv_path)
    added, problems = imported.added, imported.problems
    assert problems == [] and [case.lesion_id for case in worklist.cases()] == ["L1", "L1", "L2", "L1", "L1"]
    for case_ref in added[:2]:  # the history opens from either of its cases
        assert [case.id for case in worklist.lesion_cases(case_ref)] == added[:2]
        assert worklist.lesion_visits(case_ref) == [(str(a.resolve()), "2026-01-05"), (str(b.resolve()), "2026-03-02"),
                                                    (str(c.resolve()), "2026-06-01")]
    assert [case.id for case in worklist.lesion_cases(added[2])] == [added[2]]
    assert [case.id for case in worklist.lesion_cases(added[4])] == [added[4]]
    exported = tmp_path / "out.csv"
    worklist.export_csv(exported)
    rows = list(csv.DictReader(exported.open()))
    assert rows[2]["lesion_id"] == "L2" and rows[0]["kind"] == "followup" and "model_sha256" in rows[0]
    assert rows[0]["followup_assessment"] == ""  # none typed yet
    worklist.close()
    # a file of the previous schema (3) is migrated: its cases keep everything and gain an empty lesion id
    old = tmp_path / "v3.sqlite"
    db = sqlite3.connect(old)
    db.executescript(_SCHEMA_V1 + "".join(_MIGRATIONS[v] for v in (2, 3)))
    db.execute("INSERT INTO cases (image1, image2, kind, patient_id, body_site, created, updated)"
               " VALUES ('a.png', 'b.png', 'followup', 'P-9', 'arm', 'then', 'then')")
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    migrated = Worklist(old)
    assert migrated.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
    case = migrated.cases()[0]
    assert case.lesion_id is None and case.patient_id == "P-9" and len(migrated.lesion_cases(case.id)) == 1
    assert case.followup_assessment is None  # version 5: none typed yet
    migrated.set_followup_assessment(case.id, "grew: excise")
    assert migrated.cases()[0].followup_assessment == "grew: excise"
    assert case.change is None  # version 6: not measured yet
    migrated.set_followup_change(case.id, "area +27 % +- 4 %, diameter +13 % +- 2 %: beyond measurement uncertainty",
                                 ["changed", "area +27 %"])
    assert migrated.cases()[0].change == {"brief": ["changed", "area +27 %"], "headline": (
        "area +27 % +- 4 %, diameter +13 % +- 2 %: beyond measurement uncertainty")}
    assert case.pixel_size_mm is None  # version 7: none typed yet
    migrated.set_pixel_size(case.id, "0,02")
    assert migrated.cases()[0].pixel_size_mm == "0,02"
    migrated.export_csv(tmp_path / "v3.csv")
    exported_row = next(csv.DictReader((tmp_path / "v3.csv").open()))
    assert exported_row["pixel_size_mm"] == "0,02"
    assert exported_row["followup_assessment"] == "grew: excise"
    assert exported_row["followup_change"].startswith("area +27 %")
    migrated.db.execute("UPDATE cases SET followup_change='not json'")  # a damaged file: not measured, no crash
    assert migrated.cases()[0].change is None
    migrated.close()


def test_worklist_export_never_overwrites_a_file_unless_forced(tmp_path, pictures, capsys):
    # `worklist --import pairs.csv --export pairs.csv` replaced the CSV just imported, without a word
    from main import main

    a, b, _, _ = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},case-1,,,"])
    kept = pairs.read_bytes()
    argv = ["worklist", "--worklist", str(tmp_path / "w.sqlite"), "--import", str(pairs), "--export", str(pairs)]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {pairs}: already exists (use --force to overwrite)\n"
    assert pairs.read_bytes() == kept and not (tmp_path / "w.sqlite").exists()  # refused before the import
    assert main([*argv, "--force"]) == 0
    assert next(csv.DictReader(open(pairs, encoding="utf-8")))["case_id"] == "case-1"


def test_batch_names_an_out_folder_it_cannot_use(tmp_path, pictures, weights, monkeypatch):
    # was "out: [Errno 17] File exists" for a file, "[Errno 13] Permission denied" for a read-only folder
    from core.model.weights import load_model
    from core.review.batch import BatchError, run_batch

    a, b, _, _ = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},case-1,,,"])
    taken = tmp_path / "taken"
    taken.write_text("x")
    model = load_model(weights)
    with pytest.raises(BatchError, match=f"^{taken} is not a folder: its summary.csv cannot be written there$"):
        run_batch(model, pairs, taken)

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", denied)  # a read-only folder, which does not stop root
    with pytest.raises(BatchError, match=r"out/summary\.csv: cannot be written \(Permission denied\)$"):
        run_batch(model, pairs, tmp_path / "out")


def test_an_import_stopped_part_way_adds_nothing(tmp_path, pictures, monkeypatch):
    # each case was committed alone: Ctrl-C after some rows kept them, and running the import again added them twice
    a, b, c, d = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},case-1,,,", f"{a},{c},case-2,,,", f"{c},{d},case-3,,,"])
    worklist = Worklist(tmp_path / "w.sqlite")
    real_add = Worklist.add_case

    def add_then_stop(self, *args, **kwargs):
        if self.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 2:
            raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Worklist, "add_case", add_then_stop)
    with pytest.raises(KeyboardInterrupt):
        worklist.import_csv(pairs)
    assert worklist.cases() == []
    monkeypatch.setattr(Worklist, "add_case", real_add)
    assert len(worklist.import_csv(pairs).added) == 3 and [c.case_id for c in worklist.cases()] == [
        "case-1", "case-2", "case-3"]


def test_a_pairs_csv_as_excel_writes_it_is_read_or_refused_in_plain_words(tmp_path, pictures):
    # Excel writes ';' where the comma is the decimal mark (German, French) and its plain "CSV" in cp1252: both were
    # refused, the first as "the first line must be a header with at least image1,image2" though it had them, the
    # second as "'utf-8' codec can't decode byte 0xe4 in position 47: invalid continuation byte"
    from core.review.pairs_csv import PairsCsvError, read_pairs_csv

    a, b, _, _ = pictures
    for name, text in (("semicolons.csv", f'Image1;Image2;crop1\n{a};{b};"0,0,40,40"\n'),
                       ("tabs.csv", f"image1\timage2\n{a}\t{b}\n")):
        (tmp_path / name).write_text(text, encoding="utf-8")
        [(line, row, problem)] = read_pairs_csv(tmp_path / name)
        assert problem is None and (row["image1"], row["image2"]) == (str(a), str(b))
    assert row.get("crop1") is None and read_pairs_csv(tmp_path / "semicolons.csv")[0][1]["crop1"] == (0, 0, 40, 40)
    (tmp_path / "ansi.csv").write_bytes(f"image1,image2,note\n{a},{b},Läsion\n".encode("cp1252"))
    with pytest.raises(PairsCsvError, match=r"ansi\.csv: not UTF-8 text \(byte 0xe4 at \d+\): save it as CSV UTF-8$"):
        read_pairs_csv(tmp_path / "ansi.csv")


def test_importing_a_csv_again_adds_no_case_twice_and_keeps_what_the_reviewer_typed(tmp_path, pictures, capsys,
                                                                                   monkeypatch):
    """An import is idempotent: a case is its two files (however the paths are written), its kind and, for a
    follow-up, its lesion; a case already held keeps its review, and a CSV note that differs is named, not
    imported."""
    from main import main

    a, b, c, _ = pictures
    rows = [f"{a},{b},case-1,,,first look", f"{a},{c},case-2,,,"]
    pairs = write_csv(tmp_path / "pairs.csv", rows)
    store = tmp_path / "w.sqlite"
    argv = ["worklist", "--worklist", str(store), "--import", str(pairs)]
    assert main(argv) == 0
    assert "2 cases added, 0 already in the worklist" in capsys.readouterr().out
    worklist = Worklist(store)
    first = worklist.cases()[0]
    result = worklist.ensure_result(first.id, "m" * 64, "gradcam")
    worklist.save_review(result, decision="agree", note="typed by the reviewer")
    worklist.set_status(first.id, "done")
    worklist.close()
    assert main(argv) == 0  # the same CSV again
    out, err = capsys.readouterr()
    assert "0 cases added, 2 already in the worklist (left as they were), 0 rows skipped" in out and err == ""
    # the same files named another way, a differing note, a row listed twice, and a follow-up of the same files
    monkeypatch.chdir(a.parent)
    other = write_csv(tmp_path / "again.csv", [f"{a.name},{b.parent / '.' / b.name},case-1,,,another note",
                                               f"{a},{c},case-2,,,", f"{a},{c},case-2,,,"])
    followup = tmp_path / "followup.csv"
    followup.write_text(f"image1,image2,kind,lesion_id\n{a},{b},followup,L1\n{a},{b},followup,L2\n{a},{b},followup,L1\n",
                        encoding="utf-8")
    assert main(["worklist", "--worklist", str(store), "--import", str(other)]) == 0
    out, err = capsys.readouterr()
    assert "0 cases added, 3 already in the worklist" in out
    assert err == (f"{other}:2: case {first.id} is already in the worklist with another note; its note was kept, "
                   "the CSV's not imported\n")
    assert main(["worklist", "--worklist", str(store), "--import", str(followup)]) == 0
    assert "2 cases added, 1 already in the worklist" in capsys.readouterr().out  # two lesions: two cases
    worklist = Worklist(store)
    cases = worklist.cases()
    assert len(cases) == 4 and [c.kind for c in cases] == ["pair", "pair", "followup", "followup"]
    assert cases[0].note == "first look" and cases[0].status == "done"
    latest = worklist.latest_result(cases[0].id)
    assert latest["reviewer_note"] == "typed by the reviewer" and latest["reviewer_decision"] == "agree"


def test_batch_into_a_worklist_adds_each_case_once_and_scores_it_there(tmp_path, pictures, weights):
    from main import main

    a, b, c, _ = pictures
    pairs = write_csv(tmp_path / "pairs.csv", [f"{a},{b},case-1,,,", f"{a},{c},case-2,,,"])
    store = str(tmp_path / "w.sqlite")
    assert main(["worklist", "--worklist", store, "--import", str(pairs)]) == 0
    for out, method in (("out1", "gradcam"), ("out2", "attention")):  # another method: the pairs scored again
        assert main(["batch", str(pairs), "--out", str(tmp_path / out), "--model", str(weights), "--worklist", store,
                     "--method", method]) == 0
    worklist = Worklist(store)
    cases = worklist.cases()
    assert [case.case_id for case in cases] == ["case-1", "case-2"]
    for case in cases:
        methods = worklist.db.execute("SELECT method FROM results WHERE case_ref=? ORDER BY id", (case.id,)).fetchall()
        assert [m for (m,) in methods] == ["gradcam", "attention"]
