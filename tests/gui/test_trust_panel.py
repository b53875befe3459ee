"""The score panel says how far a result can be trusted: calibrated probability, out-of-domain banner, and the
maps' faithfulness, measured after the maps are shown."""

from __future__ import annotations

import json

import pytest

from core.trust.verdict import COLOURS as VERDICT_COLOURS
from tests.gui.conftest import TIMEOUT_MS


@pytest.fixture(scope="module")
def trusted_weights(tmp_path_factory):
    import torch

    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model

    torch.manual_seed(0)
    # A calibration, and a domain summary no image can be inside of (one reference point, threshold 0).
    model = SiameseModel(ModelConfig(input_size=64), metadata={
        "name": "trust-test",
        "calibration": {"method": "platt", "a": 6.0, "b": -3.0},
        "domain": {"k": 1, "threshold": 0.0, "duplicate_distance": 0.02, "embeddings": [[1.0] + [0.0] * 511]}})
    path = tmp_path_factory.mktemp("weights") / "trust.pt"
    save_model(model.eval(), path)
    return path


def test_faithfulness_arrives_after_the_maps_and_is_shown(qtbot, make_window, images, tmp_path):
    window = make_window()
    session = window.session
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    assert session.faithfulness is None or session.explained is not None  # the maps never wait for it
    if session.faithfulness is None:
        with qtbot.waitSignal(session.faithfulness_changed, timeout=TIMEOUT_MS,
                              check_params_cb=lambda c: c is not None):
            pass
    curves = session.faithfulness
    assert {"deletion_auc_map", "deletion_auc_random", "insertion_auc_map", "insertion_auc_random"} <= set(curves)
    faithfulness = window.score.fields["Faithfulness"].text()
    assert "chance" in faithfulness or "random" in faithfulness
    assert window.score.curves.isVisible()
    assert "not calibrated" in window.score.probability.text() and not window.score.domain.isVisible()
    report = tmp_path / "report.png"
    with qtbot.waitSignal(session.exported, timeout=TIMEOUT_MS):
        window.export_report_to(str(report))
    facts = json.loads(report.with_suffix(".json").read_text())
    assert facts["faithfulness"]["deletion_auc_map"] == curves["deletion_auc_map"]
    assert facts["probability_same"] is None and facts["in_domain"] is None and facts["same_content"] is False


def test_a_new_pair_stops_the_faithfulness_measurement_of_the_old_one(qtbot, make_window, images, monkeypatch):
    """One runner thread: a measurement still running for the shown pair must not hold the next pair's images
    back (the app cancels it when a new image is asked for, and the measurement stops between its batches)."""
    from gui.jobs import tasks

    started, outcome = [], []

    def slow_faithfulness(ws, explained):
        started.append(explained)
        outcome.append(ws.stop.wait(timeout=30))  # as a long measurement checks its stop flag between batches
        raise RuntimeError("stopped")

    monkeypatch.setattr(tasks, "faithfulness", slow_faithfulness)
    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.overlays_shown, timeout=10_000):
        window.load_dropped([str(images[1]), str(images[0])])
    assert outcome[0] is True  # stopped by the new pair, not by its own timeout
    assert str(window.session.images[0].image.path).endswith(images[1].name)


GREEN, RED = "#%02x%02x%02x" % VERDICT_COLOURS["similar"], "#%02x%02x%02x" % VERDICT_COLOURS["different"]


def test_an_out_of_domain_pair_is_not_assessed_and_shows_no_green_or_red(qtbot, make_window, images,
                                                                          trusted_weights):
    window = make_window(model=trusted_weights)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    explanation = window.session.explained.explanation
    assert explanation.in_domain == (False, False) and explanation.verdict == "not assessed"
    assert f"{100 * explanation.probability_same:.0f} %" in window.score.probability.text()
    assert window.score.domain.isVisible() and "OUTSIDE THIS MODEL'S DOMAIN" in window.score.domain.text()
    panel = window.score
    assert panel.verdict.text() == "Not assessed" and "outside this model's domain" in panel.reason.text()
    shown = panel.verdict.styleSheet() + panel.score.styleSheet() + panel.reason.styleSheet()
    assert GREEN not in shown and RED not in shown
    assert "not for diagnosis" in panel.meaning.text() and panel.meaning.isVisible()


@pytest.mark.parametrize("band, decided", [([0.5, 0.5], True), ([0.0, 1.0], False)])
def test_the_panel_heads_with_the_verdict_in_colour_only_when_decided(qtbot, make_window, images, tmp_path,
                                                                      band, decided):
    import torch

    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model

    torch.manual_seed(0)
    model = SiameseModel(ModelConfig(input_size=64), metadata={
        "name": "band-test", "calibration": {"method": "platt", "a": 6.0, "b": -3.0}, "verdict": {"band": band}})
    path = tmp_path / "band.pt"
    save_model(model.eval(), path)
    window = make_window(model=path)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    e = window.session.explained.explanation
    style = window.score.verdict.styleSheet()
    if decided:
        assert e.verdict in ("similar", "different") and window.score.verdict.text() == e.verdict.capitalize()
        assert (GREEN if e.verdict == "similar" else RED) in style
        assert (e.probability_same > 0.5) == (e.verdict == "similar")
    else:
        assert e.verdict == "inconclusive" and GREEN not in style and RED not in style
    assert f"{100 * e.similarity:.1f} %" in window.score.score.text()  # the raw score stays visible
    assert "inconclusive for P(same class)" in window.score.fields["Verdict band"].text()


def test_method_combo_has_one_line_of_help_per_method(qtbot, make_window):
    from PySide6.QtCore import Qt

    from core.explain.methods import REGISTRY

    window = make_window()
    combo = window.side.method_combo
    qtbot.waitUntil(lambda: combo.count() == len(REGISTRY), timeout=TIMEOUT_MS)
    for index in range(combo.count()):
        assert combo.itemData(index, Qt.ToolTipRole) == REGISTRY[combo.itemText(index)].help
