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
    assert session.explained.explanation.method == "integrated" and steps and steps[-1][0] == steps[-1][1]
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


@pytest.mark.parametrize("passes", [False, True])
def test_a_map_that_fails_its_check_is_marked_on_the_images(qtbot, make_window, images, monkeypatch, passes):
    """The check's verdict (core.trust.checks.map_faithful) is drawn over both maps: hatched with the words when
    it fails, nothing when it passes; the next pair starts unmarked."""
    from gui.jobs import tasks

    real = tasks.faithfulness

    def judged(ws, explained):
        curves = real(ws, explained)
        step = -0.1 if passes else 0.1
        return {**curves, "deletion_auc_map": curves["deletion_auc_random"] + step,
                "insertion_auc_map": curves["insertion_auc_random"] - step}

    monkeypatch.setattr(tasks, "faithfulness", judged)
    window = make_window()
    with qtbot.waitSignal(window.session.faithfulness_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda c: c is not None):
        window.load_dropped([str(images[0]), str(images[1])])
    expected = None if passes else tasks.UNFAITHFUL_MARK
    assert [viewer.mark_text() for viewer in window.viewers] == [expected, expected]
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[1]), str(images[0])])
    if window.session.faithfulness is None:
        assert [viewer.mark_text() for viewer in window.viewers] == [None, None]



DECIDED = "#%02x%02x%02x" % VERDICT_COLOURS["similar"]


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
    from PIL import Image

    from tests.test_lesion import dermoscopy_like

    paths = []
    for n, centre in enumerate([(0.35, 0.4), (0.6, 0.55)]):
        paths.append(tmp_path / f"lesion{n}.png")
        Image.fromarray(dermoscopy_like(size=160, centre=centre, radius=0.15, seed=n)[0]).save(paths[-1])
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
                "crop box": any(viewer._outline.isVisible() for viewer in window.viewers)}

    assert not panel.show_anyway.isHidden() and not panel.show_anyway.isChecked()
    assert not any(shown().values()), shown()
    panel.show_anyway.setChecked(True)
    assert all(shown().values()), shown()
    assert f"{100 * explanation.similarity:.1f} %" in panel.score.text()
    panel.show_anyway.setChecked(False)
    assert not any(shown().values()), shown()


def test_an_out_of_domain_pair_is_not_assessed_and_its_verdict_is_grey(qtbot, make_window, images,
                                                                       trusted_weights):
    window = make_window(model=trusted_weights)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    explanation = window.session.explained.explanation
    assert explanation.in_domain == (False, False) and explanation.verdict == "not assessed"
    panel = window.score
    assert panel.score.isHidden() and panel.probability.isHidden() and not panel.show_anyway.isHidden()
    panel.show_anyway.setChecked(True)
    assert f"{100 * explanation.probability_same:.0f} %" in panel.probability.text()
    assert panel.domain.isVisible() and "OUTSIDE THIS MODEL'S DOMAIN" in panel.domain.text()
    assert panel.verdict.text() == "Not assessed" and "outside this model's domain" in panel.reason.text()
    grey = "#%02x%02x%02x" % VERDICT_COLOURS["not assessed"]
    assert grey in panel.verdict.styleSheet() and DECIDED not in panel.verdict.styleSheet()
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
        assert DECIDED in style
        assert (e.probability_same > 0.5) == (e.verdict == "similar")
    else:
        assert e.verdict == "inconclusive" and DECIDED not in style
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
