"""Property tests (issue 11): whatever bytes or values arrive, the loader and the parsers raise only their domain
errors, with one printable line."""

from __future__ import annotations

import io
import json
import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import ImageLoadError
from core.io.files import printable
from core.io.images import load_image, parse_crop, validate_crop
from core.model.weights import validate_metadata

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_printable_line(message: str) -> None:
    assert message and "\n" not in message and "\x1b" not in message


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png_bytes()


@FAST
@given(data=st.one_of(
    st.binary(max_size=2048),
    st.binary(max_size=64).map(lambda tail: PNG[:33] + tail),  # a valid header, then anything
    st.tuples(st.integers(0, len(PNG) - 1), st.integers(0, 255)).map(
        lambda edit: PNG[:edit[0]] + bytes([edit[1]]) + PNG[edit[0] + 1:]),  # one byte changed
    st.sampled_from([b"%!PS-Adobe-3.0 EPSF-3.0\n", b"%PDF-1.7\n", b"GIF89a", b"BM", b"II*\x00",
                     b"\xff\xd8\xff"]).flatmap(
        lambda magic: st.binary(max_size=256).map(lambda rest: magic + rest)),
))
def test_loader_raises_only_image_load_error(tmp_path, data):
    path = tmp_path / "input.png"
    path.write_bytes(data)
    try:
        loaded = load_image(path)
    except ImageLoadError as exc:
        _one_printable_line(str(exc))
        assert "input.png" in str(exc)
    else:
        assert loaded.image.mode == "RGB" and loaded.image.width * loaded.image.height > 0


@FAST
@given(text=st.text(max_size=60))
def test_crop_parser_raises_only_value_error(text):
    try:
        crop = parse_crop(text)
    except ValueError as exc:
        assert "crop" in str(exc)
    else:
        assert len(crop) == 4 and all(isinstance(v, int) for v in crop)


@FAST
@example(crop=[float("inf"), 0, 1, 1], size=(10, 10))
@given(crop=st.lists(st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True), st.text(max_size=5), st.none()),
                     max_size=6),
       size=st.tuples(st.integers(1, 5000), st.integers(1, 5000)))
def test_crop_validation_raises_only_image_load_error(crop, size):
    try:
        x, y, w, h = validate_crop(crop, size)
    except ImageLoadError as exc:
        _one_printable_line(str(exc))
    else:
        assert w > 0 and h > 0 and 0 <= x and 0 <= y and x + w <= size[0] and y + h <= size[1]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
CONFIG_KEYS = ["architecture", "input_size", "embedding_dim", "hidden_dim", "mean", "std", "threshold", "margin",
               "lesion_crop", "crop_margin", "color_constancy"]


@FAST
@given(config=st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON_VALUES, max_size=6),
       extra=st.dictionaries(st.sampled_from(["name", "test_metrics", "classes", "seen_images", "x"]), JSON_VALUES,
                             max_size=3))
def test_metadata_parser_raises_only_value_error(config, extra):
    text = json.dumps({"config": config, **extra})
    try:
        meta = validate_metadata(text)
    except ValueError as exc:
        _one_printable_line(printable(str(exc)))
        return
    from core.model.network import ModelConfig

    built = ModelConfig.from_dict(meta["config"])  # what load_model does next: must not fail either
    assert 16 <= built.input_size <= 1024 and 0.0 <= built.threshold <= 1.0
    assert all(math.isfinite(v) and v > 0 for v in built.std)
    assert "\n" not in str(meta.get("name", ""))


@FAST
@given(text=st.one_of(st.binary(max_size=200).map(lambda b: b.decode("latin-1")), st.text(max_size=200)))
def test_metadata_parser_on_any_text(text):
    try:
        validate_metadata(text)
    except ValueError:
        pass


@given(text=st.text(max_size=400))
def test_printable_is_one_safe_line(text):
    safe = printable(text, 100)
    assert len(safe) <= 100 and "\n" not in safe and "\r" not in safe and "\x1b" not in safe
    safe.encode("utf-8")  # never a lone surrogate
