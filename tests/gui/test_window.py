"""The main window driven like a user would: drops, layer controls, crops, errors, superseded jobs, timers."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

import core
from gui.views.actions import COMMANDS, FOLLOWUP_KEYS

from .conftest import TIMEOUT_MS, drop_files, grab_pixels


def problems(window) -> str:
    return "\n".join(window.problem_bar.problems()) if window.problem_bar.isVisible() else ""


def _visible_layer(window, index: int = 0) -> str:
    """A layer with something on it (a random model's evidence may all point one way)."""
    e = window.session.explained.explanation
    return "factual" if e.factual[index].max() > 0 else "counterfactual"


def test_one_file_dropped_on_a_viewer_replaces_that_image(qtbot, make_window, images):
    window = make_window()
    with qtbot.waitSignal(window.session.image_changed, timeout=TIMEOUT_MS) as changed:
        drop_files(window.viewers[1], [images[2]])
    assert changed.args[0] == 1 and "c.jpg" in window.headers[1].text()
    assert window.session.images[0] is None and window.session.explained is None


def test_two_files_dropped_anywhere_load_and_explain_both(qtbot, make_window, images):
    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        drop_files(window, images[:2])
    assert [img.path for img in window.session.explained.images] == [str(images[0]), str(images[1])]
    assert window.score.score.text().startswith("Similarity ") and window.score.verdict.text() != "–"
    assert not window.viewers[0].layer_pixmap("factual").isNull()


def test_layer_toggles_sliders_and_colormap_change_the_drawn_pixels(qtbot, explained):
    window = explained
    name, viewer, controls = _visible_layer(window), window.viewers[0], window.layer_controls[0]
    other = "counterfactual" if name == "factual" else "factual"
    controls.boxes[other].setChecked(False)
    controls.boxes[name].setChecked(False)
    hidden = grab_pixels(viewer.viewport())
    controls.boxes[name].setChecked(True)
    controls.sliders[name].setValue(100)
    full = grab_pixels(viewer.viewport())
    controls.sliders[name].setValue(0)
    transparent = grab_pixels(viewer.viewport())
    window.actions[f"{name}0"].trigger()  # the keyboard action toggles the same layer off
    assert not controls.boxes[name].isChecked()
    assert np.abs(full - hidden).sum() > 1000 and np.array_equal(transparent, hidden)
    controls.boxes[name].setChecked(True)
    controls.sliders[name].setValue(100)
    window.side.colormap_combos[name].setCurrentText("viridis" if window.layers.colormap(name) != "viridis" else "jet")
    assert np.abs(grab_pixels(viewer.viewport()) - full).sum() > 1000


def test_crop_drawn_in_crop_mode_rescores_and_undo_restores(qtbot, explained):
    window = explained
    before = window.session.explained.explanation.similarity
    viewer = window.viewers[0]
    window.actions["crop"].trigger()
    viewer.actual_size()
    start, end = viewer.mapFromScene(QPointF(4, 6)), viewer.mapFromScene(QPointF(50, 60))
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        qtbot.mousePress(viewer.viewport(), Qt.LeftButton, pos=start)
        qtbot.mouseMove(viewer.viewport(), end)
        qtbot.mouseRelease(viewer.viewport(), Qt.LeftButton, pos=end)
    x, y, w, h = crop = window.session.crops[0]
    assert abs(x - 4) <= 1 and abs(w - 46) <= 1 and "crop" in window.headers[0].text()
    assert window.session.explained.explanation.similarity != pytest.approx(before, abs=1e-6)
    area = window.viewers[0]._layers["factual"].sceneBoundingRect()  # the map covers exactly the crop
    assert (area.x(), area.y(), area.width(), area.height()) == pytest.approx(crop)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["undo"].trigger()
    assert window.session.crops == [None, None]
    assert window.session.explained.explanation.similarity == pytest.approx(before, abs=1e-5)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["redo"].trigger()
    assert window.session.crops[0] == crop


def test_gui_thread_keeps_ticking_while_the_runner_works(qtbot, explained, monkeypatch):
    window = explained
    real = core.explain_pair
    monkeypatch.setattr(core, "explain_pair", lambda *a, **k: (time.sleep(0.6), real(*a, **k))[1])
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    started = time.perf_counter()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["explain"].trigger()
    timer.stop()
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.6 and len(ticks) >= 0.5 * elapsed / 0.02
    assert max(np.diff(ticks)) < 0.25  # never a long stall


def test_paste_swap_and_help(qtbot, make_window, images):
    window = make_window()
    picture = QImage(str(images[2]))
    QApplication.clipboard().setImage(picture)
    with qtbot.waitSignal(window.session.image_changed, timeout=TIMEOUT_MS):
        window.actions["paste1"].trigger()
    assert "pasted image" in window.headers[1].text()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0])], 0)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.actions["swap"].trigger()
    assert "pasted image" in window.headers[0].text() and "a.png" in window.headers[1].text()
    window.actions["help"].trigger()
    assert window.help_dialog.isVisible()
    table = window.help_dialog.layout().itemAt(0).widget()
    assert table.rowCount() == len(COMMANDS) + len(FOLLOWUP_KEYS) and table.item(0, 1).text() == "Ctrl+O"


