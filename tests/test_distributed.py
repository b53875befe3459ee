"""Training and indexing under torch.distributed: 2 local processes on gloo (CPU), tiny generated data.

Ranks are started the way torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment): spawned
processes where a test needs a callback inside them, torchrun itself where it needs the command line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from tests.conftest import make_shapes_dataset

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_rank(rank: int, port: int) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)


def _train_rank(rank: int, port: int, options: dict, log: str) -> None:
    from core.training.train import TrainOptions, train

    _as_rank(rank, port)
    seen = []
    result = train(TrainOptions(**options),
                   pairs_seen=lambda epoch, pairs: seen.extend([epoch, *p] for p in pairs.tolist()))
    Path(log, f"rank{rank}.json").write_text(json.dumps({"pairs": seen, "val_auc": result.best_val_auc,
                                                           "history": result.history}))


def _index_rank(rank: int, port: int, gallery: str, out: str, batch: int) -> None:
    import core.review.gallery
    from core.review.gallery import build_index
    from core.training.distributed import joined

    _as_rank(rank, port)
    core.review.gallery.BATCH = batch
    with joined("cpu") as (group, _device):
        build_index(_index_model(), gallery, out=Path(out), group=group)


def _index_model():
    from core.model.network import ModelConfig, SiameseModel

    torch.manual_seed(0)
    return SiameseModel(ModelConfig(input_size=32, embedding_dim=16), metadata={"sha256": "tiny"})


def _spawn(fn, *args) -> None:
    mp.start_processes(fn, args=(_free_port(), *args), nprocs=WORLD, start_method="spawn", join=True)


def _options(data: Path, out: Path, cache: Path, **kw) -> dict:
    base = dict(data_dir=str(data), out=str(out), input_size=32, epochs=2, batch_size=16, seed=5, device="cpu",
                cache_dir=str(cache), augment="hflip", threads=1, attention_weight=0.3,
                val_fraction=0.2)
    return {**base, **kw}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-process and a 1-process run of the same options (global batch, seed), each with its pairs logged."""
    from core.training.train import TrainOptions, train

    root = tmp_path_factory.mktemp("ddp")
    data = make_shapes_dataset(root / "data", per_class=40, seed=2)
    (root / "two").mkdir()
    (root / "one").mkdir()
    _spawn(_train_rank, _options(data, root / "two" / "m.pt", root / "cache"), str(root / "two"))
    one = []
    single = train(TrainOptions(**_options(data, root / "one" / "m.pt", root / "cache")),
                   pairs_seen=lambda epoch, pairs: one.extend([epoch, *p] for p in pairs.tolist()))
    ranks = [json.loads((root / "two" / f"rank{r}.json").read_text()) for r in range(WORLD)]
    return root, ranks, single, one


def test_two_processes_train_one_model_as_good_as_one_process(runs):
    root, ranks, single, _ = runs
    assert sorted(p.name for p in (root / "two").iterdir()) == [
        "m.checkpoint.pt", "m.curves.png", "m.json", "m.pt", "rank0.json", "rank1.json"]  # one model, no leftovers
    assert ranks[0]["history"] == ranks[1]["history"] and len(ranks[0]["history"]) == 2  # rank 0's, shared
    assert abs(ranks[0]["val_auc"] - single.best_val_auc) <= 0.05, (ranks[0]["val_auc"], single.best_val_auc)
    metadata = json.loads((root / "two" / "m.json").read_text())
    assert metadata["trained_on"].endswith(f"x {WORLD} processes")


def test_each_pair_of_an_epoch_is_trained_on_by_exactly_one_rank(runs):
    _, ranks, _, one = runs
    per_rank = [{tuple(p) for p in rank["pairs"]} for rank in ranks]
    # none twice on a rank
    assert all(len(s) == len(rank["pairs"]) and s for s, rank in zip(per_rank, ranks, strict=True))
    assert not per_rank[0] & per_rank[1]  # none on two ranks
    # together: exactly the epochs' pairs of one process with the same seed and global batch
    assert sorted(map(tuple, ranks[0]["pairs"] + ranks[1]["pairs"])) == sorted(map(tuple, one))
    assert {p[0] for p in one} == {1, 2}



