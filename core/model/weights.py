"""Weights files: tensors plus JSON metadata, loaded without ever unpickling code.

A file is a torch.save() of {"format", "metadata_json", "state_dict"} holding only strings and tensors, read back
with torch.load(weights_only=True), which refuses any other pickled object. The metadata records a sha256 of the
tensors, so a file whose numbers were altered is refused too. A JSON copy of the metadata sits next to the file
so tools can read it without torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pickle
import stat
import warnings
import zipfile
from pathlib import Path

import torch

from core.errors import ModelLoadError
from core.io.files import atomic_write, file_problem, file_sha256, first_line, printable
from core.model.device import torch_device
from core.model.network import SUPPORTED_ARCHITECTURES, ModelConfig, SiameseModel
from core.paths import default_weights_path
from core.vocabulary import INPUT_SIZE_RANGE, TTA_MODES

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
    Raises ModelLoadError with a one-line message for anything wrong with the file, InputError for a `device`
    that is unknown or absent (core.model.device.torch_device).
    """
    device = torch_device(device)
    if path is None:
        path = default_weights_path()
        if not path.exists():
            model = SiameseModel(metadata={"name": "UNTRAINED (no shipped weights found)", "untrained": True})
            return model.eval().requires_grad_(False).to(device)
    path = Path(path)
    name = printable(path)
    problem = file_problem(path, "weights file")
    if problem:
        raise ModelLoadError(f"{name}: {problem}")
    if not _looks_like_torch_file(path):  # a text or image file is no pickle: say what it is not
        raise ModelLoadError(f"{name}: not a Siamese Lens weights file (not a PyTorch file at all)")
    if _cut_short(path):  # torch would say "PytorchStreamReader failed ... internal miniz error. If you are ..."
        raise ModelLoadError(f"{name}: corrupt or truncated weights file (its archive ends early: an incomplete "
                             "copy or download?)")
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
        meta = validate_metadata(payload.get("metadata_json"))
        state = payload.get("state_dict")
        if not isinstance(state, dict) or not state or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise ValueError("state_dict is not a mapping of names to tensors")
        config = ModelConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: metadata is missing or malformed ({first_line(exc)})") from None
    if tensors_sha256(state) != meta.get("tensors_sha256"):
        raise ModelLoadError(f"{name}: tensors do not match their recorded sha256 (file altered or damaged)")
    try:
        # Built on the meta device (no random initialisation of weights about to be replaced: ~0.2 s of a start;
        # core.model.resnet skips its normal_ there, which would import torch._dynamo), then given the loaded
        # tensors themselves (assign=True), not copies.
        with torch.device("meta"):
            model = SiameseModel(config, metadata=meta)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, assign=True)
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"{name}: weights do not match architecture {config.architecture!r} "
                             f"({first_line(exc)})") from None
    model.metadata["path"] = str(path)
    model.metadata["sha256"] = file_digest(path)
    model.metadata.setdefault("name", path.stem)
    return model.eval().requires_grad_(False).to(device)