def test_quit_ends_the_file_menu():
    """Follow-up history came after Quit, where a reviewer reaching for it could quit instead."""
    assert [command.key for command in COMMANDS if command.menu == "&File"][-1] == "quit"


def test_every_command_has_one_handler_the_presenters_or_the_windows_own(make_window):
    window = make_window()
    presented, own = set(window.commands.handlers()), set(window._own_handlers())
    assert not presented & own and presented | own == {command.key for command in COMMANDS}


def test_an_unavailable_device_is_reported_and_the_model_stays(qtbot, make_window):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    window = make_window()
    before = window.session.model
    window.side.device_combo.setCurrentIndex(window.side.device_combo.findData("cuda"))
    window.side.device_combo.activated.emit(window.side.device_combo.currentIndex())
    qtbot.waitUntil(lambda: "CUDA" in problems(window), timeout=TIMEOUT_MS)
    assert window.session.model is before and window.side.device_combo.currentData() == "cpu"
    assert window.device_label.text() == "Device: cpu"


def test_single_key_shortcuts_do_not_fire_while_typing_a_note(qtbot, make_window):
    window = make_window()
    window.note.setFocus()
    qtbot.keyClicks(window.note, "S1 C")
    assert window.note.toPlainText() == "S1 C"
    assert not window.actions["sync"].isChecked() and not window.actions["crop"].isChecked()


def _until_stopped(ws, started, seconds: float = 30.0) -> bool:
    started.set()
    deadline = time.monotonic() + seconds
    while not ws.stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    return ws.stop.is_set()


def test_closing_the_window_interrupts_a_running_job(qtbot, make_window):
    """Issue #31 (d): closing waited for a running job (a gallery index build) to end on its own. The job here
    would run 30 s unless it sees its stop flag; the window must close long before."""
    import threading

    window = make_window()
    started, seen = threading.Event(), []
    runner = window.session.runner
    runner.submit("similar", _until_stopped, started, label="Indexing the gallery…", on_result=seen.append)
    assert started.wait(10)
    begun = time.monotonic()
    window.close()
    assert time.monotonic() - begun < 5.0  # the job's own end is 30 s away: the close did not wait for it
    assert runner._thread.wait(5000)  # the job ended on its stop flag, long before its own end
    assert seen == []  # and nothing of it was delivered to a closed window


