import json

import numpy as np
import pytest

from core.weights import save_model
from main import main


@pytest.fixture
def weights(tmp_path, tiny_model):
    path = tmp_path / "tiny model.pt"
    save_model(tiny_model, path, {"name": "tiny"})
    return path


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("explain", "train", "evaluate", "gui"):
        assert command in out


def test_explain_json_and_maps(weights, image_pair, tmp_path, capsys):
    out_dir = tmp_path / "maps"
    code = main(["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights), "--crop1", "5,5,40,30",
                 "--json", "--out", str(out_dir), "--method", "reference"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {"similarity", "distance", "decision", "threshold", "method", "model", "images", "timings_ms"} <= set(data)
    assert data["method"] == "reference" and data["model"]["name"] == "tiny" and len(data["model"]["sha256"]) == 64
    assert data["images"][0]["crop"] == [5, 5, 40, 30] and data["images"][0]["size"] == [40, 30]
    assert len(data["images"][1]["sha256"]) == 64
    assert np.load(out_dir / "image1_factual.npy").shape == (30, 40)
    assert (out_dir / "image2_counterfactual.png").exists()


def test_explain_text_output(weights, image_pair, capsys):
    assert main(["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "similarity" in out and "threshold" in out and ("similar" in out or "different" in out)


@pytest.mark.parametrize("extra, words", [
    (["--crop1", "1,2,3"], "--crop1"),
    (["--crop2", "0,0,999,5"], "outside"),
    (["--method", "lime"], "invalid choice"),
    (["--model", "/no/such.pt"], "no such weights file"),
])
def test_bad_input_exits_2_with_one_line(weights, image_pair, capsys, extra, words):
    argv = ["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights), *extra]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_missing_image_exits_2(weights, tmp_path, image_pair, capsys):
    assert main(["explain", str(tmp_path / "gone.jpg"), str(image_pair[1]), "--model", str(weights)]) == 2
    assert "gone.jpg: no such file" in capsys.readouterr().err


def test_explain_report_writes_png_and_sidecar_and_refuses_overwrite(weights, image_pair, tmp_path, capsys):
    report = tmp_path / "report.png"
    argv = ["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights), "--report", str(report),
            "--note", "checked by hand"]
    assert main(argv) == 0
    facts = json.loads(report.with_suffix(".json").read_text())
    assert facts["note"] == "checked by hand" and facts["method"] == "gradcam"
    assert report.stat().st_size > 10_000
    capsys.readouterr()
    assert main(argv) == 2  # exists: not overwritten without --force
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_evaluate_json(trained_shapes, shapes_dir, tmp_path, capsys):
    _, weights = trained_shapes
    roc = tmp_path / "roc.png"
    assert main(["evaluate", str(shapes_dir), "--model", str(weights), "--json", "--roc", str(roc), "--pairs", "20"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pairs"] <= 20 and 0 <= data["auc"] <= 1 and set(data["confusion"]) == {
        "true_similar", "false_similar", "true_different", "false_different"}
    assert roc.exists()
