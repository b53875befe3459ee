"""The score panel in the window says how far a result can be trusted: the maps' faithfulness, measured after the
maps are shown, reaches the panel and the report. The panel's verdict, colour and out-of-domain banner:
tests/gui/test_score_panel.py."""

from __future__ import annotations

import json

import pytest

from core.explain.refine import REFINED_METHOD
from gui.jobs.tasks import VERDICT_COLOURS
from tests.gui.conftest import TIMEOUT_MS
from tests.gui.test_autocrop import lesion_pair


def test_faithfulness_arrives_after_the_maps_and_is_shown(qtbot, make_window, images, tmp_path):
    window = make_window()
    session = window.session
    steps: list = []
    session.runner.progress.connect(lambda key, done, total: steps.append((done, total)) if key == "refine" else None)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    assert session.faithfulness is None or session.explained is not None  # the maps never wait for it
    if session.faithfulness is None:
        with qtbot.waitSignal(session.faithfulness_changed, timeout=TIMEOUT_MS,
                              check_params_cb=lambda c: c is not None):
            pass
    curves = session.faithfulness
    # the first maps were refined in the background, with progress, and the check judged the refined maps shown
    assert session.explained.explanation.method == REFINED_METHOD and steps and steps[-1][0] == steps[-1][1]
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


@pytest.mark.parametrize("answer", ["unfaithful", "inconclusive", "flat", "faithful"])
def test_the_check_s_answer_is_marked_on_the_images(qtbot, make_window, images, monkeypatch, answer):
    """The check's answer (core.trust.checks.check_verdict) is drawn over both maps: hatched with the words when
    the map fails, the words of an inconclusive check without the hatch (and the panel says why), nothing when it
    passes; the next pair starts unmarked."""
    from gui.jobs import tasks
    from tests.test_honest_display import BEATS_EVERY, BEATS_THE_MEAN_ONLY, BELOW_THE_MEAN, FLAT_CURVES

    answers = {"unfaithful": BELOW_THE_MEAN, "inconclusive": BEATS_THE_MEAN_ONLY, "flat": FLAT_CURVES,
               "faithful": BEATS_EVERY}
    real = tasks.faithfulness

    def judged(ws, explained):
        return {**real(ws, explained), **answers[answer]}

    monkeypatch.setattr(tasks, "faithfulness", judged)
    window = make_window()
    with qtbot.waitSignal(window.session.faithfulness_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda c: c is not None):
        window.load_dropped([str(images[0]), str(images[1])])
    expected = {"unfaithful": tasks.UNFAITHFUL_MARK, "inconclusive": tasks.INCONCLUSIVE_MARK,
                "flat": tasks.INCONCLUSIVE_MARK, "faithful": None}[answer]
    assert [viewer.mark_text() for viewer in window.viewers] == [expected, expected]
    hatched = answer == "unfaithful"
    assert [viewer.mark_hatched() for viewer in window.viewers] == [hatched, hatched]
    line = window.score.fields["Faithfulness"].text()
    assert line == {"unfaithful": "this map does not explain the score better than chance",
                    "inconclusive": "check inconclusive (better than the random maps' mean but not than each of them)",
                    "flat": "check inconclusive (the score hardly moves when regions are hidden)"}.get(answer, line)
    assert answer != "faithful" or line.startswith("better than each of 3 random maps")
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[1]), str(images[0])])
    if window.session.faithfulness is None:  # the next pair's first maps: said to be unchecked, not hatched
        assert [viewer.mark_text() for viewer in window.viewers] == [tasks.UNCHECKED_MARK] * 2
        assert not any(viewer.mark_hatched() for viewer in window.viewers)


def test_maps_the_check_has_not_judged_say_so_on_the_images(qtbot, make_window, images, monkeypatch):
    """The first maps are drawn before any check; a check that cannot run leaves them unchecked, and the images say
    so (the words, without the hatch of a failed map) instead of presenting them as evidence."""
    from gui.jobs import tasks

    def cannot_run(ws, explained):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tasks, "faithfulness", cannot_run)
    window = make_window()
    with qtbot.waitSignal(window.session.error, timeout=TIMEOUT_MS,
                          check_params_cb=lambda source, _text: source == "faithfulness"):
        window.load_dropped([str(images[0]), str(images[1])])
    assert window.session.explained is not None and window.session.faithfulness is None
    assert [viewer.mark_text() for viewer in window.viewers] == [tasks.UNCHECKED_MARK] * 2
    assert not any(viewer.mark_hatched() for viewer in window.viewers)


def test_verdict_words_are_in_neutral_ink():
    """No alarm red, no reassuring green (issue #33): every verdict colour is a grey or a near-grey ink."""
    for verdict, (r, g, b) in VERDICT_COLOURS.items():
        assert max(r, g, b) - min(r, g, b) <= 30, verdict
    assert VERDICT_COLOURS["similar"] == VERDICT_COLOURS["different"]  # neither decision looks like an alarm


@pytest.fixture(scope="module")
def cropping_out_of_domain_weights(tmp_path_factory):
    """A lesion-cropping model no image is inside the domain of: its pairs are not assessed, with automatic crops."""
    import torch

    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model

    torch.manual_seed(0)
    model = SiameseModel(ModelConfig(input_size=64, lesion_crop=True), metadata={
        "name": "withheld-test",
        "calibration": {"method": "platt", "a": 6.0, "b": -3.0}, "verdict": {"band": [0.3, 0.7]},
        "domain": {"k": 1, "threshold": 0.0, "duplicate_distance": 0.02, "embeddings": [[1.0] + [0.0] * 511]}})
    path = tmp_path_factory.mktemp("weights") / "withheld.pt"
    save_model(model.eval(), path)
    return path


