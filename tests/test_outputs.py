"""core.review.outputs: every path planned and checked before anything is written, the maps, report and sidecar
written as one unit, the explanation's facts built once; and the CLI and the window's export going through it."""

from __future__ import annotations

import errno
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.explain import facts as facts_module
from core.io import files
from core.review import outputs, report
from main import main
from tests.test_report import pair  # noqa: F401  (the fixture)


def _tree(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_the_plan_lists_every_file_in_the_order_they_are_listed(tmp_path):
    plan = outputs.plan_outputs(tmp_path / "maps", tmp_path / "r.pdf")
    assert [path.name for path in plan.maps[:4]] == ["image1_factual.npy", "image1_factual.png",
                                                    "image2_factual.npy", "image2_factual.png"]
    assert len(plan.maps) == 8 and plan.files[-2:] == (tmp_path / "r.pdf", tmp_path / "r.json")
    assert outputs.plan_outputs().files == () and not _tree(tmp_path)


@pytest.mark.parametrize("existing", ["maps/image2_counterfactual.png", "r.json"])
def test_the_plan_refuses_an_existing_file_without_force_before_anything_is_written(tmp_path, existing):
    (tmp_path / "maps").mkdir()
    (tmp_path / existing).write_text("someone else's")
    before = _tree(tmp_path)
    with pytest.raises(FileExistsError, match=rf"{Path(existing).name}: already exists"):
        outputs.plan_outputs(tmp_path / "maps", tmp_path / "r.png")
    assert _tree(tmp_path) == before
    assert outputs.plan_outputs(tmp_path / "maps", tmp_path / "r.png", overwrite=True).report == tmp_path / "r.png"


def test_the_plan_refuses_bad_names_folders_and_collisions_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"r\.jpg: a report file name must end in \.png"):
        outputs.plan_outputs(report=tmp_path / "r.jpg")
    with pytest.raises(report.ReportError, match=r"image1_factual\.npy: cannot be written \(.*file is not a folder\)"):
        outputs.plan_outputs(tmp_path / "file" / "maps")
    for same in (tmp_path / "image1_factual.png", tmp_path / "none" / ".." / "image1_factual.png"):
        with pytest.raises(ValueError, match="cannot be one of the maps"):
            outputs.plan_outputs(tmp_path, same, overwrite=True)
    with pytest.raises(ValueError, match="unknown colormap"):
        outputs.plan_outputs(tmp_path, colormaps={"factual": "rainbow"})
    monkeypatch.setattr(report.os, "access", lambda path, mode: Path(path) != tmp_path)  # root may write anywhere
    with pytest.raises(report.ReportError, match=r"r\.png: cannot be written \(.* is not writable\)"):
        outputs.plan_outputs(report=tmp_path / "new" / "r.png")
    assert _tree(tmp_path) == {"file"}


def test_maps_report_and_sidecar_are_written_with_the_facts_built_once(tmp_path, pair, monkeypatch):  # noqa: F811
    explanation, images, info = pair
    built = []
    real = outputs.explanation_facts
    monkeypatch.setattr(outputs, "explanation_facts", lambda *args: built.append(1) or real(*args))
    plan = outputs.plan_outputs(tmp_path / "maps", tmp_path / "reports" / "r.png")
    written = outputs.write_outputs(plan, explanation, images, info, note="seen")
    assert written.files == plan.files and all(path.exists() for path in plan.files) and built == [1]
    assert np.load(tmp_path / "maps" / "image1_factual.npy").shape == explanation.factual[0].shape
    sidecar = json.loads(plan.files[-1].read_text())
    assert sidecar["note"] == "seen" and sidecar["images"][0]["layers"] == {"factual": 0.5, "counterfactual": 0.0}
    # the facts handed back are the explanation's, as the sidecar states them, without the report's own keys
    assert "layers" not in written.facts["images"][0] and "disclaimer" not in written.facts
    assert [{k: v for k, v in image.items() if k != "layers"} for image in sidecar["images"]] == written.facts["images"]


