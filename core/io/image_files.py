"""What counts as an image file, and as image data the model can be shown: the one definition that gallery scans,
training folders, file dialogs, drops, pairs CSV rows (worklist and batch) and the samples use.

The suffix decides which files of a folder are offered; a file named directly (dropped, opened, a CSV row) is also
one when it is DICOM by its content, whatever its name (a PACS export often has no suffix). Whether a file really is
an image is decided by its content when core.io.images loads it (a .jpg that is not one is still refused there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Raster formats core.io.images decodes inside Pillow, plus DICOM (core.io.dicom).
RASTER_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DICOM_SUFFIXES = (".dcm",)
IMAGE_SUFFIXES = frozenset(RASTER_SUFFIXES + DICOM_SUFFIXES)
MAGIC_OFFSET = 128  # a DICOM file's preamble, then b"DICM"
# Rows checked at a time for undefined values: a huge float image is never copied whole.
FINITE_BAND_ROWS = 512


def is_image_file(path) -> bool:
    """Whether `path` is a regular file with an image suffix (any case)."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def is_dicom(path) -> bool:
    """Whether the file at `path` is DICOM by its content (the "DICM" marker after the preamble)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def not_an_image(path) -> str:
    """'' when the file named at `path` may be an image (an image suffix, or DICOM by its content), else the reason,
    for the one line naming the file. A path that is no readable file passes: the loader says what is wrong with it
    (core.io.files.file_problem)."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES or not path.is_file() or is_dicom(path):
        return ""
    return f"not an image file (expected {', '.join(RASTER_SUFFIXES + DICOM_SUFFIXES)} or a DICOM file)"


def file_dialog_filter() -> str:
    """The 'Images (...)' filter of an open-file dialog, then 'All files'."""
    patterns = " ".join(f"*{suffix}" for suffix in RASTER_SUFFIXES + DICOM_SUFFIXES)
    return f"Images ({patterns});;All files (*)"


def non_finite_problem(rows) -> str:
    """'' when every value of a float image is finite, else what is wrong, for the one-line error naming the file:
    NaN or infinite brightness has no place on the 0-255 scale the model sees (a float TIFF of NaN would otherwise
    be scored as a flat grey picture). `rows` yields arrays of pixel values (bands of an image)."""
    bad = total = 0
    for band in rows:
        values = np.asarray(band)
        if values.dtype.kind not in "fc":
            return ""
        bad += int(values.size - np.count_nonzero(np.isfinite(values)))
        total += values.size
    if not bad:
        return ""
    share = "all" if bad == total else f"{bad:,} of {total:,}"
    return f"image holds NaN or infinite values ({share} pixel values): refused, it cannot be shown to the model"
