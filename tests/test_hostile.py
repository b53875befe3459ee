"""Issue 11: a corpus of hostile inputs, generated here, each run as its own `main.py` process under a time limit.

Every case asserts its exit status (2 for unusable input, 0 where the input is usable), exactly one line on
stderr and no traceback on failure, that nothing is written or left behind on failure, and that no file named
by the input's content appears (PostScript, pickles).
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.model.network import ModelConfig, SiameseModel
from core.model.weights import FORMAT, save_model
from tests.forkserver import ForkServer

TIMEOUT = 90.0  # a hang is the failure; a busy 2-core machine still finishes any case in seconds


@pytest.fixture(scope="module")
def server():
    instance = ForkServer()
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Good inputs shared by the cases: two small photos and a tiny model (fast to load and run)."""
    root = tmp_path_factory.mktemp("assets")
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / name)
    torch.manual_seed(0)
    model = SiameseModel(ModelConfig(architecture="mobilenet_v3_small", input_size=32, embedding_dim=8, hidden_dim=16),
                         metadata={"name": "tiny"})
    save_model(model, root / "tiny.pt", half=False)
    payload = torch.load(root / "tiny.pt", weights_only=True)
    return {"root": root, "a": root / "a.png", "b": root / "b.jpg", "model": root / "tiny.pt", "payload": payload}


def _tampered(assets, path: Path, meta_change=None, **payload_change) -> Path:
    payload = dict(assets["payload"])
    meta = json.loads(payload["metadata_json"])
    if meta_change:
        meta_change(meta)
    payload["metadata_json"] = json.dumps(meta)
    payload.update(payload_change)
    torch.save(payload, path)
    return path


def _config(key, value):
    return lambda meta: meta["config"].__setitem__(key, value)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))


def _eps(body: str) -> bytes:
    return f"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n{body}\nshowpage\n%%EOF\n".encode()


class EvilPickle:
    def __reduce__(self):
        return (os.system, ("touch MARKER",))


# Each case: (name, make(work, assets) -> argv after "main.py", expected exit status, text expected on stderr).
# `work` is the case's own empty folder and working directory; MARKER there would prove a file ran code.
def _image_case(make_file, status=2, expect=""):
    def build(work, assets):
        target = make_file(work)
        return ["explain", target, assets["a"], "--model", assets["model"]]
    return build, status, expect


def _write(name: str, data: bytes):
    def make(work):
        (work / name).write_bytes(data)
        return work / name
    return make


def _dicom(rows: int, columns: int, pixels: bytes = b"", cut: int = 0):
    """A secondary-capture DICOM file claiming rows x columns RGB pixels, holding `pixels` (cut short by `cut`
    bytes)."""
    def make(work):
        from core.io.dicom import secondary_capture

        data = secondary_capture(Image.new("RGB", (4, 4)), {})
        import pydicom

        ds = pydicom.dcmread(__import__("io").BytesIO(data))
        ds.Rows, ds.Columns, ds.PixelData = rows, columns, pixels
        path = work / "scan.dcm"
        ds.save_as(path, enforce_file_format=True)
        if cut:
            path.write_bytes(path.read_bytes()[:-cut])
        return path
    return make


def _float_tiff(value: float, name: str):
    """A float TIFF (mode F) of mid-grey with `value` (NaN, inf) everywhere or in one pixel."""
    def make(work):
        pixels = np.full((32, 40), 0.5, np.float32)
        if name.startswith("all"):
            pixels[:] = value
        else:
            pixels[3, 4] = value
        Image.fromarray(pixels, "F").save(work / f"{name}.tif")
        return work / f"{name}.tif"
    return make


def _fifo(work):
    os.mkfifo(work / "pipe.png")
    return work / "pipe.png"


def _truncated_png(work):
    buffer = work / "t.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buffer)
    buffer.write_bytes(buffer.read_bytes()[:80])
    return buffer


def _truncated_jpeg(work):
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(work / "t.jpg")
    (work / "t.jpg").write_bytes((work / "t.jpg").read_bytes()[:400])
    return work / "t.jpg"


def _bad_crc_png(work):
    data = bytearray(_png_header_only(8, 8))
    data[29] ^= 0xFF  # inside IHDR's CRC
    (work / "c.png").write_bytes(bytes(data))
    return work / "c.png"


def _gif(work):
    frames = [Image.new("P", (20, 20), i) for i in range(3)]
    frames[0].save(work / "anim.gif", save_all=True, append_images=frames[1:])
    return work / "anim.gif"


def _png16(work):
    Image.fromarray(np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).save(work / "deep.png")
    return work / "deep.png"


