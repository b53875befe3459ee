"""Small things a reviewer noticed (issue "A workstation that fits a clinic"): the header after Shift+C, the
similar-cases highlight following N / Shift+N, the empty score, and --screenshot waiting for faithfulness."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from gui.app import _arm_screenshot
from tests.gui.conftest import TIMEOUT_MS
from tests.gui.test_autocrop import cropping_weights, lesion_pair  # noqa: F401 (a fixture)


def test_clearing_the_automatic_crop_says_whole_image_in_the_header(qtbot, make_window, cropping_weights,  # noqa: F811
                                                                    tmp_path):
    paths = lesion_pair(tmp_path)
    window = make_window(model=cropping_weights)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(p) for p in paths])
    assert all("automatic lesion crop" in header.text() for header in window.headers)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["reset_crops"].trigger()  # Shift+C
    for header in window.headers:
        assert "automatic" not in header.text() and "whole image" in header.text(), header.text()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["undo"].trigger()
    assert all("automatic lesion crop" in header.text() for header in window.headers)


def test_the_screenshot_waits_for_the_faithfulness_measurement(qtbot, make_window, images, tmp_path):
    window = make_window()
    target = tmp_path / "shot.png"
    shown = {}
    status = {"code": None}
    _arm_screenshot(QApplication.instance(), window, str(target), status)
    window.session.explanation_changed.connect(lambda e: shown.setdefault("maps", e is not None))
    window.closed.connect(lambda: shown.setdefault("faithfulness", window.score.fields["Faithfulness"].text()))
    window.load_dropped([str(images[0]), str(images[1])])
    qtbot.waitUntil(lambda: bool(status.get("done")), timeout=TIMEOUT_MS)
    assert status["code"] == 0 and target.exists() and shown["maps"]
    assert shown["faithfulness"] != "–" and window.session.faithfulness is not None