def test_a_report_that_cannot_be_written_leaves_no_maps_and_no_folders(tmp_path, pair, monkeypatch):  # noqa: F811
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "other.txt").write_text("not ours")
    real_replace = files.os.replace

    def full_at_the_report(src, dst):
        if Path(dst).suffix == ".json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", full_at_the_report)
    for maps in (tmp_path / "new" / "maps", tmp_path / "kept"):
        plan = outputs.plan_outputs(maps, tmp_path / "reports" / "r.png")
        with pytest.raises(report.ReportError, match=r"r\.png: cannot write report \(No space left"):
            outputs.write_outputs(plan, *pair)
        assert _tree(tmp_path) == {"kept", "kept/other.txt"}  # the maps written first are gone, folders made too


def test_explain_json_report_and_maps_hash_each_image_once(weights, image_pair, tmp_path, monkeypatch, capsys):
    hashed = Counter()
    real = facts_module.file_sha256
    monkeypatch.setattr(facts_module, "file_sha256", lambda path: hashed.update([Path(path)]) or real(path))
    argv = ["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights), "--json",
            "--report", str(tmp_path / "r.png"), "--out", str(tmp_path / "maps")]
    assert main(argv) == 0
    assert hashed == Counter({image_pair[0]: 1, image_pair[1]: 1})
    printed = json.loads(capsys.readouterr().out)
    sidecar = json.loads((tmp_path / "r.json").read_text())
    assert printed["images"] == [{k: v for k, v in image.items() if k != "layers"} for image in sidecar["images"]]
    assert printed["written"] == [str(path) for path in outputs.map_files(tmp_path / "maps")] + [
        str(tmp_path / "r.png"), str(tmp_path / "r.json")]


def test_explain_without_a_report_or_json_hashes_nothing(weights, image_pair, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(facts_module, "file_sha256", lambda path: pytest.fail("hashed"))
    assert main(["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights)]) == 0
    assert "wrote" not in capsys.readouterr().out
    assert main(["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights),
                 "--out", str(tmp_path / "maps")]) == 0  # maps alone: nothing to say about the files
    assert capsys.readouterr().out.count("wrote") == len(outputs.map_files(tmp_path))


def test_maps_that_cannot_be_written_are_one_error_naming_their_folder(tmp_path, pair, monkeypatch):  # noqa: F811
    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    plan = outputs.plan_outputs(tmp_path / "maps")
    with pytest.raises(report.ReportError, match=r"maps: cannot write maps \(No space left on device\)"):
        outputs.write_outputs(plan, *pair)
    assert _tree(tmp_path) == set()


def test_explain_exits_2_naming_an_existing_map_before_any_work(weights, image_pair, tmp_path, monkeypatch, capsys):
    import core.model.weights

    monkeypatch.setattr(core.model.weights, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "image1_counterfactual.npy").write_text("x")
    before = _tree(tmp_path)
    argv = ["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights), "--report",
            str(tmp_path / "r.png"), "--out", str(tmp_path / "maps")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("error: ") and "image1_counterfactual.npy: already exists" in captured.err
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("paste", [False, True])
def test_the_windows_export_states_the_images_real_scale_and_size(tiny_model, tmp_path, monkeypatch, paste):
    """A picture larger than MAX_LOADED_PIXELS is downsampled once on load; the sidecar the window exports says by
    how much, with the file's own size, whether the picture was opened or pasted and then cropped."""
    from core.io import images as images_module
    from gui.jobs import tasks

    monkeypatch.setattr(images_module, "MAX_LOADED_PIXELS", 4_000)
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8))
    big.save(tmp_path / "big.png")
    ws = tasks.Workspace()
    ws.model = tiny_model
    first = tasks.load_image(ws, big if paste else str(tmp_path / "big.png")).image
    second = tasks.load_image(ws, str(tmp_path / "big.png")).image
    assert first.scale > 1 and first.file_size == (120, 90)
    explained = tasks.explain(ws, (first, second), ((2, 3, 30, 20), None), "gradcam")
    request = tasks.ExportRequest(str(tmp_path / "r.png"), explained, {}, ({"factual": 0.5}, {}), "", False)
    exported = tasks.export(ws, request)
    shown = json.loads(Path(exported.sidecar).read_text())["images"][0]
    assert shown["scale"] == pytest.approx(first.scale) and shown["original_size"] == [120, 90]
    assert shown["loaded_size"] == list(first.size) and shown["crop"] == [2, 3, 30, 20]
