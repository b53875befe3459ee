"""Report export from the window, settings that survive a restart, and the command line's screenshot mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from gui.app import run_app

from .conftest import TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]


def test_export_writes_png_and_json_with_what_is_shown(qtbot, explained, tmp_path):
    window = explained
    window.note.setPlainText("Compare the borders.")
    window.layer_controls[1].boxes["counterfactual"].setChecked(True)
    window.layer_controls[1].sliders["counterfactual"].setValue(80)
    target = tmp_path / "out" / "report.png"
    target.parent.mkdir()
    with qtbot.waitSignal(window.session.exported, timeout=TIMEOUT_MS):
        assert window.export_report_to(str(target))
    facts = json.loads(target.with_suffix(".json").read_text())
    shown = window.session.explained
    assert facts["similarity"] == round(shown.explanation.similarity, 6)
    assert facts["note"] == "Compare the borders." and facts["model"]["name"] == "tiny-test"
    assert facts["images"][1]["layers"] == {"factual": 0.5, "counterfactual": 0.8}
    assert facts["images"][0]["path"].endswith("a.png") and Image.open(target).width > 1000
    import hashlib

    # the GUI's sidecar names files as the CLI's does
    for image, source in zip(facts["images"], ("a.png", "b.png"), strict=True):
        assert Path(image["path"]).is_absolute() and Path(image["path"]).name == source
        assert image["sha256"] == hashlib.sha256(Path(image["path"]).read_bytes()).hexdigest()
    assert facts["colormaps"] == window.layers.colormaps
    window.export_report_to(str(target))  # exists: refused, reported, file untouched
    qtbot.waitUntil(lambda: "already exists" in "".join(window.problem_bar.problems()), timeout=TIMEOUT_MS)
    assert json.loads(target.with_suffix(".json").read_text()) == facts


def test_settings_persist_across_a_restart(qtbot, make_window, tmp_path):
    ini = tmp_path / "persist.ini"
    first = make_window(ini)
    first.side.colormap_combos["counterfactual"].setCurrentText("viridis")
    first.side.method_combo.setCurrentText("attention")
    first.layer_controls[1].sliders["factual"].setValue(80)
    first.layer_controls[0].boxes["counterfactual"].setChecked(True)
    first.actions["sync"].setChecked(True)
    first.resize(720, 520)  # inside the offscreen screen (800 x 600)
    size = first.size()
    first.close()
    second = make_window(ini)
    assert second.layers.colormap("counterfactual") == "viridis" and second.session.method == "attention"
    assert second.side.colormap_combos["counterfactual"].currentText() == "viridis"
    assert second.side.method_combo.currentText() == "attention"
    assert (second.layers.visible(1, "factual"), second.layers.opacity(1, "factual")) == (True, 0.8)
    assert second.layer_controls[1].sliders["factual"].value() == 80
    assert second.layer_controls[0].boxes["counterfactual"].isChecked()
    assert second.actions["sync"].isChecked() and second.sync.enabled
    assert second.size() == size and size.width() == 720
    assert second.session.model.path.endswith("tiny.pt")


def test_one_image_on_the_command_line_exits_2_with_one_line(capsys, tmp_path):
    class Args:
        images = [str(tmp_path / "only.png")]
        model = device = screenshot = worklist = None

    assert run_app(Args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "zero or two images" in err


def _screenshot(tmp_path, weights, *images):
    return subprocess.run([sys.executable, "main.py", "--screenshot", str(tmp_path / "shot.png"), *map(str, images),
                           "--model", str(weights), "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def test_screenshot_mode_renders_the_explained_pair(tmp_path, tiny_weights, images):
    done = _screenshot(tmp_path, tiny_weights, images[0], images[1])
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "shot.png").size == (1500, 860)


def test_screenshot_of_a_corrupt_or_missing_image_exits_2_with_one_line(tmp_path, tiny_weights, images):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(images[0].read_bytes()[:60])
    for bad, expected in ((corrupt, "corrupt.png"), (tmp_path / "missing.png", "missing.png: no such image file")):
        done = _screenshot(tmp_path, tiny_weights, bad, images[1])
        assert done.returncode == 2 and not (tmp_path / "shot.png").exists()
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:") and expected in done.stderr
