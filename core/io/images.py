"""The one image loader of the product: any raster file Pillow reads and DICOM images (core.io.dicom), returned as
RGB, plus an optional crop."""

from __future__ import annotations

import ctypes
import math
import struct
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import ImageLoadError, InputError
from core.io.dicom import DicomSource, read_dicom
from core.io.files import file_problem, first_line, printable
from core.io.image_files import FINITE_BAND_ROWS, is_dicom, non_finite_problem
from core.vocabulary import MIN_CROP_SIDE

# Far above any photo or scan a reviewer compares; a file claiming more is refused before decoding.
MAX_PIXELS = 200_000_000
# What is kept in memory of an accepted image: larger ones are downsampled once on load (the model sees 128-384 px
# anyway, and a report panel 520 px), so maps, overlays and reports stay bounded whatever the file's size.
MAX_LOADED_PIXELS = 12_000_000  # a 4000 x 3000 photo is kept whole
OVERVIEW_SIDE = 160  # longest side of a cropped image's whole-image overview (LoadedImage.overview)
ORIENTATION = 0x0112  # the EXIF tag, and how each of its values is undone (as ImageOps.exif_transpose does)
TRANSPOSITIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                  5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                  8: Image.Transpose.ROTATE_90}
# Raster formats decoded inside Pillow only. Never EPS/PS/PDF (Ghostscript runs the file's PostScript) nor any
# other plugin that hands the file to an external program: Pillow identifies by content, so the extension
# proves nothing.
FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF")
# Set once for the process (not per call: the GUI loads on two threads); load_image checks the size itself.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

CropBox = tuple[int, int, int, int]  # (x, y, w, h) in original pixel coordinates


@dataclass(frozen=True)
class LoadedImage:
    """An RGB image ready for the model: `image` is already cropped; `original_size` is before the crop."""

    image: Image.Image
    path: str | None
    crop: CropBox | None
    original_size: tuple[int, int]
    # File pixels per pixel of `image` (1.0 unless the file was larger than MAX_LOADED_PIXELS). Crops and maps are
    # in the loaded image's pixels; load_image takes its crop in file pixels and divides by this.
    scale: float = 1.0
    # A small picture of the whole image when `image` is a crop of it (at most OVERVIEW_SIDE a side): reports show
    # it beside the crop with the box drawn, so a reader sees where the crop lies.
    overview: Image.Image | None = None
    # What the file itself says of the case (a DICOM file's patient id, body site, acquisition date; core.io.dicom),
    # as core.review.case_record keys; empty for other formats.
    case_fields: dict = field(default_factory=dict)
    # The DICOM file's patient, study and instance (core.io.dicom.DicomSource): a report made from the image files
    # with it. None for other formats.
    dicom: DicomSource | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    # (width, height) in the file, oriented, when the file was downsampled on load (None: original_size is it).
    source_size: tuple[int, int] | None = None

    @property
    def file_size(self) -> tuple[int, int]:
        """(width, height) of the image in its file, before any downsampling: what an audit record names."""
        return self.source_size or self.original_size


def with_crop(loaded: LoadedImage, crop: CropBox | None) -> LoadedImage:
    """`loaded` (uncropped) cut to `crop`, a box in its loaded pixels, keeping its path and scale: the one way to
    re-crop an image already loaded (the GUI's crop tool, the model's automatic crop)."""
    return replace(from_pil(loaded.image, crop=crop, path=loaded.path), scale=loaded.scale,
                   case_fields=loaded.case_fields, source_size=loaded.source_size, dicom=loaded.dicom)


