"""Starts the review workstation (main.py's default command) and its --screenshot mode."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

# Benchmarks set this to learn when the window is first painted: the app prints "shown <epoch seconds>" and quits.
EXIT_AFTER_SHOW = "SIAMESE_LENS_EXIT_AFTER_SHOW"
SCREENSHOT_SIZE = (1500, 860)
SCREENSHOT_TIMEOUT_MS = 180_000


def run_app(args) -> int:
    """args: images (0 or 2 paths), model (path or None), device (auto/cpu/cuda or None), screenshot (path or None).
    Returns the exit status: 0, or 2 with one line on stderr for unusable input."""
    images = [str(p) for p in (args.images or [])]
    problem = _input_problem(images, args.screenshot)
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        return 2
    if args.screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from .settings import APPLICATION, ORGANIZATION, open_settings
    from .window import MainWindow

    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        qInstallMessageHandler(_without_offscreen_noise)  # keep stderr to the one line that matters
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Siamese Lens")
    scratch = tempfile.TemporaryDirectory() if args.screenshot else None
    # A screenshot never reads or changes the user's settings, so docs pictures are reproducible.
    settings = open_settings(Path(scratch.name) / "settings.ini" if scratch else None)
    worklist = args.worklist or (str(Path(scratch.name) / "worklist.sqlite") if scratch else None)  # nor the user's worklist
    window = MainWindow(settings, model_path=args.model, device=args.device, worklist_path=worklist)
    if args.screenshot:
        window.resize(*SCREENSHOT_SIZE)
    window.show()
    status = {"code": 0}
    if args.screenshot:
        _arm_screenshot(app, window, args.screenshot, status)
    if os.environ.get(EXIT_AFTER_SHOW):
        # repaint() paints synchronously, while the runner is already importing torch: a real first frame.
        QTimer.singleShot(0, lambda: (window.repaint(), print(f"shown {time.time():.6f}", flush=True), window.close()))
    window.start(images)
    app.exec()
    if scratch:
        scratch.cleanup()
    return status["code"]


def _input_problem(images: list[str], screenshot: str | None) -> str | None:
    if len(images) not in (0, 2):
        return f"give zero or two images, not {len(images)}"
    if screenshot and not images:
        return "--screenshot needs two images: main.py --screenshot FILE.png IMG1 IMG2"
    if screenshot and not screenshot.lower().endswith(".png"):
        return f"{screenshot}: the screenshot must be a .png file"
    for image in images:
        path = Path(image)
        if path.is_dir():
            return f"{image}: is a folder, not an image file"
        if not path.is_file():
            return f"{image}: no such file"
    return None


def _without_offscreen_noise(_mode, _context, message: str) -> None:
    if "does not support propagateSizeHints" not in message:  # harmless, printed by the offscreen platform
        sys.stderr.write(f"{message}\n")


def _arm_screenshot(app, window, target: str, status: dict) -> None:
    """Grab the window once the pair's overlays are drawn; any error reported meanwhile ends the run with 2."""
    from PySide6.QtCore import QTimer

    def finish(code: int, message: str = "") -> None:
        if status.get("done"):
            return
        status.update(done=True, code=code)
        if message:
            sys.stderr.write(f"error: {message}\n")
        window.close()

    def grab() -> None:
        app.processEvents()
        if window.grab().save(target, "PNG"):
            print(f"wrote {target}")
            finish(0)
        else:
            finish(2, f"{target}: cannot write the screenshot")

    window.overlays_shown.connect(lambda: QTimer.singleShot(150, grab))
    window.presenter.message.connect(lambda text, error: error and finish(2, text))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: finish(2, "timed out waiting for the explanation"))
