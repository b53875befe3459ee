"""The score panel and the side panel alone (gui.views.layer_controls.ScorePanel, gui.views.side_panel), fed the
verdicts core.trust.verdict.judge gives: the verdict in colour only when decided and hidden until there is one,
out-of-domain pairs not assessed and flagged, the raw score always in view, the model's band stated, one line of
help per method, the devices offered. No window, no model (the window with the faithfulness measured:
tests/gui/test_trust_panel.py; core's domain and band rules: tests/test_trust.py, tests/test_verdict.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.trust.verdict import COLOURS as VERDICT_COLOURS
from core.trust.verdict import judge
from gui.views.layer_controls import ScorePanel

DECIDED = "#%02x%02x%02x" % VERDICT_COLOURS["similar"]  # one neutral ink for both decisions (issue #33)
BAND = (0.4, 0.6)


def explained(probability: float, in_domain=(True, True), band=BAND):
    verdict = judge(probability, band, in_domain)
    explanation = SimpleNamespace(verdict=verdict.label, verdict_reason=verdict.reason, similarity=0.734,
                                  threshold=0.5, method="gradcam", probability_same=probability, in_domain=in_domain,
                                  same_content=False, timings_ms={"total": 120, "model": 80}, note="",
                                  refined_from="")
    return SimpleNamespace(explanation=explanation)


@pytest.fixture
def panel(qtbot):
    panel = ScorePanel()
    qtbot.addWidget(panel)
    return panel


def _styles(panel) -> str:
    return panel.verdict.styleSheet() + panel.score.styleSheet() + panel.reason.styleSheet()


@pytest.mark.parametrize("probability, verdict, decided", [(0.9, "Similar", True), (0.1, "Different", True),
                                                           (0.5, "Inconclusive", False)])
def test_the_panel_heads_with_the_verdict_in_the_decided_ink_only_when_decided(panel, probability, verdict, decided):
    panel.show_result(explained(probability))
    assert panel.verdict.text() == verdict
    assert (DECIDED in _styles(panel)) == decided
    assert "73.4 %" in panel.score.text()  # the raw score stays visible, whatever the verdict
    assert f"{100 * probability:.0f} % (calibrated)" in panel.probability.text()


def test_an_out_of_domain_pair_is_not_assessed_and_shows_no_decided_ink(panel):
    panel.show_result(explained(0.95, in_domain=(False, False)))  # the probability would say "similar"
    assert panel.verdict.text() == "Not assessed" and "outside this model's domain" in panel.reason.text()
    assert not panel.domain.isHidden() and "OUTSIDE THIS MODEL'S DOMAIN" in panel.domain.text()
    assert DECIDED not in _styles(panel)
    assert "not for diagnosis" in panel.meaning.text() and not panel.meaning.isHidden()
    panel.show_result(None)  # the next pair, still loading: the warning goes
    assert panel.domain.isHidden() and panel.verdict.text() == "–"


def test_the_models_band_is_stated_or_its_absence_explained(panel):
    info = SimpleNamespace(name="m", path="m.pt", sha256="a" * 64, tta="none", architecture="resnet18",
                           input_size=224, threshold=0.5, metadata={"verdict": {"band": [0.0, 1.0]}})
    panel.show_model(SimpleNamespace(info=info, device="cpu"))
    assert panel.fields["Verdict band"].text() == "inconclusive for P(same class) 0-100 %"
    panel.show_model(SimpleNamespace(info=SimpleNamespace(**{**vars(info), "metadata": {}}), device="cpu"))
    assert panel.fields["Verdict band"].text().startswith("none: every pair is not assessed")


def _side(qtbot):
    from core.model.device import device_choices
    from gui.models.layers import LayerStates
    from gui.views.side_panel import SidePanel

    side = SidePanel(LayerStates(), device_choices())
    qtbot.addWidget(side)
    side.show()
    return side


@pytest.fixture
def side(qtbot):
    return _side(qtbot)


def test_the_empty_score_shows_no_verdict_bar(side):
    assert not side.score.verdict.isVisible() and side.score.reason.text()
    side.show_result(explained(0.9))
    assert side.score.verdict.isVisible() and side.score.verdict.text() == "Similar"
    side.show_result(None)
    assert not side.score.verdict.isVisible()


def test_method_combo_has_one_line_of_help_per_method(side):
    from PySide6.QtCore import Qt

    from core.explain.methods import REGISTRY
    from gui.jobs.tasks import environment

    env = environment(None)  # the task the window's first job runs; it reads no workspace
    side.show_method(next(iter(REGISTRY)), env.method_help)
    combo = side.method_combo
    assert combo.count() == len(REGISTRY)
    for index in range(combo.count()):
        assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == REGISTRY[combo.itemText(index)].help


def test_a_source_run_offers_cuda(qtbot, monkeypatch):
    import sys

    monkeypatch.delattr(sys, "_MEIPASS", raising=False)  # not a frozen bundle (tests/gui/test_device_menu.py: one)
    side = _side(qtbot)
    assert [side.device_combo.itemData(i) for i in range(side.device_combo.count())] == ["auto", "cpu", "cuda"]


def test_the_timing_of_a_refined_map_counts_its_refinement(panel):
    """The panel names the refined method ("integrated"): its timing must not be the first map's alone."""
    first = explained(0.9)
    panel.show_result(first)
    assert "refine" not in panel.fields["Timing"].text()
    first.explanation.timings_ms["refine"] = 950.0
    first.explanation.method = "integrated"
    first.explanation.refined_from = "gradcam"
    panel.show_result(first)
    assert panel.fields["Timing"].text() == "120 ms (model 80 ms), refined in 950 ms"
    # the chooser still says gradcam (the reviewer's choice): the map shown names what it refined
    assert panel.fields["Method"].text() == "integrated (refined from gradcam)"


def test_the_faithfulness_line_says_a_shown_map_is_not_yet_checked(panel):
    """While the images carry "map not yet checked", the panel's line says the same instead of a bare dash."""
    assert panel.fields["Faithfulness"].text() == "–"  # no pair, no map
    pair = explained(0.9)
    panel.show_result(pair)
    assert panel.fields["Faithfulness"].text() == "not yet checked"
    pair.explanation.same_content = True  # no maps drawn: nothing to check
    panel.show_result(pair)
    assert panel.fields["Faithfulness"].text() == "–"
    panel.show_result(None)
    assert panel.fields["Faithfulness"].text() == "–"