def load_image(path, crop: CropBox | None = None) -> LoadedImage:
    """Read `path` as RGB (EXIF orientation applied, first frame of animations), optionally cropped (x, y, w, h
    in the file's pixels). Only FORMATS are read; an image over MAX_LOADED_PIXELS is downsampled on load.

    Every failure raises ImageLoadError with a one-line message naming the file.
    """
    path = Path(path)
    name = printable(path)
    try:
        problem = file_problem(path, "image file")
        if problem:
            raise ImageLoadError(f"{name}: {problem}")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: file is empty")
        case_fields: dict = {}
        source = None
        if is_dicom(path):
            rgb, case_fields, source = _read_dicom(path, name)
            source_size = rgb.size
            rgb = _shrink(rgb)
        else:
            rgb, source_size = _read_rgb(path)
        scale = source_size[0] / rgb.width
        if scale != 1.0:  # the full-size decoding has been freed by now (not while _read_rgb held it)
            _return_freed_memory()
    except ImageLoadError:
        raise
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{name}: image is too large (over {MAX_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: unsupported format (not a {', '.join(FORMATS)} image)") from None
    except PermissionError:
        raise ImageLoadError(f"{name}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, ZeroDivisionError,
            struct.error, RuntimeError, MemoryError) as exc:  # what Pillow's decoders raise on hostile data
        raise ImageLoadError(f"{name}: corrupt or truncated image data ({first_line(exc, 120)})") from None
    if crop is not None and scale != 1.0:
        crop = _scaled_crop(validate_crop(crop, _file_size(rgb.size, scale), name), scale, rgb.size)
    return replace(from_pil(rgb, crop=crop, path=str(path)), scale=scale, case_fields=case_fields,
                   source_size=source_size if scale != 1.0 else None, dicom=source)


def from_pil(image: Image.Image, crop: CropBox | None = None, path: str | None = None) -> LoadedImage:
    """Wrap an in-memory image (e.g. pasted from the clipboard) exactly as load_image does a file."""
    label = printable(path or "<image>")
    rgb = image if image.mode == "RGB" else to_rgb(image)
    if rgb.width == 0 or rgb.height == 0:
        raise ImageLoadError(f"{label}: image has zero size")
    scale, source_size = 1.0, None
    if crop is None and rgb.width * rgb.height > MAX_LOADED_PIXELS:  # a huge paste: bounded as a huge file is
        shrunk = _shrink(rgb)
        scale, source_size, rgb = rgb.width / shrunk.width, rgb.size, shrunk
    original_size = rgb.size
    overview = None
    if crop is not None:
        crop = validate_crop(crop, original_size, label)
        x, y, w, h = crop
        overview = _overview(rgb)
        rgb = rgb.crop((x, y, x + w, y + h))
    return LoadedImage(image=rgb, path=path, crop=crop, original_size=original_size, scale=scale, overview=overview,
                       source_size=source_size)


def validate_crop(crop, size: tuple[int, int], label: str = "<image>") -> CropBox:
    """Return crop as four ints, or raise ImageLoadError if it is not a box of at least MIN_CROP_SIDE pixels per
    side inside the image. The one check of a crop: the CLI, batch and the GUI all get its messages."""
    try:
        x, y, w, h = (int(v) for v in crop)
    except (TypeError, ValueError, OverflowError):
        raise ImageLoadError(f"{label}: crop must be four integers x,y,w,h, got {printable(repr(crop), 80)}") from None
    width, height = size
    problem = crop_problem((x, y, w, h), size)
    if problem:
        raise ImageLoadError(f"{label}: crop {x},{y},{w},{h}: {problem}")
    if x + w > width or y + h > height:
        raise ImageLoadError(f"{label}: crop {x},{y},{w},{h} lies outside the {width}x{height} image")
    return (x, y, w, h)


def crop_problem(crop: CropBox, size: tuple[int, int] | None = None) -> str:
    """What is wrong with a crop box ('' if nothing): a negative corner, a side under MIN_CROP_SIDE pixels (too
    small for the network to see anything). With the image's `size`, a shorter side spanning the whole image's
    side is no problem: the box then cuts nothing off that side of an image smaller than MIN_CROP_SIDE (the
    automatic lesion crop of a tiny image, which the model explains as it does any image)."""
    x, y, w, h = crop
    for name, value in (("x", x), ("y", y)):
        if value < 0:
            return f"{name} must be >= 0, got {value}"
    spans = (x == 0 and w == size[0], y == 0 and h == size[1]) if size else (False, False)
    for name, value, whole in (("w", w, spans[0]), ("h", h, spans[1])):
        if value < MIN_CROP_SIDE and not whole:
            return f"{name} must be at least {MIN_CROP_SIDE} px, got {value}"
    return ""


def parse_crop(text: str) -> CropBox:
    """Parse 'x,y,w,h' from the command line, refusing what crop_problem refuses; whether the box lies inside the
    image is checked once the image is known."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise InputError(f"crop must be x,y,w,h (four integers), got {text!r}")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"crop must be x,y,w,h (four integers), got {text!r}") from None
    crop = (x, y, w, h)
    problem = crop_problem(crop)
    if problem:
        raise InputError(problem)
    return crop


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, scaling 16-bit and float data by their real range."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        if mode == "F":
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        else:
            # 16-bit data occupies 0..65535; 32-bit int data is scaled by its own maximum.
            top = 65535.0 if mode.startswith("I;16") or arr.max() <= 65535 else float(arr.max())
            arr = np.clip(arr / top, 0.0, 1.0)
        gray = (np.nan_to_num(arr) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode in ("LA", "RGBA", "PA") or (mode == "P" and "transparency" in image.info):
        # Composite transparency over white, as every viewer shows it.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _read_rgb(path: Path) -> tuple[Image.Image, tuple[int, int]]:
    """(the image as RGB, downsampled to MAX_LOADED_PIXELS; its oriented size in the file)"""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # Pillow's decompression-bomb and EXIF warnings: the checks here decide
        with Image.open(path, formats=FORMATS) as img:
            if img.format not in FORMATS and img.format != "MPO":  # MPO: JPEG with extra pictures, read as JPEG
                raise UnidentifiedImageError(img.format)
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            img.seek(0)  # animated files: first frame
            factor = _shrink_factor(width, height)
            if factor > 1 and img.format in ("JPEG", "MPO"):
                # DCT scaling decodes at 1/2, 1/4 or 1/8 size directly: the full image never exists in memory
                img.draft(img.mode, (width // factor, height // factor))
            img.load()  # force decoding now, so truncation is detected here
            if img.mode == "F":  # the one mode of undefined values; checked before any resizing blurs them away
                problem = non_finite_problem(np.asarray(img.crop((0, top, width, min(height, top + FINITE_BAND_ROWS))))
                                             for top in range(0, height, FINITE_BAND_ROWS))
                if problem:
                    raise ImageLoadError(f"{printable(path)}: {problem}")
            orientation = img.getexif().get(ORIENTATION, 1)
            small = _shrink(img)
            # turned after shrinking: exif_transpose would copy the full decoded image even when upright
            turn = TRANSPOSITIONS.get(orientation) if isinstance(orientation, int) else None
            oriented = small.transpose(turn) if turn is not None else small
            rgb = to_rgb(oriented)
        swapped = oriented.size != small.size
    return rgb, ((height, width) if swapped else (width, height))


def _read_dicom(path: Path, name: str) -> tuple[Image.Image, dict, DicomSource]:
    try:
        return read_dicom(path, MAX_PIXELS)
    except ValueError as exc:
        raise ImageLoadError(f"{name}: {exc}") from None


def _return_freed_memory() -> None:
    """Give the decoded full-size image's memory back to the system now. glibc keeps freed heap memory for reuse,
    and Pillow's 16 MB blocks land on the heap once a large free has raised malloc's mmap threshold: without
    this, a huge image's decoding stays in the process's memory beside the model for the rest of the run."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # another C library (musl): nothing to trim
            pass


def _shrink_factor(width: int, height: int) -> int:
    """The integer reduction JPEG draft mode may apply (it decodes at >= the requested size)."""
    return max(1, math.floor(math.sqrt(width * height / MAX_LOADED_PIXELS)))


def _shrink(image: Image.Image) -> Image.Image:
    """`image` resized to at most MAX_LOADED_PIXELS (aspect kept); box-reduced first, so cheap at any size."""
    width, height = image.size
    if width * height <= MAX_LOADED_PIXELS:
        return image
    ratio = math.sqrt(MAX_LOADED_PIXELS / (width * height))
    size = (max(1, math.floor(width * ratio)), max(1, math.floor(height * ratio)))
    factor = min(width // size[0], height // size[1])
    try:
        if factor >= 2:  # box averaging by a whole factor first: small intermediates, no aliasing
            image = image.reduce(factor)
        return image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)
    except (ValueError, NotImplementedError):  # modes without filtered resizing (some 16-bit ones)
        return image.resize(size, Image.Resampling.NEAREST)


def _overview(image: Image.Image) -> Image.Image:
    factor = max(image.size) // (2 * OVERVIEW_SIDE)
    small = image.reduce(factor) if factor > 1 else image.copy()  # box-reduced first: no full-size copy
    small.thumbnail((OVERVIEW_SIDE, OVERVIEW_SIDE), Image.Resampling.BILINEAR)
    return small


def _file_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return round(size[0] * scale), round(size[1] * scale)


def _scaled_crop(crop: CropBox, scale: float, size: tuple[int, int]) -> CropBox:
    """A crop in file pixels (validated there) -> the loaded image's pixels; each side kept at MIN_CROP_SIDE or
    more (the whole side of a smaller image), so a crop the user was allowed stays allowed after the downsampling."""
    x, y, w, h = crop
    sides = []
    for start, length, limit in ((x, w, size[0]), (y, h, size[1])):
        side = min(max(round(length / scale), MIN_CROP_SIDE), limit)
        sides.append((min(int(start / scale), limit - side), side))
    (sx, sw), (sy, sh) = sides
    return (sx, sy, sw, sh)