def read_metadata(path) -> dict:
    """The metadata of a weights file from its JSON sidecar, without importing its tensors; validated and with
    every string made printable, as load_model does."""
    sidecar = sidecar_path(Path(path))
    try:
        if not stat.S_ISREG(sidecar.stat().st_mode):
            raise ValueError("not a regular file")
        with open(sidecar, "rb") as handle:
            return validate_metadata(handle.read(MAX_METADATA_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{printable(sidecar)}: cannot read model metadata ({first_line(exc)})") from None


# Ranges of the numbers a config may hold: wide enough for any model trained here, narrow enough that nothing
# built from them exhausts memory or makes every decision the same. Fields not listed get the generic checks
# (type of the default, finite, |x| <= 1e6), so a field added to ModelConfig is checked without an edit here.
CONFIG_RANGES = {
    "input_size": INPUT_SIZE_RANGE, "embedding_dim": (2, 4096), "hidden_dim": (2, 16384),
    "threshold": (0.0, 1.0), "margin": (1e-6, 100.0), "crop_margin": (0.0, 2.0),
    "mean": (-10.0, 10.0), "std": (1e-6, 100.0), "explainer_width": (0, 512),
}
MAX_METADATA_BYTES = 16 << 20
MAX_NAME_CHARS = 200


def validate_metadata(text) -> dict:
    """Parse and check a weights file's metadata JSON; ValueError naming the first bad field. Every string in
    the result is printable (control characters escaped): names reach terminals, reports and window titles."""
    if not isinstance(text, str):
        raise ValueError("metadata_json is not text")
    if len(text) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is over {MAX_METADATA_BYTES >> 20} MB")
    meta = json.loads(text, parse_constant=_refuse_constant)
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    config = meta.get("config")
    if not isinstance(config, dict):
        raise ValueError("config is missing or not an object")
    defaults = ModelConfig()
    for field in dataclasses.fields(ModelConfig):
        if field.name in config:
            _check_field(field.name, config[field.name], getattr(defaults, field.name))
    if meta.get("name") is not None and not isinstance(meta["name"], str):
        raise ValueError("name is not a string")
    metrics = meta.get("test_metrics")
    if metrics is not None and not (isinstance(metrics, dict) and all(
            isinstance(v, (int, float, type(None))) and not isinstance(v, bool) for v in metrics.values())):
        raise ValueError("test_metrics is not an object of numbers")
    for key in ("classes", "seen_images"):
        if meta.get(key) is not None and not (isinstance(meta[key], list)
                                              and all(isinstance(v, str) for v in meta[key])):
            raise ValueError(f"{key} is not a list of strings")
    meta = _printable_strings(meta)
    if isinstance(meta.get("name"), str):
        meta["name"] = printable(meta["name"], MAX_NAME_CHARS)
    return meta


def _check_field(key: str, value, default) -> None:
    low, high = CONFIG_RANGES.get(key, (-1e6, 1e6))
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"config.{key} must be true or false, got {_show(value)}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"config.{key} must be an integer in {low}..{high}, got {_show(value)}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise ValueError(f"config.{key} must be a number in {low}..{high}, got {_show(value)}")
    elif isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != len(default):
            raise ValueError(f"config.{key} must be a list of {len(default)} numbers, got {_show(value)}")
        for item in value:
            _check_field(key, item, float(default[0]))
    elif isinstance(default, str):
        if not isinstance(value, str) or len(value) > 100:
            raise ValueError(f"config.{key} must be a short string, got {_show(value)}")
        if key == "architecture" and value not in SUPPORTED_ARCHITECTURES:
            raise ValueError(f"config.architecture {_show(value)} is not one of {', '.join(SUPPORTED_ARCHITECTURES)}")
        if key == "tta" and value not in TTA_MODES:
            raise ValueError(f"config.tta {_show(value)} is not one of {', '.join(TTA_MODES)}")


def _refuse_constant(name: str):
    raise ValueError(f"metadata holds {name}, which is not a number")


def _printable_strings(value):
    if isinstance(value, str):
        return printable(value, 4000)
    if isinstance(value, list):
        return [_printable_strings(v) for v in value]
    if isinstance(value, dict):
        return {printable(k, 200): _printable_strings(v) for k, v in value.items()}
    return value


def _show(value) -> str:
    return printable(repr(value), 40)


def sidecar_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def tensors_sha256(state: dict) -> str:
    """Content hash of a state dict: names, dtypes, shapes and bytes, in a fixed order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key]
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                      if tensor.numel() else b"")
    return digest.hexdigest()


file_digest = file_sha256  # the name the CLI and tests know


def _cut_short(path: Path) -> bool:
    """A zip archive (torch.save's format) without the directory at its end: the file was cut off."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04" and not zipfile.is_zipfile(handle)
    except OSError:
        return False  # torch.load reports the read error in its own words


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive; very old torch wrote a raw pickle (protocol 2+ starts with 0x80)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return True  # let torch.load report the read error in its own words
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"
