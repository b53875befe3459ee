"""The one image loader of the product: any file Pillow reads, returned as RGB, plus an optional crop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError
from .files import first_line

# Far above any photo or scan a reviewer compares, far below what exhausts memory (~600 MB as RGB).
MAX_PIXELS = 200_000_000

CropBox = tuple[int, int, int, int]  # (x, y, w, h) in original pixel coordinates


@dataclass(frozen=True)
class LoadedImage:
    """An RGB image ready for the model: `image` is already cropped; `original_size` is before the crop."""

    image: Image.Image
    path: str | None
    crop: CropBox | None
    original_size: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def load_image(path, crop: CropBox | None = None) -> LoadedImage:
    """Read `path` as RGB (EXIF orientation applied, first frame of animations), optionally cropped.

    Every failure raises ImageLoadError with a one-line message naming the file.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise ImageLoadError(f"{name}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"{name}: is a folder, not an image file")
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: file is empty")
        rgb = _read_rgb(path)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{name}: image is too large (over {MAX_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image (format not recognised)") from None
    except PermissionError:
        raise ImageLoadError(f"{name}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{name}: corrupt or truncated image data ({first_line(exc, 120)})") from None
    return from_pil(rgb, crop=crop, path=name)


def from_pil(image: Image.Image, crop: CropBox | None = None, path: str | None = None) -> LoadedImage:
    """Wrap an in-memory image (e.g. pasted from the clipboard) exactly as load_image does a file."""
    label = path or "<image>"
    rgb = image if image.mode == "RGB" else to_rgb(image)
    if rgb.width == 0 or rgb.height == 0:
        raise ImageLoadError(f"{label}: image has zero size")
    original_size = rgb.size
    if crop is not None:
        crop = validate_crop(crop, original_size, label)
        x, y, w, h = crop
        rgb = rgb.crop((x, y, x + w, y + h))
    return LoadedImage(image=rgb, path=path, crop=crop, original_size=original_size)


def validate_crop(crop, size: tuple[int, int], label: str = "<image>") -> CropBox:
    """Return crop as four ints, or raise ImageLoadError if it is not a non-empty box inside the image."""
    try:
        x, y, w, h = (int(v) for v in crop)
    except (TypeError, ValueError):
        raise ImageLoadError(f"{label}: crop must be four integers x,y,w,h, got {crop!r}") from None
    width, height = size
    if w <= 0 or h <= 0:
        raise ImageLoadError(f"{label}: crop {x},{y},{w},{h} has zero or negative size")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise ImageLoadError(f"{label}: crop {x},{y},{w},{h} lies outside the {width}x{height} image")
    return (x, y, w, h)


def parse_crop(text: str) -> CropBox:
    """Parse 'x,y,w,h' from the command line; shape only, bounds are checked once the image is known."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"crop must be x,y,w,h (four integers), got {text!r}")
    try:
        return tuple(int(p) for p in parts)  # type: ignore[return-value]
    except ValueError:
        raise ValueError(f"crop must be x,y,w,h (four integers), got {text!r}") from None


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


def _read_rgb(path: Path) -> Image.Image:
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            img.seek(0)  # animated files: first frame
            img.load()  # force decoding now, so truncation is detected here
            oriented = ImageOps.exif_transpose(img)
            return to_rgb(oriented)
    finally:
        Image.MAX_IMAGE_PIXELS = previous
