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
    window.similar.progress.connect(lambda done, total: window.similar.cancel())
    with qtbot.waitSignal(window.similar.found_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda found: found is not None):
        window.similar.set_gallery(str(gallery))
        window.load_dropped([str(images[0])], 0)
    found = window.similar.found
    assert found.interrupted and 1 <= found.indexed < 12 and found.vote is None
    assert "cancelled" in window.similar_dock.summary.text()