def _rank_pid(parent: int, rank: int) -> int | None:
    """The pid of the worker of torchrun `parent` that has RANK=rank (Linux: /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_a_dead_rank_stops_the_run_with_one_message_and_one_process_resumes_it(tmp_path):
    from core.training.train import checkpoint_path_for

    EPOCHS = 4  # noqa: N806
    data = make_shapes_dataset(tmp_path / "data", per_class=12, seed=3)
    out = tmp_path / "m.pt"
    args = ["main.py", "train", str(data), "--out", str(out), "--input-size", "32", "--epochs", str(EPOCHS),
            "--patience", str(EPOCHS), "--batch-size", "8", "--seed", "1", "--device", "cpu", "--threads", "1",
            "--cache-dir", str(tmp_path / "cache"), "--augment", "hflip"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(WORLD),
                            "--master_port", str(_free_port()), *args], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = checkpoint_path_for(out)
    deadline = time.time() + 240
    while not checkpoint.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # into epoch 2
    victim = _rank_pid(run.pid, 1)
    assert checkpoint.exists() and victim is not None and run.poll() is None, run.communicate(timeout=60)
    os.kill(victim, signal.SIGKILL)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode != 0
    stopped = [line for line in stderr.splitlines() if "training stopped" in line]
    assert len(stopped) == 1, stderr
    assert ("another process of this run failed" in stopped[0] and "--resume" in stopped[0]
            and str(checkpoint) in stopped[0])
    # ours is one line, before torchrun's own report (the one traceback: its launcher's, naming the dead rank)
    assert stderr.count("Traceback") <= 1 and stderr.index("training stopped") < stderr.index("ChildFailedError")
    payload = torch.load(checkpoint, weights_only=True)  # intact
    done = json.loads(payload["state_json"])["epoch"]
    assert 1 <= done < EPOCHS and not out.exists()
    resumed = subprocess.run([sys.executable, *args, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata["epochs_run"] == EPOCHS and "processes" not in metadata["trained_on"]


def test_a_sharded_index_is_the_single_process_index_exactly(tmp_path, monkeypatch):
    import core.review.gallery as gallery_module
    from core.review.gallery import build_index, open_index
    from tests.conftest import draw_shape

    rng = np.random.default_rng(0)
    gallery = tmp_path / "gallery"
    for n in range(23):
        label = ("circles", "squares")[n % 2]
        (gallery / label).mkdir(parents=True, exist_ok=True)
        draw_shape(("ellipse", "rectangle")[n % 2], (200, 60, 60), rng, size=40).save(gallery / label / f"{n:02d}.png")
    (gallery / "unlabelled.png").write_bytes(b"not an image")
    draw_shape("polygon", (60, 200, 60), rng, size=40).save(gallery / "top.png")
    (gallery / "copy.png").write_bytes((gallery / "top.png").read_bytes())  # same sha256, two paths
    monkeypatch.setattr(gallery_module, "BATCH", 4)  # 25 readable images: 7 batches, rounds of 2 and a lone one
    single, counts = build_index(_index_model(), gallery, out=tmp_path / "single")
    _spawn(_index_rank, str(gallery), str(tmp_path / "sharded"), 4)
    sharded = open_index(tmp_path / "sharded", "tiny")
    key = [(e.path, e.sha256, e.label, e.size, e.mtime_ns) for e in single.entries]
    assert [(e.path, e.sha256, e.label, e.size, e.mtime_ns) for e in sharded.entries] == key
    assert np.array_equal(sharded.embeddings(), single.embeddings())
    assert len(key) == 25 and len(counts["skipped"]) == 1
