"""The model's work replaced for tests of the GUI's rules: tasks that answer at once with what a real model's
result needs to carry for the models and the presenter (similarity, verdict, crops, method), recording what they
were asked. Images are really loaded (small generated PNGs load in milliseconds); no network, no torch."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.explain.refine import REFINED_METHOD
from gui.jobs import tasks
from gui.models import followup as followup_model


class FakeModelWork:
    """The tasks that need the network, replaced: each records what it was asked and answers at once."""

    def __init__(self):
        self.exports: list[tasks.ExportRequest] = []
        self.followup_exports: list[dict] = []
        self.measured: list = []  # the Explained whose faithfulness was measured
        self.refined: list = []  # the Explained whose maps were refined

    def load_model(self, _ws, path, device):
        info = SimpleNamespace(name="fake", sha256="f" * 64, metadata={})
        return tasks.ModelReady(info, "cpu", device, path)

    def explain(self, _ws, images, crops, method):
        from core.io.images import with_crop

        cropped = tuple(with_crop(image, crop) for image, crop in zip(images, crops, strict=True))
        # not the same content: the session then asks for faithfulness curves, as it does of a real pair
        explanation = SimpleNamespace(similarity=0.8, verdict="similar", probability_same=0.8, method=method,
                                      crops=(None, None), same_content=False, in_domain=None)
        return tasks.Explained(explanation, cropped, SimpleNamespace(name="fake", sha256="f" * 64))

    def refine(self, _ws, explained):
        self.refined.append(explained)
        better = SimpleNamespace(**{**vars(explained.explanation), "method": REFINED_METHOD})
        return tasks.Explained(better, explained.images, explained.model)

    def faithfulness(self, _ws, explained):
        self.measured.append(explained)
        return {"fractions": [0.0, 1.0]}

    def export(self, _ws, request):
        self.exports.append(request)
        Path(request.path).write_text(json.dumps({"record": request.record.facts(), "note": request.note,
                                                  "reviewer_verdict": request.reviewer_verdict}))
        return tasks.Exported(request.path, request.path)

    def followup(self, _ws, images, method, mode="auto", pixel_size_mm=None):
        return SimpleNamespace(images=images, method=method, mode=mode, pixel_size_mm=pixel_size_mm)

    def export_followup(self, _ws, path, result, record, note, overwrite, assessment="", history_facts=None,
                        maps=None):
        self.followup_exports.append({"path": path, "record": record, "note": note, "assessment": assessment})
        return path


@pytest.fixture
def fake_model_work(monkeypatch) -> FakeModelWork:
    work = FakeModelWork()
    for name in ("load_model", "explain", "refine", "faithfulness", "export"):
        monkeypatch.setattr(tasks, name, getattr(work, name))
    monkeypatch.setattr(followup_model, "followup_task", work.followup)
    monkeypatch.setattr(followup_model, "export_followup_task", work.export_followup)
    return work
