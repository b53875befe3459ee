"""Device choice: from source and in each flavour of the bundle (core.model.device reads the flavour the spec
recorded)."""

from __future__ import annotations

import sys

import pytest
import torch

from core.model import device
from core.model.device import FLAVOUR_FILE, build_flavour, cuda_unsupported, device_choices, resolve_device


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """bundle(flavour) -> pretend to run frozen from a bundle that recorded `flavour` (None: no record)."""

    def make(flavour):
        monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
        if flavour is not None:
            (tmp_path / FLAVOUR_FILE).write_text(flavour + "\n")

    return make


def test_from_source_the_menu_offers_cuda_and_torch_decides(monkeypatch):
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    assert build_flavour() is None and cuda_unsupported() is None
    assert [value for _label, value in device_choices()] == ["auto", "cpu", "cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device is available"):
        resolve_device("cuda")


def test_cpu_build_offers_auto_and_cpu_only_and_never_asks_torch_about_cuda(bundle, monkeypatch):
    bundle("cpu")

    def asked():
        raise AssertionError("the cpu build must not probe CUDA")

    monkeypatch.setattr(torch.cuda, "is_available", asked)
    assert build_flavour() == "cpu"
    assert device_choices() == (("Auto", "auto"), ("CPU", "cpu"))
    assert "CPU build" in cuda_unsupported()
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError) as refused:
        resolve_device("cuda")
    message = str(refused.value)
    assert message.startswith("CUDA was requested but this is the CPU build") and "\n" not in message


@pytest.mark.parametrize("recorded", ["cuda", None])
def test_cuda_build_or_unrecorded_bundle_offers_cuda(bundle, recorded):
    bundle(recorded)
    assert build_flavour() == recorded
    assert device_choices()[-1] == ("CUDA", "cuda") and cuda_unsupported() is None


def test_unknown_device_names_are_refused():
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")



def test_the_apis_load_model_takes_the_cli_device_names_and_refuses_others_in_one_line(tmp_path, tiny_model,
                                                                                        monkeypatch):
    # load_model(device=...) handed any value to torch: 'auto' (the CLI's default) and a typo ended in torch's
    # "Expected one of cpu, cuda, ipu, xpu, ... device type", 'cuda' without one in "Found no NVIDIA driver ..."
    from core.model.weights import load_model, save_model

    path = tmp_path / "tiny.pt"
    save_model(tiny_model, path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert load_model(path, device="auto").device.type == "cpu"
    assert load_model(path, device=torch.device("cpu")).device.type == "cpu"
    with pytest.raises(ValueError, match="unknown device 'gpu'; choose auto, cpu, cuda"):
        load_model(path, device="gpu")
    for absent in ("cuda", "cuda:1", torch.device("cuda", 0)):
        with pytest.raises(ValueError, match="CUDA was requested but"):
            load_model(path, device=absent)

def test_importing_core_device_does_not_import_torch():
    import subprocess

    code = "import sys; import core.model.device; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(device.Path(device.__file__).resolve().parents[2]))
    assert done.stdout.strip() == "False", done.stderr
