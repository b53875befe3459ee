import json
import pickle

import pytest
import torch

from core.errors import ModelLoadError
from core.model.network import ModelConfig, SiameseModel
from core.model.weights import load_model, read_metadata, save_model


@pytest.fixture
def saved(tmp_path, tiny_model):
    path = tmp_path / "tiny.pt"
    save_model(tiny_model, path, {"name": "tiny", "test_metrics": {"auc": 0.5}})
    return path


def test_round_trip_keeps_outputs_and_metadata(saved, tiny_model):
    loaded = load_model(saved)
    x = torch.randn(2, 3, 64, 64)
    # stored as fp16: outputs agree to half precision
    assert torch.allclose(loaded.embed(x), tiny_model.embed(x), atol=2e-2)
    assert loaded.name == "tiny" and loaded.config.input_size == 64
    assert loaded.metadata["sha256"] == read_metadata(saved)["sha256"]
    assert json.loads(saved.with_suffix(".json").read_text())["test_metrics"]["auc"] == 0.5


class Payload:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_code_is_refused_without_running(tmp_path, tiny_model):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "siamese-lens-weights/1", "state_dict": tiny_model.state_dict(), "x": Payload(marker)}, path)
    with pytest.raises(ModelLoadError, match="refused"):
        load_model(path)
    assert not marker.exists()


def test_whole_model_pickle_is_refused(tmp_path, tiny_model):
    path = tmp_path / "whole.pt"
    torch.save(tiny_model, path)
    with pytest.raises(ModelLoadError, match="refused"):
        load_model(path)


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="corrupt or truncated") as refused:
        load_model(saved)
    # in the user's words, not torch's ("PytorchStreamReader failed ... This is an internal miniz error. ...")
    assert "archive ends early" in str(refused.value) and "miniz" not in str(refused.value)


def test_tampered_tensors_are_detected(saved, tmp_path):
    payload = torch.load(saved, weights_only=True)
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][key] = payload["state_dict"][key] + 1
    torch.save(payload, saved)
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model(saved)


def test_mismatched_architecture(saved):
    payload = torch.load(saved, weights_only=True)
    meta = json.loads(payload["metadata_json"])
    meta["config"]["architecture"] = "resnet34"
    payload["metadata_json"] = json.dumps(meta)
    torch.save(payload, saved)
    with pytest.raises(ModelLoadError, match="do not match"):
        load_model(saved)


@pytest.mark.parametrize("content", [b"", b"hello", pickle.dumps({"a": 1})])
def test_not_a_weights_file(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError):
        load_model(path)


def test_plain_state_dict_is_not_a_weights_file(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(SiameseModel(ModelConfig(input_size=64)).state_dict(), path)
    with pytest.raises(ModelLoadError, match="not a Siamese Lens weights file"):
        load_model(path)


def test_missing_and_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="no such"):
        load_model(tmp_path / "none.pt")
    with pytest.raises(ModelLoadError, match="folder"):
        load_model(tmp_path)


def test_metadata_schema_accepts_every_current_config_and_escapes_strings():
    from core.model.network import ModelConfig
    from core.model.weights import validate_metadata

    config = ModelConfig(architecture="resnet18_s16", lesion_crop=True, crop_margin=0.3, color_constancy=True).to_dict()
    meta = validate_metadata(json.dumps({"config": config, "name": "skin\n\x1b[2Jv2", "classes": ["a\rb"]}))
    assert meta["name"] == "skin\\x0a\\x1b[2Jv2" and meta["classes"] == ["a\\x0db"]
    for bad in ({"threshold": float("nan")}, {"std": [0.2, 0.2, 0.0]}, {"input_size": True}, {"mean": [0.5] * 4},
                {"color_constancy": 1}, {"crop_margin": float("inf")}, {"architecture": "resnet18\n"}):
        with pytest.raises(ValueError, match=f"config.{next(iter(bad))}|NaN|Infinity"):
            validate_metadata(json.dumps({"config": {**config, **bad}}))
