import numpy as np
import pytest
import torch

from core.data.datasets import make_pairs, scan_dataset, split_by_image
from core.training.epoch import contrastive_loss
from core.training.train import TrainOptions, checkpoint_path_for, train
from tests.conftest import make_shapes_dataset


def test_training_learns_the_shapes(trained_shapes):
    result, path = trained_shapes
    assert result.best_val_auc > 0.85
    assert result.test["auc"] > 0.85  # chance is 0.5
    assert path.exists() and path.with_suffix(".json").exists() and path.with_suffix(".curves.png").exists()
    assert [h["epoch"] for h in result.history] == list(range(1, len(result.history) + 1))


def test_split_is_by_image_and_disjoint(shapes_dir):
    dataset = scan_dataset(shapes_dir)
    splits = split_by_image(dataset, seed=3)
    sets = [set(splits[name].tolist()) for name in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert set.union(*sets) == set(range(len(dataset.paths)))
    assert all(len(np.unique(dataset.labels[splits[name]])) == 3 for name in splits)  # stratified
    again = split_by_image(dataset, seed=3)
    assert all(np.array_equal(splits[k], again[k]) for k in splits)


def test_pairs_follow_livieris_and_never_pair_an_image_with_itself():
    labels = np.array([0, 0, 0, 1, 1, 2])
    pairs = make_pairs(labels, np.random.default_rng(0))
    assert (pairs[:, 0] != pairs[:, 1]).all()
    same = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    assert np.array_equal(same, pairs[:, 2] == 1)
    # one positive per image with a class mate (image 5 has none), one negative per image
    assert (pairs[:, 2] == 1).sum() == 5 and (pairs[:, 2] == 0).sum() == 6


def test_contrastive_loss():
    d = torch.tensor([0.5, 0.5, 1.5])
    same = torch.tensor([1, 0, 0])
    np.testing.assert_allclose(contrastive_loss(d, same, margin=1.0).numpy(), [0.25, 0.25, 0.0])


@pytest.fixture
def small_options(tmp_path):
    data = make_shapes_dataset(tmp_path / "data", per_class=12, seed=4)

    def options(out_name, **kw):
        base = dict(data_dir=str(data), out=str(tmp_path / out_name / "m.pt"), input_size=32, epochs=3,
                    batch_size=16, seed=7, device="cpu", cache_dir=str(tmp_path / "cache"), augment="hflip,rotate")
        base.update(kw)
        return TrainOptions(**base)

    return options


def test_interrupted_run_resumes_where_it_stopped(small_options):
    def interrupt_after_first_epoch(progress):
        if progress["done"] and progress["epoch"] == 1:
            raise KeyboardInterrupt

    interrupted = train(small_options("resumed"), progress=interrupt_after_first_epoch)
    assert interrupted.interrupted and len(interrupted.history) == 1
    assert checkpoint_path_for(interrupted.out).exists()
    seen = []
    resumed = train(small_options("resumed", resume=True),
                    progress=lambda p: seen.append(p["epoch"]) if p["done"] else None)
    assert seen == [2, 3]  # continued at epoch 2, not from scratch
    straight = train(small_options("straight"))
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history], rel=1e-5)
    a = torch.load(resumed.out, weights_only=True)["state_dict"]
    b = torch.load(straight.out, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded runs are reproducible


def test_initialise_from_another_model_copies_matching_tensors(trained_shapes, tiny_model):
    from core.model.network import ModelConfig, SiameseModel
    from core.model.weights import load_model
    from core.training.train import _initialise_from

    _, weights = trained_shapes
    model = SiameseModel(ModelConfig(input_size=96))
    _initialise_from(model, str(weights))
    source = load_model(weights).state_dict()
    assert all(torch.equal(model.state_dict()[k], source[k]) for k in source)
    other = SiameseModel(ModelConfig(architecture="mobilenet_v3_small"))
    with pytest.raises(ValueError, match="backbone does not match"):
        _initialise_from(other, str(weights))


def test_a_damaged_cache_is_rebuilt_and_a_foreign_checkpoint_is_one_clear_error(shapes_dir, tmp_path):
    from core.data.datasets import load_cache, scan_dataset
    from core.errors import DataError
    from core.training.train import TrainOptions, checkpoint_path_for, train

    dataset = scan_dataset(shapes_dir)
    first = load_cache(dataset, 24, tmp_path)
    (cache_file,) = tmp_path.glob("images-*.npy")
    cache_file.write_bytes(cache_file.read_bytes()[:1000])  # a disk that filled up mid-write, before atomic writes
    again = load_cache(dataset, 24, tmp_path)
    assert torch.equal(first, again) and cache_file.stat().st_size > 1000
    out = tmp_path / "m.pt"
    checkpoint_path_for(out).write_bytes(b"not a checkpoint")
    options = TrainOptions(data_dir=str(shapes_dir), out=str(out), input_size=32, epochs=1, batch_size=16,
                           device="cpu", cache_dir=str(tmp_path), resume=True)
    with pytest.raises(DataError, match="not a checkpoint of this run"):
        train(options)


def test_a_cache_read_back_may_be_written_in_place_and_its_file_stays_as_it_was(shapes_dir, tmp_path):
    """torch assumes a tensor's memory is writable: a cache mapped read-only made an in-place write undefined (and
    warned); mapped copy-on-write, the write stays in memory and the file keeps what was cached."""
    import warnings

    from core.data.datasets import load_cache, scan_dataset

    dataset = scan_dataset(shapes_dir)
    load_cache(dataset, 24, tmp_path)
    (cache_file,) = tmp_path.glob("images-*.npy")
    on_disk = cache_file.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "The given NumPy array is not writable" was a warning
        cached = load_cache(dataset, 24, tmp_path)
    cached[0].zero_()
    assert int(cached[0].sum()) == 0 and cache_file.read_bytes() == on_disk
    assert int(load_cache(dataset, 24, tmp_path)[0].sum()) > 0
