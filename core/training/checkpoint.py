"""Training checkpoints: written whole (atomically) after every epoch, restored by --resume.

A checkpoint holds the model, optimizer and learning-rate schedule, the run's progress and its best weights so
far. Nothing in it depends on the number of processes that wrote it (the schedule counts global batches), so a
run started under torchrun resumes with any number of processes, one included.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import torch

from core.errors import DataError
from core.io.files import atomic_write, first_line


def checkpoint_path_for(out) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".checkpoint.pt")


def save_checkpoint(path: Path, model, optimizer, scheduler, state) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "state_json": json.dumps({k: v for k, v in state.items() if k != "best_state"}),
               "best_state": state["best_state"]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda handle: torch.save(payload, handle))  # the last good checkpoint survives a failure
    except OSError as exc:
        raise DataError(f"{path}: checkpoint not written ({first_line(exc)})") from None


def restore_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    """Continue from a checkpoint of this run; a damaged one, or one of another architecture, is one clear error."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        state = json.loads(payload["state_json"])
        state["best_state"] = payload["best_state"]
    except (pickle.UnpicklingError, RuntimeError, KeyError, ValueError, TypeError, EOFError, OSError,
            zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a checkpoint of this run ({first_line(exc)}); "
                        "remove it or train without --resume") from None
    return state
