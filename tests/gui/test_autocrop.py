"""A model that expects lesion-cropped input: its automatic box is shown as an editable crop, with undo."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.gui.conftest import TIMEOUT_MS
from tests.test_lesion import dermoscopy_like


@pytest.fixture(scope="module")
def cropping_weights(tmp_path_factory):
    import torch

    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import save_model

    torch.manual_seed(0)
    model = SiameseModel(ModelConfig(input_size=64, lesion_crop=True, color_constancy=True),
                         metadata={"name": "cropping-test"})
    path = tmp_path_factory.mktemp("weights") / "cropping.pt"
    save_model(model.eval(), path)
    return path


def lesion_pair(folder) -> list:
    """Two 160 px dermoscopy-like images, the lesion off-centre in each (the automatic crop has work to do)."""
    paths = []
    for n, centre in enumerate([(0.35, 0.4), (0.6, 0.55)]):
        paths.append(folder / f"lesion{n}.png")
        Image.fromarray(dermoscopy_like(size=160, centre=centre, radius=0.15, seed=n)[0]).save(paths[-1])
    return paths


def test_automatic_crop_is_shown_editable_clearable_and_undoable(qtbot, make_window, cropping_weights, tmp_path):
    paths = lesion_pair(tmp_path)
    window = make_window(model=cropping_weights)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(p) for p in paths])
    session = window.session
    auto = list(session.crops)
    assert all(box is not None and box != (0, 0, 160, 160) for box in auto)
    assert list(session.explained.explanation.crops) == auto
    assert session.is_automatic(0) and "automatic lesion crop" in window.headers[0].text()
    # The factual layer sits on the automatic box.
    layer = window.viewers[0]._layers["factual"]
    assert (layer.pos().x(), layer.pos().y(), layer.pixmap().width(), layer.pixmap().height()) == auto[0]
    # Adjust it: the reviewer's box replaces the automatic one and the pair is re-scored.
    before = session.explained.explanation.similarity
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        session.set_crop(0, (10, 10, 120, 120))
    assert session.explained.explanation.crops[0] == (10, 10, 120, 120) and not session.is_automatic(0)
    assert session.explained.explanation.similarity != pytest.approx(before, abs=1e-6)
    # Clear: the whole images are explained, not the automatic boxes again.
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["reset_crops"].trigger()
    assert session.explained.explanation.crops == ((0, 0, 160, 160), (0, 0, 160, 160))
    # Undo twice: back to the automatic boxes and their score.
    for _ in range(2):
        with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
            window.actions["undo"].trigger()
    assert list(session.crops) == auto and session.is_automatic(1)
    assert session.explained.explanation.similarity == pytest.approx(before, abs=1e-5)
