"""GUI test fixtures: offscreen Qt, a tiny weights file, small generated images, windows on throw-away settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from gui.app import create_workstation
from gui.jobs.qimage import qimage_to_array
from gui.models.settings import open_settings
from tests.conftest import save_tiny_weights
from tests.gui.fakes import fake_model_work  # noqa: F401  (a fixture: the model's work replaced)

TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny.pt", metadata={
        "name": "tiny-test", "test_metrics": {"accuracy": 0.5, "auc": 0.5}})


@pytest.fixture(scope="session")
def other_weights(tmp_path_factory):
    """Another tiny model (other weights, so another sha256): a reviewer choosing a second model."""
    return save_tiny_weights(tmp_path_factory.mktemp("weights") / "other.pt", seed=1)


def make_image(path, size, seed: int):
    """Noise with a bright disc: different seeds give pairs a random model scores differently."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(40, 200, (size[1], size[0], 3), dtype=np.uint8))
    x, y = rng.integers(0, min(size) // 2, 2)
    radius = min(size) // 2
    ImageDraw.Draw(image).ellipse((int(x), int(y), int(x) + radius, int(y) + radius), fill=(240, 60, 40))
    image.save(path)
    return path


@pytest.fixture
def images(tmp_path):
    """Three small images of different shapes (a, b, c)."""
    return [make_image(tmp_path / name, size, seed)
            for name, size, seed in (("a.png", (96, 72), 1), ("b.png", (80, 80), 2), ("c.jpg", (64, 96), 3))]


@pytest.fixture
def make_window(qtbot, tmp_path, tiny_weights):
    """make_window(settings_path=None, model=tiny) -> a shown MainWindow whose model is loaded."""

    def make(settings_path=None, model=None, worklist=None):
        settings = open_settings(settings_path or tmp_path / "settings.ini")
        station = create_workstation(settings, str(worklist or tmp_path / "worklist.sqlite"))
        window = station.window
        qtbot.addWidget(window)  # closed at teardown, which stops its runner thread
        window.show()
        with qtbot.waitSignal(window.session.model_changed, timeout=TIMEOUT_MS):
            station.start(model_path=str(model or tiny_weights), device="cpu")
        return window

    return make


@pytest.fixture
def explained(qtbot, make_window, images):
    """A window showing the explanation of images a and b."""
    window = make_window()
    with qtbot.waitSignal(window.overlays_shown, timeout=TIMEOUT_MS):
        window.load_dropped([str(images[0]), str(images[1])])
    return window


def switch_model(qtbot, window, path):
    """Another model chosen, and the pair explained by it."""
    window.session.load_model(path)
    session = window.session
    qtbot.waitUntil(lambda: session.model.path == path and session.explained is not None
                    and session.explained.model.sha256 == session.model.info.sha256, timeout=TIMEOUT_MS)


def drop_files(widget, paths) -> None:
    """Deliver a real QDropEvent carrying file URLs, as a drag from a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = widget.viewport() if hasattr(widget, "viewport") else widget
    enter = QDragEnterEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(target, enter)  # Qt delivers a drop only after an accepted drag-enter
    assert enter.isAccepted(), "the drop target refused the drag"
    QApplication.sendEvent(target, QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))


def grab_pixels(widget) -> np.ndarray:
    """The widget as drawn, RGBA (H, W, 4) int array."""
    QApplication.processEvents()
    return qimage_to_array(widget.grab().toImage()).astype(int)


NOTE = "asymmetric, blue-white veil"


def type_note_then_kill(cwd, ini, store, start: str, ready_when: str, before_typing: str = "pass") -> str:
    """Run a workstation (settings `ini`, worklist `store`) in a child process: `start` it (one line), and once
    `ready_when` holds, run `before_typing`, type NOTE into the note and print "typed"; then kill -9 it: no close
    event, no settings sync, so only what was committed survives. Returns the last line read."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from PySide6.QtCore import QTimer
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QApplication
        from gui.app import create_workstation
        from gui.models.settings import open_settings
        app = QApplication([])
        station = create_workstation(open_settings({str(ini)!r}), {str(store)!r})
        window = station.window
        window.show()
        {start}
        def ready():
            if not ({ready_when}):
                return
            timer.stop()
            {before_typing}
            QTest.keyClicks(window.note, {NOTE!r})
            print("typed", flush=True)
        timer = QTimer()
        timer.timeout.connect(ready)
        timer.start(50)
        app.exec()
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=env, cwd=cwd, text=True)
    deadline = time.time() + 120
    line = ""
    while time.time() < deadline and "typed" not in line:
        line = process.stdout.readline()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return line
