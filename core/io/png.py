"""A PNG written band by band (8-bit RGB): a large overlay is encoded as it is drawn and never held whole.

Pillow encodes only a picture it holds complete; a 12 Mpx overlay would then cost its 48 MB picture on top of the
bands it was drawn from. Rows use PNG's "Sub" filter (each byte minus the one a pixel to its left), which any
reader undoes and which compresses a smooth overlay about as well as Pillow's adaptive choice.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO, Iterable

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
SUB_FILTER = 1


def write_png(handle: BinaryIO, width: int, height: int, bands: Iterable[np.ndarray], level: int = 6) -> None:
    """Write a PNG of `width` x `height` to `handle` from uint8 RGB bands of rows, (rows, width, 3), top to bottom;
    ValueError if the bands do not add up to the picture."""
    handle.write(SIGNATURE)
    _chunk(handle, b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))  # 8-bit RGB, not interlaced
    compressor = zlib.compressobj(level)
    written = 0
    for band in bands:
        if band.dtype != np.uint8 or band.shape[1:] != (width, 3):
            raise ValueError(f"a band of {width} RGB pixels a row was expected, got {band.dtype} {band.shape}")
        rows = band.reshape(len(band), width * 3)
        filtered = np.empty((len(band), width * 3 + 1), np.uint8)
        filtered[:, 0] = SUB_FILTER
        filtered[:, 1:4] = rows[:, :3]
        filtered[:, 4:] = rows[:, 3:] - rows[:, :-3]  # uint8 arithmetic wraps modulo 256, as the filter wants
        data = compressor.compress(filtered.tobytes())
        if data:
            _chunk(handle, b"IDAT", data)
        written += len(band)
    if written != height:
        raise ValueError(f"bands of {written} rows for a picture {height} rows high")
    _chunk(handle, b"IDAT", compressor.flush())
    _chunk(handle, b"IEND", b"")


def _chunk(handle: BinaryIO, kind: bytes, data: bytes) -> None:
    handle.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))
