"""Data-parallel runs under torchrun (torch.distributed: gloo on CPU, NCCL on GPUs): which process this is, the
process group's lifetime, a dead peer turned into one clear error, and the few collectives training and indexing
use. Without torchrun (WORLD_SIZE unset or 1) this is a group of one and every helper is the identity, so a plain
run takes exactly the code path it always did.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from core.errors import SiameseLensError
from core.model.device import resolve_device

# Rank 0 validates, checkpoints and writes the final model alone while the others wait in a collective: the
# group's timeout must outlast that (NCCL's default is 10 minutes). A dead peer is noticed at once regardless:
# its sockets close and torchrun stops the survivors.
TIMEOUT = timedelta(hours=2)
T = TypeVar("T")


class RunFailed(SiameseLensError):
    """Another process of a distributed run died or was stopped, so this one cannot go on."""


@dataclass(frozen=True)
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This rank's contiguous share of n items, in rank order; shares differ in size by at most one."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)

    def shares(self, n: int) -> list[slice]:
        """Every rank's share of n items, in rank order."""
        return [Group(rank, self.world).share(n) for rank in range(self.world)]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    @contextmanager
    def leader_first(self):
        """Rank 0 runs the block before the other ranks do (they then find what it cached on disk)."""
        if not self.leader:
            self.barrier()
        yield
        if self.leader:
            self.barrier()

    def from_leader(self, obj: T) -> T:
        """Rank 0's `obj` on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, value: float) -> float:
        """The mean over ranks of a number each rank holds."""
        if self.world == 1:
            return value
        # NCCL reduces GPU tensors only (joined() made cuda:LOCAL_RANK the current device)
        total = torch.tensor([value], dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(total)
        return float(total) / self.world

    def map_all(self, items: list, fn) -> list:
        """[fn(item) for item in items] on every rank, each rank computing every world-th item."""
        if self.world == 1:
            return [fn(item) for item in items]
        mine = [fn(item) for item in items[self.rank::self.world]]
        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, mine)
        out: list[Any] = [None] * len(items)
        for rank, part in enumerate(parts):
            out[rank::self.world] = part
        return out

    def map_to_leader(self, items: list, fn, stop=None):
        """Yield (k, fn(items[k])) in order of k on rank 0, item k computed on rank k % world; other ranks yield
        nothing but must run the generator to its end (each round of `world` items is one gather). stop() -> True
        (asked on rank 0 before each round) ends it early."""
        for start in range(0, len(items), self.world):
            if stop is not None and self.from_leader(stop() if self.leader else None):
                return
            if self.world == 1:
                yield start, fn(items[start])
                continue
            k = start + self.rank
            mine = fn(items[k]) if k < len(items) else None
            parts: list[Any] | None = [None] * self.world if self.leader else None
            dist.gather_object(mine, parts, dst=0)
            if parts is not None:  # on the leader
                yield from ((start + r, part) for r, part in enumerate(parts) if start + r < len(items))


SOLO = Group()


def environment() -> Group:
    """This process's place in the run, as torchrun's environment variables say (a group of one without them)."""
    return Group(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                 int(os.environ.get("LOCAL_RANK", "0")))


@contextmanager
def joined(device_choice: str):
    """(Group, device) of this process. Under torchrun the process group is joined for the block (NCCL on
    cuda:LOCAL_RANK, else gloo), and the SIGTERM torchrun sends the survivors when a process dies raises RunFailed."""
    group = environment()
    device = resolve_device(device_choice)
    if group.world == 1:
        yield group, device
        return
    if device.type == "cuda":
        device = torch.device("cuda", group.local_rank)
        torch.cuda.set_device(device)
    own = not dist.is_initialized()
    if own:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped_by_torchrun) if main_thread else None
    failed = False
    try:
        yield group, device
        if own:  # every rank done before any tears the group down: gloo aborts a process whose peer still talks
            dist.barrier()
    except RunFailed:
        failed = True
        raise
    finally:
        if main_thread and not failed:
            signal.signal(signal.SIGTERM, previous)
        if own:
            dist.destroy_process_group()


def _stopped_by_torchrun(signum, frame):
    _ignore_further_stops()
    raise RunFailed("stopped by torchrun: another process of the run failed")


def _ignore_further_stops() -> None:
    # A dead peer shows twice: a collective fails and torchrun sends SIGTERM. The first one is reported; the
    # second must not cut the report short (torchrun's SIGKILL follows after 30 s if the process hangs).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def peer_failure(exc: BaseException) -> bool:
    """Whether `exc` says another process of the group is gone (gloo and NCCL raise RuntimeErrors naming
    themselves, or torch.distributed.DistError) rather than being a failure of this process's own."""
    if isinstance(exc, RunFailed) or isinstance(exc, getattr(dist, "DistError", ())):
        found = True
    else:
        found = isinstance(exc, RuntimeError) and any(word in str(exc) for word in ("gloo", "NCCL", "Connection"))
    if found:
        _ignore_further_stops()
    return found


class _Trunk(nn.Module):
    """The training forward as one module, so DistributedDataParallel sees every parameter used: (maps, embeddings)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        maps = self.model.features(x)
        return maps, self.model.embed_from_features(maps)


def training_forward(model, group: Group, device: torch.device) -> nn.Module:
    """What the epoch loop calls for a batch's (feature maps, embeddings): the model itself for one process; under
    torchrun wrapped in DistributedDataParallel, which averages the gradients over ranks during backward.

    Batch norm is synchronised (SyncBatchNorm: statistics of the global batch, as one process would compute) on
    GPUs only, because torch's SyncBatchNorm refuses CPU tensors: on CPU each rank normalises with the statistics
    of its own share of the batch, and DDP gives every rank rank 0's running statistics at each step."""
    trunk = _Trunk(model)
    if group.world == 1:
        return trunk
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        trunk = nn.SyncBatchNorm.convert_sync_batchnorm(trunk)
        return DistributedDataParallel(trunk, device_ids=[device])
    return DistributedDataParallel(trunk)


class _GatherRows(torch.autograd.Function):
    """Every rank's rows, stacked in rank order. Backward sums each rank's gradient for a row and hands it to the
    row's owner, which is what a loss over pairs spanning ranks needs."""

    @staticmethod
    def forward(ctx, rows, start, total):
        ctx.span = (start, start + rows.shape[0])
        out = rows.new_zeros((total, *rows.shape[1:]))
        out[start:start + rows.shape[0]] = rows  # the other rows are zero here: the sum is exact
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.span[0]:ctx.span[1]], None, None


def gather_rows(group: Group, rows: torch.Tensor, share: slice, total: int) -> torch.Tensor:
    """The (total, ...) rows of all ranks, rank r holding rows[share of r]; differentiable."""
    return rows if group.world == 1 else _GatherRows.apply(rows, share.start, total)
