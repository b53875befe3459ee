"""--selftest: the headless smoke test CI also runs against the frozen binary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli import selftest

ROOT = Path(__file__).resolve().parent.parent
# Runs the selftest the way main.py does and then reports whether Qt was imported: the smoke test must pass on a
# machine without a display, so it may never touch Qt.
PROBE = """
import sys
import main
code = main.main(["--selftest"])
sys.stderr.write("qt imported: %s\\n" % any(name.startswith("PySide6") for name in sys.modules))
sys.exit(code)
"""


def test_selftest_from_source_prints_a_sound_summary_without_qt(tmp_path):
    # From another working directory: bundled files must be found through core.paths, never the cwd.
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "qt imported: False" in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["frozen"] is False
    assert summary["device"] == "cpu"
    assert 0.0 <= summary["similarity"] <= 1.0
    assert summary["decision"] in ("similar", "different")
    assert set(summary["maps"]) == {"factual_1", "factual_2", "counterfactual_1", "counterfactual_2"}
    assert all(stats["max"] > 0 for stats in summary["maps"].values())
    assert summary["timings_ms"]["total"] > 0
    assert summary["model"] and summary["version"]


def test_missing_samples_fail_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(selftest, "resources_dir", lambda: tmp_path)
    assert selftest.run_selftest() == selftest.EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "selftest FAILED" in captured.err and "expected at least two sample images" in captured.err


def test_sample_pair_comes_from_the_bundled_resources():
    first, second = selftest.sample_pair()
    assert first != second
    assert first.parent == second.parent == ROOT / "resources" / "samples"


@pytest.mark.parametrize("cam, problem", [
    (np.zeros((0, 0), np.float32), "empty"),
    (np.full((8, 8), np.nan, np.float32), "NaN"),
    (np.array([[0.5, np.inf]], np.float32), "infinite"),
])
def test_check_map_refuses_unusable_maps(cam, problem):
    with pytest.raises(selftest.SelftestFailure, match=problem):
        selftest.check_map("factual_1", cam)


def test_check_map_reports_shape_and_range():
    cam = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    assert selftest.check_map("factual_1", cam) == {"shape": [2, 2], "min": 0.0, "max": 1.0, "mean": 0.4375}


def test_an_image_with_no_evidence_at_all_fails(monkeypatch, capsys):
    import core

    real = core.explain_pair

    def blank_second_image(*args, **kwargs):
        result = real(*args, **kwargs)
        result.factual = (result.factual[0], np.zeros_like(result.factual[1]))
        result.counterfactual = (result.counterfactual[0], np.zeros_like(result.counterfactual[1]))
        return result

    monkeypatch.setattr(core, "explain_pair", blank_second_image)
    assert selftest.run_selftest() == selftest.EXIT_FAILED
    assert "image 2: factual and counterfactual maps are both all zeros" in capsys.readouterr().err
