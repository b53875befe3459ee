"""core.explain.overlay and core.io.png: maps drawn over images of another size, band by band, and the colormaps' one
list."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core import vocabulary
from core.explain import overlay
from core.io.png import write_png


def test_the_colormap_table_implements_exactly_the_vocabulary():
    assert tuple(overlay.COLORMAPS) == vocabulary.COLORMAPS
    for name in vocabulary.COLORMAPS:
        ramp = overlay.colour_ramp(name, 64)
        assert ramp.shape == (64, 3) and (ramp[0] == overlay.colormap_lut(name)[0]).all()
        assert (ramp[-1] == overlay.colormap_lut(name)[255]).all()


@pytest.mark.parametrize("source, size", [((20, 50), (200, 80)), ((64, 64), (37, 23)), ((7, 7), (300, 100))])
def test_map_bands_resample_as_resize_map_does(source, size, monkeypatch):
    monkeypatch.setattr(overlay, "BLEND_BAND_PIXELS", 200)  # many bands, band edges included
    heatmap = np.random.default_rng(0).random(source, dtype=np.float32)
    bands = list(overlay.map_bands(heatmap, size))
    assert len(bands) > 1 and bands[-1][0].stop == size[1]
    together = np.concatenate([band for _, band in bands])
    assert np.abs(together - overlay.resize_map(heatmap, size)).max() < 1e-3


def test_an_overlay_png_written_band_by_band_is_the_blended_picture(monkeypatch):
    monkeypatch.setattr(overlay, "BLEND_BAND_PIXELS", 5000)
    rng = np.random.default_rng(1)
    picture = Image.fromarray(rng.integers(0, 255, (301, 517, 3), dtype=np.uint8))
    heatmap = rng.random((40, 70), dtype=np.float32)  # a capped map, smaller than its image
    buffer = io.BytesIO()
    overlay.write_overlay_png(buffer, picture, heatmap, "viridis", 0.6)
    written = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    assert (written == overlay.blend(np.asarray(picture), heatmap, "viridis", 0.6)).all()


def test_a_png_needs_bands_that_make_up_the_picture():
    with pytest.raises(ValueError, match="rows"):
        write_png(io.BytesIO(), 4, 3, [np.zeros((2, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="RGB pixels"):
        write_png(io.BytesIO(), 4, 3, [np.zeros((3, 5, 3), np.uint8)])
