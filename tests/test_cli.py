import json
import os

import numpy as np
import pytest

from cli.parser import parse
from core import vocabulary
from core.explain.refine import REFINED_METHOD
from core.model.network import ModelConfig
from core.model.weights import save_model
from core.vocabulary import MIN_CROP_SIDE
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


# What a plain `explain` never needs: reports' PDF writer, DICOM writers and PACS clients, the similar-case index, the
# GUI, and torchvision / torch._dynamo (a cold start's largest avoidable imports; benchmarks/bench_startup.py).
NOT_ON_THE_EXPLAIN_PATH = ("reportlab", "pydicom", "highdicom", "dicomweb_client", "requests", "faiss", "PySide6",
                           "torchvision", "torch._dynamo")


def test_a_plain_explain_imports_nothing_it_does_not_use(weights, image_pair):
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, runpy; sys.argv = ['main.py', 'explain', *sys.argv[1:]]\n"
            "try:\n    runpy.run_path('main.py', run_name='__main__')\nexcept SystemExit as done:\n"
            "    assert not done.code, done.code\n"
            "import os; print('OMP_WAIT_POLICY', os.environ.get('OMP_WAIT_POLICY'))\n"
            f"print('LOADED', sorted({{m.split('.')[0] if not m.startswith('torch.') else m for m in sys.modules}} & "
            f"set({NOT_ON_THE_EXPLAIN_PATH!r})))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code, str(image_pair[0]), str(image_pair[1]), "--model",
                          str(weights)], capture_output=True, text=True, timeout=180,
                         cwd=Path(__file__).resolve().parent.parent, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "similarity" in out.stdout  # it did explain the pair
    assert out.stdout.strip().splitlines()[-2:] == ["OMP_WAIT_POLICY PASSIVE", "LOADED []"]


def test_idle_threads_sleep_only_before_torch_loads_and_never_over_the_user(monkeypatch):
    """OpenMP reads its wait policy once, when torch loads it: it is set then (a loaded machine's cores go to the
    work, not to spinning idle threads), an embedding process is left alone, and a user's setting is kept."""
    import sys

    from core.model.device import let_idle_threads_sleep

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    let_idle_threads_sleep()  # torch is loaded in this process: too late to matter, so nothing is set
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")
    let_idle_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    let_idle_threads_sleep()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_window_gets_sleeping_idle_threads_too(monkeypatch):
    """The window's runner thread explains and refines pair after pair: it needs the policy as much as `explain`."""
    import sys
    from types import SimpleNamespace

    import gui.app
    import main

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh process, before anything loads torch
    seen = []
    monkeypatch.setattr("cli.parser.parse", lambda _argv: SimpleNamespace(command="gui"))
    monkeypatch.setattr(gui.app, "run_app", lambda _args: seen.append(os.environ.get("OMP_WAIT_POLICY")) or 0)
    assert main.main([]) == 0
    assert seen == ["PASSIVE"]


