"""Self-supervised pretraining (core.training.pretrain), the k-NN probe (core.evaluation.probe) and their commands, on
tiny images."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.evaluation.probe import knn_accuracy, probe_folders
from core.model.weights import load_model
from core.training.pretrain import PretrainOptions, pretrain
from main import main


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here (conftest sets two): on 2 busy cores a second thread mostly waits, and slows."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(shapes_dir, tmp_path_factory):
    """An interrupted 2-epoch run resumed to its end, and the same run straight through: (interrupted, resumed,
    straight, epochs the resumed run reported)."""
    root = tmp_path_factory.mktemp("pretrain")

    def options(name, **kw):
        return PretrainOptions(**{**dict(data_dirs=[str(shapes_dir)], out=str(root / name / "base.pt"), input_size=32,
                                         epochs=2, batch_size=16, seed=3, device="cpu", cache_dir=str(root / "cache"),
                                         probe_every=1), **kw})

    def interrupt_after_first_epoch(progress):
        if progress["done"] and progress["epoch"] == 1:
            raise KeyboardInterrupt

    (root / "resumed").mkdir()
    (root / "straight").mkdir()
    interrupted = pretrain(options("resumed"), progress=interrupt_after_first_epoch)
    seen = []
    resumed = pretrain(options("resumed", resume=True),
                       progress=lambda p: seen.append(p["epoch"]) if p["done"] else None)
    straight = pretrain(options("straight"))
    return interrupted, resumed, straight, seen


def test_pretraining_writes_a_weights_file_with_its_record_and_curves(runs, shapes_dir):
    _, resumed, _, _ = runs
    model = load_model(resumed.out)
    meta = model.metadata
    assert meta["untrained"] is True  # its head is random: the app and reports warn that scores mean nothing
    record = meta["pretrained"]
    assert record["objective"] == "simsiam" and record["epochs"] == 2 and record["images"] == 72
    assert record["data_sets"] == [{"name": shapes_dir.name, "images": 72, "classes": 3}]
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert all(np.isfinite(h["loss"]) and -1 <= h["loss"] <= 1 and h["spread"] > 0 for h in record["history"])
    assert record["probe_before"][0]["images"] == 72 and record["probe"] == record["history"][-1]["probe"]
    assert 0 <= record["probe"][0]["knn_accuracy"] <= 1 and 0 <= record["probe"][0]["pair_auc"] <= 1
    assert meta["config"]["input_size"] == 32 and meta["options"]["epochs"] == 2
    out = torch.load(resumed.out, weights_only=True)["state_dict"]
    assert not any(k.startswith(("projector", "predictor", "siamese")) for k in out)  # a plain SiameseModel
    assert Path(resumed.out).with_suffix(".curves.png").read_bytes()[:4] == b"\x89PNG"


def test_an_interrupted_run_resumes_at_the_next_epoch_and_matches_a_straight_run(runs):
    interrupted, resumed, straight, seen = runs
    assert interrupted.interrupted and interrupted.epochs == 1  # the last finished epoch was saved
    assert seen == [2]  # continued at epoch 2, not from scratch
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], rel=1e-5)
    a = torch.load(resumed.out, weights_only=True)["state_dict"]
    b = torch.load(straight.out, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_init_from_a_pretrained_file_starts_from_its_backbone(runs, shapes_dir, tmp_path, capsys):
    from core.model.network import ModelConfig, SiameseModel
    from core.training.train import _initialise_from

    _, resumed, _, _ = runs
    pretrained = load_model(resumed.out).state_dict()
    model = SiameseModel(ModelConfig(input_size=32))
    _initialise_from(model, resumed.out)
    features = [k for k in pretrained if k.startswith("features.")]
    assert features and all(torch.equal(model.state_dict()[k], pretrained[k]) for k in features)
    out = tmp_path / "tuned.pt"
    assert main(["train", str(shapes_dir), "--out", str(out), "--init-from", resumed.out, "--epochs", "1",
                 "--input-size", "32", "--batch-size", "16", "--device", "cpu", "--cache-dir", str(tmp_path)]) == 0
    tuned = json.loads(out.with_suffix(".json").read_text())
    assert "untrained" not in tuned and tuned["options"]["init_from"] == resumed.out


def test_probe_separates_the_shapes_with_a_trained_backbone(trained_shapes, tiny_model, shapes_dir, capsys):
    _, weights = trained_shapes
    (trained,) = probe_folders(load_model(weights), [shapes_dir], cache_dir=None)
    (untrained,) = probe_folders(tiny_model, [shapes_dir], cache_dir=None)
    assert trained["images"] == 72 and trained["majority_share"] == pytest.approx(1 / 3)
    assert trained["knn_accuracy"] > 0.8 and trained["pair_auc"] > 0.85  # chance: 1/3 and 0.5
    assert 0 <= untrained["knn_accuracy"] <= 1 and 0 <= untrained["pair_auc"] <= 1
    assert main(["probe", str(weights), str(shapes_dir), "--json", "--cache-dir", ""]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["data_sets"][0]["knn_accuracy"] == pytest.approx(trained["knn_accuracy"])
    assert main(["probe", str(weights), str(shapes_dir), "-k", "5", "--cache-dir", ""]) == 0
    assert f"{shapes_dir.name}: k-NN accuracy" in capsys.readouterr().out


def test_knn_vote_leaves_each_image_out_and_breaks_ties_by_the_nearer_neighbour():
    features = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]), dim=1)
    assert knn_accuracy(features, [0, 0, 1, 1], k=1) == 1.0
    assert knn_accuracy(features, [0, 1, 0, 1], k=1) == 0.0
    # k=3 and two classes of two: each image sees one of its own class and two of the other
    assert knn_accuracy(features, [0, 0, 1, 1], k=3) == 0.0
    # a 1-1 tie (k=2, three classes): the nearer neighbour's class wins
    assert knn_accuracy(features, [2, 2, 0, 1], k=2) == 0.5  # images 0 and 1: a 2-1 tie, 2 nearer


@pytest.mark.parametrize("command, words", [
    (["pretrain", "{missing}", "--out", "{tmp}/b.pt"], "no such folder"),
    (["pretrain", "{text}", "--out", "{tmp}/b.pt"], "not a folder of class folders"),
    (["pretrain", "{shapes}", "--out", "{tmp}/b.json"], "must end in .pt"),
    (["pretrain", "{shapes}", "{shapes}", "--out", "{tmp}/b.pt"], "given twice"),
    (["pretrain", "{shapes}", "--out", "{tmp}/b.pt", "--probe", "-1"], "--probe must be at least 0"),
    (["probe", "{tmp}/none.pt", "{shapes}"], "no such weights file"),
    (["probe", "{model}", "{text}"], "not a folder of class folders"),
    (["probe", "{model}", "{missing}"], "no such folder"),
])
def test_bad_input_exits_2_with_one_line(command, words, shapes_dir, tiny_model, tmp_path, capsys):
    from core.model.weights import save_model

    text = tmp_path / "notes.txt"
    text.write_text("not images")
    save_model(tiny_model, tmp_path / "tiny.pt")
    names = {"missing": tmp_path / "gone", "text": text, "shapes": shapes_dir, "tmp": tmp_path,
             "model": tmp_path / "tiny.pt"}
    assert main([part.format(**names) for part in command]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
