"""The device menu in the cpu build of the app (build.spec's default flavour): Auto and CPU only, and why."""

from __future__ import annotations

import sys

import pytest

from core.model.device import FLAVOUR_FILE
from gui.app import create_workstation
from gui.models.settings import open_settings

from .conftest import TIMEOUT_MS


@pytest.fixture
def cpu_build(tmp_path, monkeypatch):
    """Run as the frozen cpu flavour would: a bundle folder whose flavour record says cpu."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / FLAVOUR_FILE).write_text("cpu\n")
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)


def _menu(window) -> list:
    return [window.side.device_combo.itemData(i) for i in range(window.side.device_combo.count())]


def test_source_run_offers_cuda(make_window, monkeypatch):
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    assert _menu(make_window()) == ["auto", "cpu", "cuda"]


def test_cpu_build_offers_auto_and_cpu_and_says_why(cpu_build, make_window):
    window = make_window()
    assert _menu(window) == ["auto", "cpu"]
    assert [window.side.device_combo.itemText(i) for i in range(2)] == ["Auto", "CPU"]
    assert "CPU build" in window.side.device_combo.toolTip() and "CUDA" in window.side.device_combo.toolTip()
    assert window.device_label.text() == "Device: cpu"


def test_cpu_build_asked_for_cuda_says_so_and_still_runs_on_the_cpu(cpu_build, qtbot, tmp_path, tiny_weights):
    """A CUDA choice remembered from a cuda build, or given with --device cuda: a message, then the CPU."""
    station = create_workstation(open_settings(tmp_path / "settings.ini"), str(tmp_path / "worklist.sqlite"))
    window = station.window
    qtbot.addWidget(window)
    window.show()
    refused = lambda _source, text: "CPU build" in text  # noqa: E731
    with qtbot.waitSignal(window.session.error, check_params_cb=refused, timeout=TIMEOUT_MS):
        station.start(model_path=str(tiny_weights), device="cuda")
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=TIMEOUT_MS)
    assert window.device_label.text() == "Device: cpu"
    assert window.side.device_combo.currentData() == "auto"