def test_a_not_assessed_pair_prints_no_number_and_its_json_keeps_them_flagged(image_pair, tmp_path, capsys):
    """An image outside the domain: the text names the verdict and withholds similarity and P; --json keeps them
    for machines, flagged "extrapolated"."""
    import torch

    from core.model.network import SiameseModel

    torch.manual_seed(0)
    model = SiameseModel(ModelConfig(input_size=64), metadata={  # a domain no image is inside of
        "name": "outside", "calibration": {"method": "platt", "a": 6.0, "b": -3.0}, "verdict": {"band": [0.3, 0.7]},
        "domain": {"k": 1, "threshold": 0.0, "duplicate_distance": 0.02, "embeddings": [[1.0] + [0.0] * 511]}})
    weights = tmp_path / "outside.pt"
    save_model(model.eval(), weights)
    pair = [str(image_pair[0]), str(image_pair[1]), "--model", str(weights)]
    assert main(["explain", *pair]) == 0
    text = capsys.readouterr().out
    assert "NOT ASSESSED" in text and "similarity withheld" in text and "probability same class withheld" in text
    assert "%" not in text.split("\n", 1)[1].split("method ")[0]  # no number between the verdict and the method
    assert main(["explain", *pair, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["extrapolated"] is True and 0 <= data["similarity"] <= 1 and data["probability_same"] is not None


def test_explain_text_output(weights, image_pair, capsys):
    assert main(["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "similarity" in out and "threshold" in out and ("similar" in out or "different" in out)


@pytest.mark.parametrize("extra, words", [
    (["--crop1", "1,2,3"], "--crop1"),
    (["--crop2", "0,0,999,50"], "outside"),
    (["--crop1", "-5,0,10,10"], "--crop1: x must be >= 0, got -5"),  # not argparse's "expected one argument"
    (["--crop2", "0,-3,20,20"], "--crop2: y must be >= 0, got -3"),
    (["--crop1", "0,0,1,1"], f"--crop1: w must be at least {MIN_CROP_SIDE} px, got 1"),
    (["--colormap", "rainbow"], "invalid choice"),
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
    assert "gone.jpg: no such image file" in capsys.readouterr().err


def test_explain_report_writes_png_and_sidecar_and_refuses_overwrite(weights, image_pair, tmp_path, capsys):
    report = tmp_path / "report.png"
    argv = ["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights), "--report", str(report),
            "--note", "checked by hand"]
    assert main(argv) == 0
    facts = json.loads(report.with_suffix(".json").read_text())
    assert facts["note"] == "checked by hand" and facts["method"] == REFINED_METHOD  # the default maps, refined
    assert report.stat().st_size > 10_000
    capsys.readouterr()
    assert main(argv) == 2  # exists: not overwritten without --force
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--force", "--first-map"]) == 0
    assert json.loads(report.with_suffix(".json").read_text())["method"] == "gradcam"


def test_evaluate_json(trained_shapes, shapes_dir, tmp_path, capsys):
    _, weights = trained_shapes
    roc = tmp_path / "roc.png"
    assert main(["evaluate", str(shapes_dir), "--model", str(weights), "--json", "--roc", str(roc),
                 "--pairs", "20"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pairs"] <= 20 and 0 <= data["auc"] <= 1 and set(data["confusion"]) == {
        "true_similar", "false_similar", "true_different", "false_different"}
    assert roc.exists()
    written = roc.read_bytes()
    assert main(["evaluate", str(shapes_dir), "--model", str(weights), "--roc", str(roc), "--pairs", "10"]) == 2
    assert "already exists" in capsys.readouterr().err and roc.read_bytes() == written  # refused before any work
    assert main(["evaluate", str(shapes_dir), "--model", str(weights), "--roc", str(roc), "--pairs", "10",
                 "--force"]) == 0
    assert roc.read_bytes() != written  # 10 pairs: another curve


def test_report_and_maps_go_into_missing_folders_with_absolute_paths_and_sha256(weights, image_pair, tmp_path,
                                                                                monkeypatch, capsys):
    import hashlib

    monkeypatch.chdir(image_pair[0].parent)
    argv = ["explain", image_pair[0].name, image_pair[1].name, "--model", str(weights), "--json",
            "--report", str(tmp_path / "new" / "reports" / "r.png"), "--out", str(tmp_path / "other" / "maps")]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    sidecar = json.loads((tmp_path / "new" / "reports" / "r.json").read_text())
    assert (tmp_path / "other" / "maps" / "image1_factual.npy").exists()
    for facts in (printed, sidecar):  # one builder: the same image facts in --json and in the sidecar
        for image, path in zip(facts["images"], image_pair, strict=True):
            assert image["path"] == str(path) and image["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            assert image["map_size"] == image["size"]  # small images: maps at their own size
    assert sidecar["disclaimer"] == vocabulary.DISCLAIMER and sidecar["model"] == printed["model"]


def test_colormap_help_lists_every_colormap_and_defaults_come_from_the_vocabulary(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text.split("--colormap", 2)[2] for name in vocabulary.COLORMAPS)
    assert f"at most {vocabulary.MAX_MAP_SIDE} px" in help_text  # what --out's .npy files hold
    args = parse(["explain", "a.png", "b.png"])
    assert args.method == vocabulary.DEFAULT_METHOD and args.device == vocabulary.DEFAULT_DEVICE
    train = vars(parse(["train", "data", "--out", "m.pt"]))
    assert {key: train[key] for key in vocabulary.TRAINING_DEFAULTS} == vocabulary.TRAINING_DEFAULTS
    config = ModelConfig()
    assert {key: getattr(config, key) for key in ("architecture", "input_size", "embedding_dim", "margin",
                                                  "crop_margin")} == {key: vocabulary.TRAINING_DEFAULTS[key] for key
                                                                       in ("architecture", "input_size",
                                                                           "embedding_dim", "margin", "crop_margin")}


def test_selftest_is_a_command_and_the_old_flag_its_alias():
    assert parse(["selftest"]).command == parse(["--selftest"]).command == "selftest"
    with pytest.raises(SystemExit):
        parse(["gui", "--selftest"])  # the alias is the first word only, as CI and the README write it


def test_the_command_table_and_the_parser_name_the_same_commands():
    import importlib

    from cli.parser import COMMANDS, HANDLERS, build_parser

    choices = set(next(a for a in build_parser()._actions if a.dest == "command").choices)
    assert choices == set(COMMANDS) == {"gui", *HANDLERS}
    for module, name in HANDLERS.values():  # every handler exists and takes the parsed arguments
        assert callable(getattr(importlib.import_module(f"cli.{module}"), name))


@pytest.mark.parametrize("argv, words", [(["explian", "a.jpg", "b.jpg"], "did you mean 'explain'?"),
                                         (["repport", "a.jpg"], "commands: gui, explain,")])
def test_a_misspelt_command_is_named_not_opened_as_an_image(argv, words, tmp_path, monkeypatch, capsys):
    # read as the window's images, `explian a.jpg b.jpg` said "give zero or two images, not 3" and `repport a.jpg`
    # opened the window on a missing image called "repport"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        parse(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert f"'{argv[0]}' is neither a command nor an image file" in err and words in err
    (tmp_path / argv[0]).write_bytes(b"")  # a file of that name (an extensionless DICOM, say) is the window's image
    assert parse(argv).command == "gui" and parse(argv).images == argv


def test_a_reader_that_stops_reading_is_not_an_error(weights, image_pair):
    # `main.py explain ... | head -1` (here: a pipe already closed) ended "error: Broken pipe", exit status 2
    import subprocess
    import sys
    from pathlib import Path

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "main.py", "explain", *map(str, image_pair), "--model", str(weights)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
                              cwd=str(Path(__file__).resolve().parent.parent))
    finally:
        os.close(write_end)
    assert done.returncode == 141 and done.stderr == ""


def test_every_option_of_every_command_says_what_it_does():
    # `train --help` listed --out, --architecture, --input-size, --epochs, ... with neither a word nor a default
    import argparse

    from cli.parser import build_parser

    def bare(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for command, sub in action.choices.items():
                    yield from bare(sub, f"{name} {command}")
            elif action.option_strings and not action.help:
                yield f"{name} {action.option_strings[-1]}"

    assert list(bare(build_parser(), "main.py")) == []


def _numpy_fails(*args, **kwargs):
    return np.zeros(2).reshape(3)  # numpy's own ValueError, as a bug deep in a computation raises it


def test_a_bug_is_not_reported_as_bad_input(weights, image_pair, tmp_path, monkeypatch, capsys):
    """Every ValueError used to end as 'error: ...' and exit 2, which once passed a real crash off as bad input."""
    import core.trust.checks

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SIAMESE_LENS_DEBUG", raising=False)
    monkeypatch.setattr(core.trust.checks, "probability_same", _numpy_fails)
    argv = ["explain", str(image_pair[0]), str(image_pair[1]), "--model", str(weights)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "a bug in Siamese Lens, not your input" in err and "cannot reshape" in err
    crashes = list((tmp_path / "cache" / "SiameseLens" / "crashes").iterdir())
    assert len(crashes) == 1 and str(crashes[0]) in err and crashes[0].name.startswith("explain-")
    assert "Traceback" in crashes[0].read_text() and "_numpy_fails" in crashes[0].read_text()
    monkeypatch.setenv("SIAMESE_LENS_DEBUG", "1")  # the traceback itself, for a developer
    with pytest.raises(ValueError, match="cannot reshape"):
        main(argv)
    monkeypatch.delenv("SIAMESE_LENS_DEBUG")
    assert main([*argv, "--crop1", "1,2,3"]) == 2  # bad input still is one line and exit 2
    assert capsys.readouterr().err.startswith("error: --crop1: crop must be x,y,w,h")


def test_every_bad_input_message_of_the_command_line_is_an_input_error():
    """cli.run turns only core.errors types into the one-line exit 2: a plain ValueError there would end as a bug."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "cli"
    plain = [f"{path.name}:{n}" for path in sorted(root.glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if "raise ValueError(" in line]
    assert plain == []


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_input_size_outside_its_bounds_is_one_line_naming_the_option_exit_2(command, tmp_path, capsys):
    """train and pretrain read --input-size through one argparse type (cli.parser), bounds from
    core.vocabulary.INPUT_SIZE_RANGE: refused as it is read, before any folder is looked at."""
    low, high = vocabulary.INPUT_SIZE_RANGE
    for given, problem in ((str(low - 1), f"must be in {low}..{high} pixels, got {low - 1}"),
                           (str(high + 1), f"must be in {low}..{high} pixels, got {high + 1}"),
                           ("96px", f"must be a whole number of pixels in {low}..{high}, got '96px'")):
        with pytest.raises(SystemExit) as info:
            main([command, str(tmp_path / "missing"), "--out", str(tmp_path / "m.pt"), "--input-size", given])
        assert info.value.code == 2
        out, err = capsys.readouterr()
        assert out == "" and err == f"error: main.py {command}: argument --input-size: {problem} (see --help)\n"
    assert parse([command, str(tmp_path), "--out", "m.pt", "--input-size", str(high)]).input_size == high
