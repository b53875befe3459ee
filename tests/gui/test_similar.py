"""The similar-cases dock: a gallery's nearest cases to image 1, a click loads one as image 2."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from gui.models.settings import Key
from tests.gui.conftest import TIMEOUT_MS, make_image


def test_nearest_cases_appear_and_a_click_loads_one_as_image_2(qtbot, make_window, images, tmp_path):
    gallery = tmp_path / "gallery"
    for label, seeds in (("benign", (11, 12, 13)), ("malignant", (14, 15))):
        (gallery / label).mkdir(parents=True)
        for seed in seeds:
            make_image(gallery / label / f"{seed}.png", (80, 72), seed)
    window = make_window()
    dock = window.similar_dock
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    with qtbot.waitSignal(window.similar.found_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda found: found is not None):
        window.similar.set_gallery(str(gallery))
    found = window.similar.found
    assert dock.hits.count() == 5 and found.indexed == 5 and found.query == str(images[0])
    assert [hit["rank"] for hit in found.hits] == [1, 2, 3, 4, 5]
    assert found.vote and found.vote.startswith(("3 of the 5", "2 of the 5"))
    assert "nearest-looking known cases are labelled" in dock.summary.text()
    sims = [hit["similarity"] for hit in found.hits]
    assert sims == sorted(sims, reverse=True)
    assert window.settings.value(Key.GALLERY) == str(gallery)
    # Clicking the second hit makes it image 2 and explains the pair.
    item = dock.hits.item(1)
    rect = dock.hits.visualItemRect(item)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dock.hits.viewport(), Qt.LeftButton, pos=rect.center())
    assert window.session.images[1].image.path == found.hits[1]["path"]
    provenance = window.session.provenance[1]
    assert provenance["rank"] == 2 and provenance["query"] == str(images[0])
    assert provenance["label"] == found.hits[1]["label"]
    report = tmp_path / "from_similar.png"
    with qtbot.waitSignal(window.session.exported, timeout=TIMEOUT_MS):
        window.export_report_to(str(report))
    facts = json.loads(report.with_suffix(".json").read_text())
    assert facts["images"][1]["similar_case"]["rank"] == 2 and "similar_case" not in facts["images"][0]
    # N steps to the next case; opening another image 2 by hand forgets where image 2 came from.
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["next_hit"].trigger()
    assert window.session.provenance[1]["rank"] == 3
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[2])], 1)
    assert window.session.provenance[1] is None


def test_cancelling_the_index_searches_what_was_indexed(qtbot, make_window, images, tmp_path, monkeypatch):
    import core.review.gallery

    monkeypatch.setattr(core.review.gallery, "BATCH", 1)
    gallery = tmp_path / "flat"
    gallery.mkdir()
    for seed in range(20, 32):
        make_image(gallery / f"{seed}.png", (64, 64), seed)
    window = make_window()
    said = []  # what the dock's summary says while indexing (the presenter's slot runs first)
    window.similar.progress.connect(lambda done, total: said.append(window.similar_dock.summary.text()))
    window.similar.progress.connect(lambda done, total: window.similar.cancel())
    with qtbot.waitSignal(window.similar.found_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda found: found is not None):
        window.similar.set_gallery(str(gallery))
        window.load_dropped([str(images[0])], 0)
    found = window.similar.found
    assert found.interrupted and 1 <= found.indexed < 12 and found.vote is None
    assert "cancelled" in window.similar_dock.summary.text()
    assert said and all(text.startswith("Indexing the gallery: ") and "Load image 1" not in text for text in said)


def test_image_1_in_the_gallery_is_named_apart_not_shown_as_a_case(qtbot, make_window, images, tmp_path):
    import shutil

    gallery = tmp_path / "gallery"
    for label, seeds in (("benign", (11, 12)), ("malignant", (14, 15))):
        (gallery / label).mkdir(parents=True)
        for seed in seeds:
            make_image(gallery / label / f"{seed}.png", (80, 72), seed)
    shutil.copy(images[0], gallery / "malignant" / "query.png")  # image 1's own file, filed as malignant
    window = make_window()
    with qtbot.waitSignal(window.similar.found_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda found: found is not None):
        window.similar.set_gallery(str(gallery))
        window.load_dropped([str(images[0])], 0)
    found = window.similar.found
    assert found.indexed == 5 and len(found.hits) == 4
    assert not any(hit["path"].endswith("query.png") for hit in found.hits)
    assert found.vote is None or found.vote.startswith(("2 of the 4", "3 of the 4"))
    assert "this image is in the gallery, labelled malignant" in window.similar_dock.summary.text()


def test_a_read_only_gallery_says_where_its_index_is_kept(qtbot, make_window, images, tmp_path, monkeypatch):
    import os
    from pathlib import Path

    import core.review.gallery

    gallery = tmp_path / "archive"
    gallery.mkdir()
    for seed in (21, 22, 23):
        make_image(gallery / f"{seed}.png", (64, 64), seed)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(core.review.gallery.os, "access",
                        lambda path, mode: False if Path(path) == gallery.resolve() else os.access(path, mode))
    window = make_window()
    with qtbot.waitSignal(window.similar.found_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda found: found is not None):
        window.similar.set_gallery(str(gallery))
        window.load_dropped([str(images[0])], 0)
    summary = window.similar_dock.summary.text()
    assert f"the gallery folder is read-only: its index is kept in {tmp_path / 'cache' / 'SiameseLens'}" in summary
    assert not (gallery / ".siamese-lens-index").exists()


def test_ten_nearest_cases_and_their_scores_fit_a_1366_px_screen_without_scrolling(qtbot):
    """At 1366 x 768 the dock spans the window under the images (about 1340 px of strip): cells of a fixed 136 px
    needed 1360 and the last case's score lay beyond the edge. They share the width now, never below their words."""
    from PySide6.QtGui import QImage

    from gui.views.similar_dock import SimilarCasesDock

    dock = SimilarCasesDock()
    qtbot.addWidget(dock)
    dock.resize(1346, 260)
    dock.show()
    thumb = QImage(96, 96, QImage.Format.Format_RGB888)
    thumb.fill(0x996655)
    hits = [{"rank": rank, "similarity": 0.9 - rank / 100, "label": "malignant", "path": f"/g/{rank}.jpg",
             "qimage": thumb} for rank in range(1, 11)]
    dock.show_found("10 nearest of 24 indexed cases", hits)
    qtbot.waitUntil(lambda: dock.hits.visualItemRect(dock.hits.item(9)).width() > 0)
    viewport = dock.hits.viewport().rect()
    assert dock.hits.horizontalScrollBar().maximum() == 0
    metrics = dock.hits.fontMetrics()
    for row in range(10):
        item = dock.hits.item(row)
        rect = dock.hits.visualItemRect(item)
        assert viewport.contains(rect)  # every case and its score in view
        assert rect.width() >= max(metrics.horizontalAdvance(line) for line in item.text().split("\n"))
    dock.resize(500, 260)  # a dock docked at the side: the cells keep their words whole, and the strip scrolls
    qtbot.waitUntil(lambda: dock.hits.horizontalScrollBar().maximum() > 0)
    item = dock.hits.item(9)
    assert dock.hits.gridSize().width() >= max(metrics.horizontalAdvance(line) for line in item.text().split("\n"))
