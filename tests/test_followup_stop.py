"""Stop means stop: a follow-up (core.followup.visits) and a lesion's history (core.followup.history) ask the
caller's should_stop between their stages (registration, measurements, explanation) and raise core.errors.Stopped,
with no partial result and no later stage run."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

import core.explain.pair as pair_module
import core.followup.visits as visits
from core.errors import Stopped
from core.followup.history import follow_lesion
from core.io.images import from_pil


def _visit(radius: int) -> object:
    rgb = np.full((96, 96, 3), (215, 170, 160), np.uint8)
    cv2.circle(rgb, (48, 48), radius, (90, 50, 30), -1)
    return from_pil(Image.fromarray(rgb))


class Stages:
    """should_stop that says stop from its `at`-th question on, and what ran."""

    def __init__(self, at: int, monkeypatch):
        self.at, self.asked, self.ran = at, 0, []
        for name in ("register", "measure"):
            real = getattr(visits, name)
            monkeypatch.setattr(visits, name, lambda *a, _real=real, _name=name, **k: (self.ran.append(_name),
                                                                                       _real(*a, **k))[1])
        real_explain = pair_module.explain_pair
        monkeypatch.setattr(pair_module, "explain_pair",
                            lambda *a, **k: (self.ran.append("explain"), real_explain(*a, **k))[1])

    def __call__(self) -> bool:
        self.asked += 1
        return self.asked >= self.at


@pytest.mark.parametrize(("at", "stage", "ran"), [(1, "registration", []), (2, "measurements", ["register"]),
                                                  (3, "explanation", ["register", "measure", "measure"])])
def test_a_follow_up_stops_before_the_stage_asked(tiny_model, monkeypatch, at, stage, ran):
    stages = Stages(at, monkeypatch)
    with pytest.raises(Stopped, match=stage):
        visits.followup(tiny_model, _visit(16), _visit(18), should_stop=stages)
    assert stages.ran == ran  # nothing after the stop ran


def test_a_follow_up_not_stopped_asks_at_each_stage_and_finishes(tiny_model, monkeypatch):
    stages = Stages(99, monkeypatch)
    result = visits.followup(tiny_model, _visit(16), _visit(18), should_stop=stages)
    assert stages.asked == 3 and stages.ran[-1] == "explain" and result.explanation is not None


def test_a_history_stops_between_visits(tiny_model, monkeypatch):
    stages = Stages(3, monkeypatch)  # two questions per visit compared: the third visit's registration
    with pytest.raises(Stopped, match="registration"):
        follow_lesion(tiny_model, [_visit(14), _visit(16), _visit(18)], should_stop=stages)
    assert stages.ran == ["register", "measure", "measure"] and "explain" not in stages.ran