def test_a_not_assessed_pair_withholds_its_numbers_maps_and_crop_until_show_anyway(
        qtbot, make_window, tmp_path, cropping_out_of_domain_weights):
    paths = lesion_pair(tmp_path)
    window = make_window(model=cropping_out_of_domain_weights)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(p) for p in paths])
    explanation, panel = window.session.explained.explanation, window.score
    assert explanation.verdict == "not assessed" and window.session.is_automatic(0)
    assert panel.verdict.text() == "Not assessed" and "outside this model's domain" in panel.reason.text()
    assert panel.domain.isVisible() and "not for diagnosis" in panel.meaning.text()

    def shown() -> dict:
        return {"score": not panel.score.isHidden(), "probability": not panel.probability.isHidden(),
                "maps": any(not viewer.layer_pixmap(name).isNull() for viewer in window.viewers
                            for name in ("factual", "counterfactual")),
                "crop label": any("automatic lesion crop" in header.text() for header in window.headers),
                "crop box": any(viewer._outline.isVisible() for viewer in window.viewers),
                "faithfulness": not panel.curves.isHidden() or "chance" in panel.fields["Faithfulness"].text()
                or "random" in panel.fields["Faithfulness"].text()}

    if window.session.faithfulness is None:  # measured after the maps: it must arrive withheld too
        with qtbot.waitSignal(window.session.faithfulness_changed, timeout=TIMEOUT_MS,
                              check_params_cb=lambda c: c is not None):
            pass
    assert not panel.show_anyway.isHidden() and not panel.show_anyway.isChecked()
    assert not any(shown().values()), shown()
    assert "withheld" in panel.fields["Faithfulness"].text()
    outlined = [not viewer.outline_path().isEmpty() for viewer in window.viewers]
    assert not any(outlined)  # the factual map's top is withheld with the map

    def exported(name: str) -> dict:
        report = tmp_path / name
        with qtbot.waitSignal(window.session.exported, timeout=TIMEOUT_MS):
            window.export_report_to(str(report))
        return json.loads(report.with_suffix(".json").read_text())

    facts = exported("withheld.png")  # the report follows the window: withheld, the numbers kept for machines
    assert facts["withheld"] and facts["extrapolated"] and not facts["shown_anyway"]
    assert facts["similarity"] == pytest.approx(explanation.similarity, abs=1e-6)
    panel.show_anyway.setChecked(True)
    assert all(shown().values()), shown()
    outlined = [not viewer.outline_path().isEmpty() for viewer in window.viewers]
    assert outlined == [bool(heat.max() > 0) for heat in explanation.factual]
    assert f"{100 * explanation.similarity:.1f} %" in panel.score.text()
    facts = exported("shown.png")
    assert not facts["withheld"] and facts["shown_anyway"] and facts["extrapolated"]
    panel.show_anyway.setChecked(False)
    assert not any(shown().values()), shown()
    assert all(viewer.outline_path().isEmpty() for viewer in window.viewers)


def test_show_anyway_by_key_reveals_on_the_model_and_never_while_typing(
        qtbot, make_window, tmp_path, cropping_out_of_domain_weights):
    """"Show anyway" took the mouse. Its key (View menu, Ctrl+Shift+Y) sets the session's choice, which the tick
    box, the maps and the report follow; pressed while the note has the keyboard it is refused and said so, never
    revealed by a slip of the fingers while typing."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    paths = lesion_pair(tmp_path)
    window = make_window(model=cropping_out_of_domain_weights)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(p) for p in paths])
    session, panel = window.session, window.score
    assert session.not_assessed() and panel.withheld
    assert window.actions["show_anyway"].shortcut().toString() == "Ctrl+Shift+Y"
    assert "Ctrl+Shift+Y" in panel.show_anyway.toolTip()
    window.actions["write_note"].trigger()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.note)
    qtbot.keyClick(window.note, Qt.Key_Y, Qt.ControlModifier | Qt.ShiftModifier)
    assert panel.withheld and not session.shown_anyway and not panel.show_anyway.isChecked()
    assert any("not taken while typing" in text for text in window.problem_bar.problems())
    qtbot.keyClick(window.note, Qt.Key_Escape)  # the keyboard back to the images
    focused = QApplication.focusWidget()
    assert focused is not window.note
    qtbot.keyClick(focused or window, Qt.Key_Y, Qt.ControlModifier | Qt.ShiftModifier)
    assert session.shown_anyway and panel.show_anyway.isChecked() and not panel.withheld
    assert any(not viewer.layer_pixmap("factual").isNull() for viewer in window.viewers)
    qtbot.keyClick(focused or window, Qt.Key_Y, Qt.ControlModifier | Qt.ShiftModifier)
    assert not session.shown_anyway and not panel.show_anyway.isChecked() and panel.withheld
    panel.show_anyway.setChecked(True)  # the tick box still works, through the same model
    assert session.shown_anyway
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        session.swap()  # another explanation: withheld again, tick box and model alike
    assert not session.shown_anyway and not panel.show_anyway.isChecked()