def _large(work):
    Image.new("L", (5000, 3000), 128).save(work / "large.png")  # 15 Mpx: shrunk on load
    return work / "large.png"


def _symlink_loop(work):
    os.symlink(work / "loop.png", work / "loop.png")
    return work / "loop.png"


def _newline_name(work):
    return work / "no\nsuch\x1b[31m.png"


def _crop_case(crop, flag="--crop1"):
    return ((lambda work, assets: ["explain", assets["a"], assets["b"], "--model", assets["model"], flag, crop]),
            2, "crop")


def _model_case(make_model, status=2, expect=""):
    def build(work, assets):
        return ["explain", assets["a"], assets["b"], "--model", make_model(work, assets)]
    return build, status, expect


def _model_file(name: str, data: bytes):
    def make(work, assets):
        (work / name).write_bytes(data)
        return work / name
    return make


def _pickled(work, assets):
    torch.save({"format": FORMAT, "metadata_json": "{}", "state_dict": EvilPickle()}, work / "evil.pt")
    return work / "evil.pt"


def _raw_pickle(work, assets):
    (work / "raw.pt").write_bytes(pickle.dumps(EvilPickle()))
    return work / "raw.pt"


def _meta(change, **payload_change):
    return lambda work, assets: _tampered(assets, work / "m.pt", change, **payload_change)


def _model_fifo(work, assets):
    os.mkfifo(work / "pipe.pt")
    return work / "pipe.pt"


def _report_case(prepare, extra=(), status=2, expect=""):
    def build(work, assets):
        target = prepare(work)
        return ["explain", assets["a"], assets["b"], "--model", assets["model"], "--report", target, *extra]
    return build, status, expect


def _train_case(*options, expect="", existing=""):
    def build(work, assets):
        if existing:  # a finished model's file: never replaced without --force
            (work / existing).write_text("old")
        data = work / "data"
        for label in ("x", "y"):
            (data / label).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (16, 16), (i * 90, 40, 40)).save(data / label / f"{i}.png")
        return ["train", data, "--device", "cpu", "--cache-dir", work / "cache", *options]
    return build, 2, expect


