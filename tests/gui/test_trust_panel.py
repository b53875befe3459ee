"""The score panel in the window says how far a result can be trusted: the maps' faithfulness, measured after the
maps are shown, reaches the panel and the report. The panel's verdict, colour and out-of-domain banner:
tests/gui/test_score_panel.py."""

from __future__ import annotations

import json

from tests.gui.conftest import TIMEOUT_MS


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
