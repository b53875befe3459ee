"""Similar-case index and retrieval: incremental, resumable, model-bound; exact search; retrieval metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import DataError
from core.model.retrieval import nearest, retrieval_metrics, vote
from core.review.gallery import INDEX_DIRNAME, MANIFEST, build_index, open_index
from tests.conftest import SHAPE_CLASSES, draw_shape


@pytest.fixture
def gallery(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "gallery"
    for name, (colour, kind) in list(SHAPE_CLASSES.items())[:2]:
        (root / name).mkdir(parents=True)
        for n in range(5):
            draw_shape(kind, colour, rng).save(root / name / f"{n}.png")
    return root


def _tiny_weights(folder: Path) -> Path:
    import torch

    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model

    torch.manual_seed(0)
    weights = folder / "tiny.pt"
    if not weights.exists():
        save_model(SiameseModel(ModelConfig(input_size=32)).eval(), weights)
    return weights


@pytest.fixture
def model(tiny_model):
    tiny_model.metadata.setdefault("sha256", "a" * 64)
    return tiny_model


def test_index_is_incremental_by_sha256_and_drops_deleted_files(gallery, model, monkeypatch):
    index, counts = build_index(model, gallery)
    assert counts["embedded"] == 10 and len(index.entries) == 10
    assert set(index.labels) == {"red_circles", "blue_squares"}
    manifest = gallery / INDEX_DIRNAME / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    import core.review.gallery as gallery_module

    hashed = []
    real_sha256 = gallery_module.file_sha256
    monkeypatch.setattr(gallery_module, "file_sha256", lambda path: hashed.append(path) or real_sha256(path))
    again, counts = build_index(model, gallery)
    assert counts["embedded"] == 0 and manifest.stat().st_mtime_ns == stamp  # nothing changed, nothing rewritten
    assert hashed == []  # unchanged size and time: no file is read again
    np.testing.assert_array_equal(again.embeddings(), index.embeddings())
    changed = gallery / "red_circles" / "0.png"
    draw_shape("ellipse", (10, 200, 10), np.random.default_rng(9)).save(changed)
    (gallery / "blue_squares" / "1.png").unlink()
    shutil.copy(gallery / "blue_squares" / "2.png", gallery / "new.png")  # a flat file has no label
    updated, counts = build_index(model, gallery)
    assert (counts["embedded"], counts["removed"], len(updated.entries)) == (2, 1, 10)
    by_path = {e.path: e for e in updated.entries}
    assert by_path["new.png"].label is None and "blue_squares/1.png" not in by_path
    fresh, _ = build_index(model, gallery, out=gallery.parent / "fresh")
    np.testing.assert_allclose(updated.embeddings(), fresh.embeddings(), atol=1e-5)
    shards = {p.name for p in (gallery / INDEX_DIRNAME).glob("shard-*")}
    assert shards == {e.shard for e in updated.entries}  # no orphaned shard left


def test_an_unreadable_gallery_image_is_skipped_and_named(gallery, model):
    (gallery / "red_circles" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    index, counts = build_index(model, gallery)
    assert len(index.entries) == 10 and len(counts["skipped"]) == 1 and "broken.png" in counts["skipped"][0]


def test_index_and_retrieve_exit_3_naming_an_unreadable_gallery_image(gallery, tmp_path, capsys):
    """Finished, but an image was left out: exit status 3 (cli.run.EXIT_PARTIAL), not 0 (all done) nor 1 (a bug)."""
    from main import main

    broken = gallery / "red_circles" / "broken.png"
    broken.write_bytes(b"")
    weights = _tiny_weights(tmp_path)
    query = gallery / "red_circles" / "1.png"
    assert main(["retrieve", str(query), str(gallery), "--model", str(weights), "--json"]) == 3
    out, err = capsys.readouterr()
    assert err.splitlines()[-1] == f"skipped {broken}: file is empty"
    assert json.loads(out)["skipped"] == [f"{broken}: file is empty"]
    assert main(["index", str(gallery), "--model", str(weights)]) == 3
    out, err = capsys.readouterr()
    assert err == f"skipped {broken}: file is empty\n" and "1 unreadable" in out
    broken.unlink()
    assert main(["index", str(gallery), "--model", str(weights)]) == 0


@pytest.mark.parametrize("read_only", ["gallery folder", "its index folder"])
def test_a_read_only_gallery_is_indexed_in_the_cache_folder_and_says_where(gallery, model, tmp_path, monkeypatch,
                                                                         capsys, read_only):
    import os

    import core.review.gallery as gallery_module
    from core.review.gallery import index_note
    from main import main

    beside = gallery.resolve() / INDEX_DIRNAME
    if read_only == "its index folder":  # an archive copied with an index another machine built
        beside.mkdir()
    locked = beside if read_only == "its index folder" else gallery.resolve()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(gallery_module.os, "access",
                        lambda path, mode: False if Path(path) == locked else os.access(path, mode))
    index, _ = build_index(model, gallery)
    assert index.location.is_relative_to(tmp_path / "cache" / "SiameseLens") and not (beside / MANIFEST).exists()
    assert len(index.entries) == 10
    assert index_note(index) == f"the gallery folder is read-only: its index is kept in {index.location}"
    weights = _tiny_weights(tmp_path)
    assert main(["index", str(gallery), "--model", str(weights), "--rebuild"]) == 0
    out = capsys.readouterr().out
    assert f"its index is kept in {tmp_path / 'cache' / 'SiameseLens'}" in out
    assert main(["retrieve", str(gallery / "red_circles" / "1.png"), str(gallery), "--model", str(weights)]) == 0
    assert f"its index is kept in {tmp_path / 'cache' / 'SiameseLens'}" in capsys.readouterr().out


def test_an_index_beside_a_writable_gallery_has_no_note(gallery, model):
    from core.review.gallery import index_note

    index, _ = build_index(model, gallery)
    assert index.location == gallery.resolve() / INDEX_DIRNAME and index_note(index) is None


def _found(model, gallery, query_path, k=5):
    from core.io.images import load_image
    from core.review.neighbours import nearest_cases

    index, _ = build_index(model, gallery)
    return nearest_cases(model, index, load_image(query_path), k)


def test_the_query_itself_is_never_a_hit_nor_a_vote_and_is_named_apart(gallery, model):
    query = gallery / "blue_squares" / "2.png"
    found = _found(model, gallery, query, k=9)  # every other image of the gallery
    assert [hit["path"] for hit in found.hits if hit["path"].endswith("blue_squares/2.png")] == []
    assert len(found.hits) == 9 and [hit["rank"] for hit in found.hits] == list(range(1, 10))
    assert found.vote.startswith(("5 of the 9", "4 of the 9"))  # 5 + 4 images other than the query
    assert found.in_gallery.startswith("this image is in the gallery, labelled blue_squares")
    assert "not counted as a similar case" in found.in_gallery


def test_near_duplicates_are_folded_and_counted_once(gallery, model):
    from PIL import Image

    original = gallery / "red_circles" / "0.png"
    with Image.open(original) as image:
        image.load()
        image.save(gallery / "red_circles" / "0-resaved.png", compress_level=1)  # same picture, other bytes
        image.save(gallery / "top-level-copy.png", compress_level=9)
    query = gallery / "blue_squares" / "0.png"
    found = _found(model, gallery, query, k=11)
    paths = [Path(hit["path"]).name for hit in found.hits]
    copies = {"0-resaved.png", "top-level-copy.png"}
    folded = [hit for hit in found.hits if hit["folded"]]
    assert len(folded) == 1 and {Path(p).name for p in folded[0]["folded"]} | {Path(folded[0]["path"]).name} == (
        copies | {"0.png"}) and folded[0]["label"] == "red_circles"
    assert len(found.hits) == 9 and len(set(paths) & (copies | {"0.png"})) == 1  # the picture counts once
    assert found.notes == ["2 near-duplicates of the cases shown folded into them (copies of one picture count once)"]
    # a copy of the query under another name is the query, not a case
    with Image.open(query) as image:
        image.load()
        image.save(gallery / "blue_squares" / "query-copy.png", compress_level=1)
    found = _found(model, gallery, query)
    assert not any(hit["path"].endswith("query-copy.png") for hit in found.hits)
    assert [item["how"] for item in found.own] == ["same content", "near-duplicate"]
    assert found.in_gallery.startswith("this image (or a near-identical copy) is in the gallery")


def test_dicom_images_of_a_gallery_are_indexed(gallery, model):
    from core.io.dicom import secondary_capture

    photo = draw_shape(*reversed(list(SHAPE_CLASSES.values())[0]), np.random.default_rng(9))
    (gallery / "red_circles" / "scan.DCM").write_bytes(secondary_capture(photo, {}))
    index, counts = build_index(model, gallery)
    assert "red_circles/scan.DCM" in [entry.path for entry in index.entries]
    assert len(index.entries) == 11 and not counts["skipped"]


def test_an_index_of_another_model_is_refused(gallery, model):
    build_index(model, gallery)
    with pytest.raises(DataError, match="another model"):
        open_index(gallery / INDEX_DIRNAME, "b" * 64)


def test_an_interrupted_index_resumes_to_the_uninterrupted_result(gallery, model, monkeypatch):
    import core.review.gallery as gallery_module

    monkeypatch.setattr(gallery_module, "BATCH", 3)
    calls = iter([False, True])
    _, counts = build_index(model, gallery, should_stop=lambda: next(calls, True))
    assert counts["interrupted"] and counts["embedded"] == 3
    partial = json.loads((gallery / INDEX_DIRNAME / "manifest.json").read_text())
    assert len(partial["entries"]) == 3
    resumed, counts = build_index(model, gallery)
    assert counts["embedded"] == 7 and counts["unchanged"] == 3
    whole, _ = build_index(model, gallery, out=gallery.parent / "whole")
    assert [e.path for e in resumed.entries] == [e.path for e in whole.entries]
    np.testing.assert_array_equal(resumed.embeddings(), whole.embeddings())


def test_exact_numpy_and_faiss_search_agree_on_the_top_k():
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(3000, 32)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    queries = gallery[:20] + 0.05 * rng.normal(size=(20, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    a_idx, a_sim = nearest(gallery, queries, 10, backend="numpy")
    b_idx, b_sim = nearest(gallery, queries, 10, backend="faiss")
    np.testing.assert_array_equal(a_idx[:, 0], b_idx[:, 0])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(a_idx, b_idx, strict=True)])
    assert recall >= 0.95
    same = a_idx == b_idx
    np.testing.assert_allclose(a_sim[same], b_sim[same], atol=1e-5)
    assert (a_idx[:, 0] == np.arange(20)).all() and (np.diff(a_sim, axis=1) <= 1e-7).all()


def test_chunked_search_matches_a_full_sort(monkeypatch):
    import core.model.retrieval as retrieval

    monkeypatch.setattr(retrieval, "CHUNK", 7)
    rng = np.random.default_rng(1)
    gallery = rng.normal(size=(50, 8)).astype(np.float32)
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    index, _ = nearest(gallery, queries, 5, backend="numpy")
    np.testing.assert_array_equal(index, np.argsort(-(queries @ gallery.T), axis=1)[:, :5])


def test_retrieval_metrics_match_hand_computed_values():
    # Gallery on a line: labels a a b b; a query at each end.
    gallery = np.array([[1, 0], [0.8, 0.6], [0, 1], [-0.6, 0.8]], np.float32)
    queries = np.array([[0.96, 0.28], [-0.28, 0.96]], np.float32)
    metrics = retrieval_metrics(gallery, ["a", "a", "b", "b"], queries, ["a", "a"], knn=3)
    # Query 1 ranks a a b b (AP 1); query 2 ranks b b a a (AP (1/3 + 2/4) / 2).
    assert metrics["precision_at_1"] == 0.5
    assert metrics["mean_average_precision"] == pytest.approx((1 + (1 / 3 + 2 / 4) / 2) / 2)
    assert metrics["knn3_accuracy"] == 0.5 and metrics["precision_at_5"] == pytest.approx((2 / 4 + 2 / 4) / 2)
    assert vote(["x", "y", "y", None]) == ("y", 2) and vote([None]) == (None, 0) and vote(["x", "y"]) == ("x", 1)


def test_index_and_retrieve_on_the_command_line(gallery, tmp_path, capsys):
    import torch

    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model
    from main import main

    torch.manual_seed(0)
    weights = tmp_path / "tiny.pt"
    save_model(SiameseModel(ModelConfig(input_size=32)).eval(), weights)
    assert main(["index", str(gallery), "--model", str(weights)]) == 0
    assert "10 embedded" in capsys.readouterr().out
    query = gallery / "red_circles" / "3.png"
    assert main(["retrieve", str(query), str(gallery / INDEX_DIRNAME), "-k", "4", "--model", str(weights),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # the query's own file is in the gallery: named apart, never a hit (issue #33)
    assert result["in_gallery"] == [{"path": str(query.resolve()), "label": "red_circles", "how": "same content"}]
    assert not any(hit["path"].endswith("red_circles/3.png") for hit in result["hits"])
    assert (len(result["hits"]) == 4 and "are labelled red_circles" in result["vote"]
            or "are labelled blue_squares" in result["vote"])
    other = tmp_path / "other.pt"
    save_model(SiameseModel(ModelConfig(input_size=40)).eval(), other)
    assert main(["retrieve", str(query), str(gallery), "--model", str(other)]) == 2
    assert "another model" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["retrieve", str(tmp_path / "missing.jpg"), str(empty), "--model", str(weights)]) == 2
    assert "missing.jpg" in capsys.readouterr().err and not (empty / INDEX_DIRNAME).exists()


def test_retrieve_report_shows_the_query_beside_each_hit(gallery, tmp_path, capsys):
    import torch
    from PIL import Image

    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model
    from main import main

    torch.manual_seed(0)
    weights = tmp_path / "tiny.pt"
    save_model(SiameseModel(ModelConfig(input_size=32)).eval(), weights)
    report = tmp_path / "similar.png"
    query = gallery / "blue_squares" / "0.png"
    assert main(["retrieve", str(query), str(gallery), "-k", "3", "--model", str(weights), "--report",
                 str(report)]) == 0
    facts = json.loads(report.with_suffix(".json").read_text())
    assert [hit["rank"] for hit in facts["hits"]] == [1, 2, 3] and facts["query"]["path"] == str(query)
    assert (facts["report_png"] == "similar.png" and facts["vote"].startswith(("3 of the 3", "2 of the 3"))
            and facts["disclaimer"])
    assert Image.open(report).height > 3 * 200  # one row per hit
    capsys.readouterr()
    assert main(["retrieve", str(query), str(gallery), "--model", str(weights), "--report", str(report)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_an_index_folder_that_is_a_file_is_refused_before_any_gallery_file_is_read(gallery, model, tmp_path,
                                                                                    monkeypatch):
    # was mkdir's "[Errno 17] File exists", and only after every gallery file had been hashed
    import core.review.gallery as gallery_module

    taken = tmp_path / "index"
    taken.write_text("not a folder")
    hashed = []
    monkeypatch.setattr(gallery_module, "file_sha256", lambda path: hashed.append(path))
    with pytest.raises(DataError, match=f"^{taken} is not a folder: it cannot hold the index$"):
        build_index(model, gallery, out=taken)
    assert hashed == [] and taken.read_text() == "not a folder"
