"""Weights files: tensors plus JSON metadata, loaded without ever unpickling code.

A file is a torch.save() of {"format", "metadata_json", "state_dict"} holding only strings and tensors, read back
with torch.load(weights_only=True), which refuses any other pickled object. The metadata records a sha256 of the
tensors, so a file whose numbers were altered is refused too. A JSON copy of the metadata sits next to the file
so tools can read it without torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from .errors import ModelLoadError
from .files import atomic_write, file_sha256, first_line, printable
from .model import ModelConfig, SiameseModel
from .paths import default_weights_path

FORMAT = "siamese-lens-weights/1"


def save_model(model: SiameseModel, path, metadata: dict | None = None, half: bool = True) -> dict:
    """Write `model` to `path` (fp16 tensors by default) and its metadata to `path` with a .json suffix."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    meta = dict(model.metadata)
    meta.update(metadata or {})
    meta.pop("path", None)
    meta["config"] = model.config.to_dict()
    meta["tensors_sha256"] = tensors_sha256(state)
    payload = {"format": FORMAT, "metadata_json": json.dumps(meta, sort_keys=True), "state_dict": state}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: torch.save(payload, fh))
    meta["sha256"] = file_digest(path)
    meta["size_bytes"] = path.stat().st_size
    atomic_write(sidecar_path(path), json.dumps(meta, indent=2, sort_keys=True).encode())
    return meta


def load_model(path=None, device: str | torch.device = "cpu") -> SiameseModel:
    """Load a weights file (default: the shipped skin model) in eval mode on `device`.

    With no path and no shipped weights, returns a clearly labelled untrained model so the app still runs.
    Raises ModelLoadError with a one-line message for anything wrong with the file.
    """
    if path is None:
        path = default_weights_path()
        if not path.exists():
            model = SiameseModel(metadata={"name": "UNTRAINED (no shipped weights found)", "untrained": True})
            return model.eval().requires_grad_(False).to(device)
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ModelLoadError(f"{name}: no such weights file")
    if path.is_dir():
        raise ModelLoadError(f"{name}: is a folder, not a weights file")
    try:
        with warnings.catch_warnings():  # torch's warnings about foreign pickles would break the one-line error
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelLoadError(f"{name}: refused, the file holds pickled objects other than tensors "
                             "(loading it could run code)") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        raise ModelLoadError(f"{name}: corrupt or truncated weights file ({first_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelLoadError(f"{name}: not a Siamese Lens weights file (expected format {FORMAT})")
    try:
        meta = json.loads(payload["metadata_json"])
        state = payload["state_dict"]
        config = ModelConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: metadata is missing or malformed ({first_line(exc)})") from None
    if tensors_sha256(state) != meta.get("tensors_sha256"):
        raise ModelLoadError(f"{name}: tensors do not match their recorded sha256 (file altered or damaged)")
    try:
        model = SiameseModel(config, metadata=meta)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: weights do not match architecture {config.architecture!r} ({first_line(exc)})") from None
    model.metadata["path"] = name
    model.metadata["sha256"] = file_digest(path)
    model.metadata.setdefault("name", path.stem)
    return model.eval().requires_grad_(False).to(device)


def read_metadata(path) -> dict:
    """The metadata of a weights file from its JSON sidecar, without importing its tensors."""
    try:
        return json.loads(sidecar_path(Path(path)).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{sidecar_path(Path(path))}: cannot read model metadata ({first_line(exc)})") from None


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def tensors_sha256(state: dict) -> str:
    """Content hash of a state dict: names, dtypes, shapes and bytes, in a fixed order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key]
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


file_digest = file_sha256  # the name the CLI and tests know