def _outlines_enclose_the_tops(window) -> int:
    """How many images carry an outline; asserts each encloses its factual map's top and little else, and that an
    image whose factual map is empty carries none."""
    from core.explain.overlay import top_region

    explained, traced = window.session.explained, 0
    for i, viewer in enumerate(window.viewers):
        heat, path = explained.explanation.factual[i], viewer.outline_path()
        if heat.max() <= 0:
            assert path.isEmpty()
            continue
        traced += 1
        height, width = heat.shape
        x0, y0, w, h = explained.images[i].crop or (0, 0, *explained.images[i].image.size)
        region = top_region(heat, (width, height))

        def inside(mask, path=path, x0=x0, y0=y0, w=w, h=h, width=width, height=height) -> int:
            ys, xs = np.nonzero(mask)
            return sum(path.contains(QPointF(x0 + (x + 0.5) * w / width, y0 + (y + 0.5) * h / height))
                       for x, y in zip(xs, ys, strict=True))

        # pixels on the region's edge lie on the line itself: most of the top is inside it, little else is
        top = int(region.sum())
        assert inside(region) > 0.5 * top and inside(~region) < 0.1 * top
        ys, xs = np.nonzero(region)  # and where the map lies on the image: its crop, if any
        sx, sy = w / width, h / height
        edges = path.boundingRect()
        assert (edges.left(), edges.top(), edges.right(), edges.bottom()) == pytest.approx(
            (x0 + xs.min() * sx, y0 + ys.min() * sy, x0 + (xs.max() + 1) * sx, y0 + (ys.max() + 1) * sy), abs=1.5 * sx)
    return traced


def test_the_factual_map_s_top_is_outlined_and_the_choice_is_remembered(qtbot, make_window, images, tmp_path):
    """Over both images, the outline of each factual map's top (core.explain.overlay.top_contours, as every report
    draws it) encloses that top and little else, on a crop too; O hides it, and the choice outlives the window."""
    settings_path = tmp_path / "outline.ini"
    window = make_window(settings_path=settings_path)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    assert window.layers.outline and window.actions["outline"].isChecked()
    assert _outlines_enclose_the_tops(window)
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.session.set_crop(0, (20, 10, 50, 40))
    assert window.session.explained.images[0].crop == (20, 10, 50, 40)
    assert _outlines_enclose_the_tops(window)
    explanation = window.session.explained.explanation
    slot = [heat.max() > 0 for heat in explanation.factual].index(True)
    viewer, layers = window.viewers[slot], window.layers
    assert viewer._top[1].isVisible()
    layers.set_visible(slot, "factual", False)  # the counterfactual alone: no factual outline over it, as on reports
    assert not viewer._top[1].isVisible()
    layers.set_visible(slot, "factual", True)
    layers.set_opacity(slot, "factual", 0.0)
    assert not viewer._top[1].isVisible()
    layers.set_opacity(slot, "factual", 0.5)
    assert viewer._top[1].isVisible()
    shown = grab_pixels(viewer.viewport())
    window.actions["outline"].trigger()
    assert not window.layers.outline and np.abs(grab_pixels(viewer.viewport()) - shown).sum() > 0
    window.close()
    again = make_window(settings_path=settings_path)
    assert not again.layers.outline and not again.actions["outline"].isChecked()


def test_the_outline_of_a_small_crop_s_map_is_the_report_s_not_its_pixel_staircase(qtbot, explained):
    """A small crop's map has few pixels; the window stretches it smoothly and the report traces its top on the map
    resized to the panel: the window's outline is that smooth region too, not the map's pixel staircase."""
    from core.explain.overlay import top_region
    from core.review.report_layout import PANEL

    box = (20, 10, 16, 16)  # core's smallest crop
    for slot in (0, 1):
        with qtbot.waitSignal(explained.overlays_shown, timeout=TIMEOUT_MS):
            explained.session.set_crop(slot, box)
    factual = explained.session.explained.explanation.factual
    slot = next(i for i in (0, 1) if factual[i].max() > 0)  # a random model's evidence may all point one way
    heat = factual[slot]
    assert heat.shape == (16, 16)  # the crop's own pixels
    report = top_region(heat, (PANEL, PANEL))  # as report_layout's panel draws it
    path, grid = explained.viewers[slot].outline_path(), 96
    x0, y0, w, h = box
    window = np.array([[path.contains(QPointF(x0 + (x + 0.5) * w / grid, y0 + (y + 0.5) * h / grid))
                        for x in range(grid)] for y in range(grid)])
    samples = ((np.arange(grid) + 0.5) * PANEL / grid).astype(int)  # the same points on the report's panel
    reference = report[np.ix_(samples, samples)]
    assert (window & reference).sum() / (window | reference).sum() > 0.95