CASES = {
    # images: formats that run programs, damaged files, things that are not files
    "eps writes a file": _image_case(_write("x.jpg", _eps("(MARKER) (w) file (pwned) writestring")), 2,
                                     "unsupported format"),
    "eps prints a line": _image_case(_write("p.png", _eps("(similarity 99 %) print flush")), 2, "unsupported format"),
    "eps loops forever": _image_case(_write("l.jpg", _eps("{ } loop")), 2, "unsupported format"),
    "postscript": _image_case(_write("s.jpg", b"%!PS\n(MARKER) (w) file closefile\n"), 2, "unsupported format"),
    "pdf": _image_case(_write("d.png", b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"), 2,
                       "unsupported format"),
    "svg": _image_case(_write("v.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>"), 2, "unsupported format"),
    "text": _image_case(_write("t.jpg", b"just some words\n"), 2, "unsupported format"),
    "empty file": _image_case(_write("e.png", b""), 2, "empty"),
    "truncated png": _image_case(_truncated_png, 2, "t.png"),
    "truncated jpeg": _image_case(_truncated_jpeg, 2, "t.jpg"),
    "bad crc png": _image_case(_bad_crc_png, 2, "c.png"),
    "png header claims 10 gigapixels": _image_case(_write("bomb.png", _png_header_only(100_000, 100_000)), 2,
                                                   "too large"),
    "float tiff all nan": _image_case(_float_tiff(float("nan"), "all-nan"), 2, "all-nan.tif: image holds NaN"),
    "float tiff one inf": _image_case(_float_tiff(float("inf"), "one-inf"), 2, "one-inf.tif: image holds NaN"),
    "png of zero width": _image_case(_write("zero.png", _png_header_only(0, 10)), 2, "zero.png"),
    "fifo as image": _image_case(_fifo, 2, "not a regular file"),
    "folder as image": _image_case(lambda work: work, 2, "folder"),
    "missing image": _image_case(lambda work: work / "gone.png", 2, "no such image file"),
    "symlink loop": _image_case(_symlink_loop, 2, "loop.png"),
    "control characters in name": _image_case(_newline_name, 2, "no\\x0asuch\\x1b[31m.png"),
    "non-utf-8 name": _image_case(lambda work: Path(os.fsdecode(b"/nonexistent/\xff\xfe.png")), 2,
                                  "no such image file"),
    "dicom without pixel data": _image_case(_write("n.dcm", b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00" * 8),
                                            2, "n.dcm"),
    "dicom claims 3.6 gigapixels": _image_case(_dicom(60_000, 60_000, b"\0" * 48), 2, "too large"),
    "dicom pixel data too short": _image_case(_dicom(64, 64, b"\0" * 300), 2, "scan.dcm"),
    "dicom cut short": _image_case(_dicom(4, 4, b"\0" * 48, cut=30), 2, "scan.dcm"),
    "dicom named jpg": _image_case(
        lambda work: _dicom(4, 4, b"\x80" * 48)(work).rename(work / "s.jpg") or work / "s.jpg", 0),
    "animated gif": _image_case(_gif, 0),
    "16-bit png": _image_case(_png16, 0),
    "15 Mpx image": _image_case(_large, 0),
    # crops
    "crop not numbers": _crop_case("a,b,c,d"),
    "crop three numbers": _crop_case("1,2,3"),
    "crop outside": _crop_case("40,40,100,100"),
    "crop negative size": _crop_case("0,0,-5,10", "--crop2"),
    "crop astronomically large": _crop_case("0,0,99999999999999999999999,1"),
    # weights files
    "model fifo": _model_case(_model_fifo, 2, "not a regular file"),
    "model folder": _model_case(lambda work, assets: work, 2, "folder"),
    "model empty": _model_case(_model_file("e.pt", b""), 2, "e.pt"),
    "model random bytes": _model_case(_model_file("r.pt", os.urandom(4096)), 2, "r.pt"),
    "model pickle runs code": _model_case(_pickled, 2, "refused"),
    "model raw pickle": _model_case(_raw_pickle, 2, "raw.pt"),
    "threshold nan": _model_case(_meta(_config("threshold", float("nan"))), 2, "NaN"),
    "threshold -5": _model_case(_meta(_config("threshold", -5)), 2, "threshold"),
    "std zero": _model_case(_meta(_config("std", [0.2, 0.0, 0.2])), 2, "std"),
    "input_size as text": _model_case(_meta(_config("input_size", "128")), 2, "input_size"),
    "input_size 20000": _model_case(_meta(_config("input_size", 20000)), 2, "input_size"),
    "mean of two": _model_case(_meta(_config("mean", [0.5, 0.5])), 2, "mean"),
    "unknown architecture": _model_case(_meta(_config("architecture", "../../etc")), 2, "architecture"),
    "boolean as text": _model_case(_meta(_config("lesion_crop", "yes")), 2, "lesion_crop"),
    "state dict as list": _model_case(_meta(None, state_dict=[1, 2, 3]), 2, "state_dict"),
    "metadata not json": _model_case(lambda work, assets: _tampered(assets, work / "m.pt", None) and (
        torch.save({**assets["payload"], "metadata_json": "{not json"}, work / "m.pt") or work / "m.pt"),
        2, "metadata"),
    "name with escapes": _model_case(_meta(lambda m: m.__setitem__("name", "evil\n\x1b[2Jforged line")), 0),
    # outputs
    "report exists": _report_case(lambda work: (work / "r.png").write_bytes(b"old") and work / "r.png",
                                  ("--out", "maps"),
                                  2, "already exists"),
    "report sidecar exists": _report_case(lambda work: (work / "r.json").write_text("{}") and work / "r.png", (), 2,
                                          "already exists"),
    "report not png": _report_case(lambda work: work / "r.jpg", (), 2, ".png"),
    "report under a file": _report_case(lambda work: (work / "f").write_text("x") and work / "f" / "r.png",
                                        ("--out", "maps"),
                                        2, "not a folder"),
    "report is a dangling symlink": _report_case(
        lambda work: os.symlink(work / "planted.txt", work / "r.png") or work / "r.png", (), 2, "already exists"),
    "report and unknown colormap": _report_case(lambda work: work / "r.png", ("--colormap", "rainbow", "--out", "m"), 2,
                                                "colormap"),
    "out is a file": _report_case(lambda work: (work / "f").write_text("x") and work / "r.png", ("--out", "f"), 2,
                                  "not a folder"),
    "out maps exist": _report_case(lambda work: ((work / "m").mkdir(),
                                                 (work / "m" / "image1_factual.npy").write_text("x"))
                                   and work / "r.png", ("--out", "m"), 2, "already exists"),
    # training and evaluation options
    "train out collides with sidecar": _train_case("--out", "m.json", expect=".pt"),
    "train batch size 0": _train_case("--out", "m.pt", "--batch-size", "0", expect="--batch-size"),
    "train patience 0": _train_case("--out", "m.pt", "--patience", "0", expect="--patience"),
    "train threads -2": _train_case("--out", "m.pt", "--threads", "-2", expect="--threads"),
    "train input size 20000": _train_case("--out", "m.pt", "--input-size", "20000", expect="--input-size"),
    "train lr nan": _train_case("--out", "m.pt", "--lr", "nan", expect="--lr"),
    "train lesion weight -1": _train_case("--out", "m.pt", "--lesion-weight", "-1", expect="--lesion-weight"),
    "train out is a folder": _train_case("--out", ".", expect="folder"),
    "evaluate pairs 0": ((lambda work, assets: ["evaluate", work, "--model", assets["model"], "--pairs", "0"]), 2,
                         "--pairs"),
    "train out exists": _train_case("--out", "m.pt", expect="already exists", existing="m.pt"),
    "train out sidecar exists": _train_case("--out", "m.pt", expect="already exists", existing="m.json"),
    "pretrain out exists": ((lambda work, assets: (work / "m.pt").write_bytes(b"old") and
                             ["pretrain", work, "--out", work / "m.pt"]), 2, "already exists"),
    "evaluate roc exists": ((lambda work, assets: (work / "roc.png").write_bytes(b"old") and
                             ["evaluate", work, "--model", assets["model"], "--roc", work / "roc.png"]), 2,
                            "already exists"),
    "evaluate plots are one file": ((lambda work, assets: ["evaluate", work, "--model", assets["model"], "--roc",
                                                           work / "p.png", "--risk-coverage", "p.png"]), 2,
                                    "name the same file"),
}


def _snapshot(folder: Path) -> set[str]:
    return ({str(p.relative_to(folder)) for p in folder.rglob("*")}
            | {str(p.relative_to(folder)) for p in folder.glob(".*")})


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(name, server, assets, tmp_path):
    build, status, expect = CASES[name]
    work = tmp_path / "work"
    work.mkdir()
    argv = build(work, assets)
    before = _snapshot(work)
    result = server.run(argv, cwd=work, timeout=TIMEOUT, scratch=tmp_path)
    assert not result["timed_out"], f"{name}: hung"
    assert "Traceback" not in result["stderr"], result["stderr"]
    assert result["rc"] == status, (result["rc"], result["stderr"])
    assert not (work / "MARKER").exists() and not Path("MARKER").exists(), "a file ran code"
    if status == 2:
        assert result["stdout"] == "", "nothing may be printed before the error"
        lines = result["stderr"].splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result["stderr"]
        assert expect in lines[0], lines[0]
        assert _snapshot(work) == before, f"left behind: {_snapshot(work) - before}"
    else:
        assert "\x1b" not in result["stdout"] and "forged line" not in result["stdout"].splitlines()


def test_stale_temporaries_are_removed_and_outputs_are_complete(server, assets, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "maps").mkdir()
    for stale in (".r.png.abc123.tmp", ".r.json.zz.tmp", "maps/.image1_factual.npy.q.tmp"):  # a killed run's
        (work / stale).write_bytes(b"partial")
    (work / "victim.txt").write_text("keep me")
    os.symlink(work / "victim.txt", work / "maps" / "image1_factual.png")
    argv = ["explain", assets["a"], assets["b"], "--model", assets["model"], "--report", "r.png", "--out", "maps",
            "--force", "--json", "--note", "\n" * 100_000 + "x" * 20_000]
    result = server.run(argv, cwd=work, timeout=TIMEOUT, scratch=tmp_path)
    assert result["rc"] == 0, result["stderr"]
    assert (work / "victim.txt").read_text() == "keep me", "wrote through a planted symlink"
    assert not (work / "maps" / "image1_factual.png").is_symlink()
    assert not [p.name for p in work.rglob("*.tmp")] and not list(work.glob(".*.lock"))
    facts = json.loads((work / "r.json").read_text())
    assert facts["note"].count("\n") == 100_000  # the whole note is kept in the JSON
    import hashlib

    assert facts["report_png_sha256"] == hashlib.sha256((work / "r.png").read_bytes()).hexdigest()
    with Image.open(work / "r.png") as picture:
        assert picture.height < 2500  # the drawn note is capped
    assert json.loads(result["stdout"])["images"][0]["scale"] == 1.0


def test_non_utf8_report_path_is_written(server, assets, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    name = os.fsdecode(b"r\xff.png")
    result = server.run(["explain", assets["a"], assets["b"], "--model", assets["model"], "--report", name], cwd=work,
                        timeout=TIMEOUT, scratch=tmp_path)
    assert result["rc"] == 0 and "Traceback" not in result["stderr"], result["stderr"]
    assert sorted(os.listdir(os.fsencode(work))) == [b"r\xff.json", b"r\xff.png"]
