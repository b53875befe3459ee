"""The one heatmap colouring function of the product (CLI overlays, GUI layers and reports all use it).

Maps may be smaller than the image they are drawn on (core.explain.pair keeps them at most MAX_MAP_SIDE a side):
`blend` and `resize_map` bring a map to the image's size when it is drawn, never before.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

from core.errors import InputError
from core.io.png import write_png
from core.vocabulary import COLORMAPS as NAMES
from core.vocabulary import DEFAULT_COLORMAP

COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
    "cool": cv2.COLORMAP_COOL,
    "winter": cv2.COLORMAP_WINTER,
}
if tuple(COLORMAPS) != NAMES:  # the vocabulary names the colormaps, in order; this table implements them
    raise ImportError(f"core.explain.overlay implements {tuple(COLORMAPS)}, core.vocabulary names {NAMES}")


@lru_cache(maxsize=None)
def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB lookup table of a colormap (index 0 = map value 0, 255 = map value 1)."""
    if name not in COLORMAPS:
        raise InputError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    bgr = cv2.applyColorMap(ramp, COLORMAPS[name]).reshape(256, 3)
    lut = np.ascontiguousarray(bgr[:, ::-1])
    lut.setflags(write=False)
    return lut


def colour_ramp(colormap: str, width: int) -> np.ndarray:
    """(width, 3) uint8 RGB: the colormap from map value 0 (left) to 1 (right), for legends."""
    return colormap_lut(colormap)[np.linspace(0, 255, width).astype(np.uint8)]


def resize_map(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map resampled (bilinear) to `size` = (width, height), clipped to [0, 1]; the map itself when it has that
    size."""
    width, height = size
    if heatmap.shape == (height, width):
        return heatmap
    out = cv2.resize(np.asarray(heatmap, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0, out=out)


def colorize(heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """float map in [0, 1] (H, W) -> uint8 RGB (H, W, 3)."""
    index = np.clip(np.nan_to_num(heatmap) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return colormap_lut(colormap)[index]


def blend(image_rgb: np.ndarray, heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP,
          opacity: float = 0.5) -> np.ndarray:
    """Overlay a map on an image (the map resized to the image when their sizes differ); opacity scales with the
    map value, so cold regions stay clear."""
    out = np.empty(image_rgb.shape[:2] + (3,), dtype=np.uint8)
    for rows, band in map_bands(heatmap, (image_rgb.shape[1], image_rgb.shape[0])):
        out[rows] = _mix(image_rgb[rows], band, colormap, opacity)
    return out


def write_overlay_png(handle, image: Image.Image, heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP,
                      opacity: float = 0.5) -> None:
    """blend() of a picture, written as PNG to a binary handle band by band: neither the image as an array, nor
    the map at the image's size, nor the overlay ever exists whole (a 12 Mpx overlay costs a few MB, not 150)."""
    def bands():
        for rows, band in map_bands(heatmap, image.size):
            part = np.asarray(image.crop((0, rows.start, image.width, rows.stop)).convert("RGB"))
            yield _mix(part, band, colormap, opacity)

    write_png(handle, image.width, image.height, bands())


def map_bands(heatmap: np.ndarray, size: tuple[int, int]):
    """(rows, the map at `size` = (width, height) for those rows) in bands of about BLEND_BAND_PIXELS, bilinear
    as resize_map (cv2.resize's pixel-centre alignment); the map at full size is never made."""
    if heatmap.ndim != 2:
        raise ValueError(f"a map has two dimensions, got shape {heatmap.shape}")
    width, height = size
    step = max(1, BLEND_BAND_PIXELS // max(1, width))
    source = np.asarray(heatmap, np.float32)
    sy, sx = source.shape[0] / height, source.shape[1] / width
    for top in range(0, height, step):
        rows = slice(top, min(top + step, height))
        if source.shape == (height, width):
            yield rows, source[rows]
            continue
        # destination (x, y) samples the source at ((x + 0.5) sx - 0.5, (top + y + 0.5) sy - 0.5)
        inverse = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, (top + 0.5) * sy - 0.5]], np.float32)
        band = cv2.warpAffine(source, inverse, (width, rows.stop - top), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        yield rows, np.clip(band, 0.0, 1.0)


def _mix(image_rgb: np.ndarray, band: np.ndarray, colormap: str, opacity: float) -> np.ndarray:
    alpha = (np.clip(np.nan_to_num(band), 0.0, 1.0) * float(opacity))[..., None]
    mixed = image_rgb.astype(np.float32) * (1.0 - alpha) + colorize(band, colormap).astype(np.float32) * alpha
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


# Rows blended at a time: the float intermediates of a whole 12 Mpx image would cost ~0.6 GB at once.
BLEND_BAND_PIXELS = 1 << 18


# The reviewer's outline: the top fifth of a map's pixels, where most of what it claims lies.
TOP_SHARE = 0.2
CONTOUR_COLOUR = (255, 255, 255)
HATCH_STEP = 12  # pixels between the diagonal lines over a map that failed its faithfulness check


def top_region(heatmap: np.ndarray, size: tuple[int, int], share: float = TOP_SHARE) -> np.ndarray:
    """bool (height, width) at `size` = (width, height): the `share` of pixels where the map is highest (none for
    an empty map)."""
    values = np.nan_to_num(resize_map(np.asarray(heatmap, np.float32), size))  # at `size`: often the smaller
    if values.size == 0 or float(values.max()) <= 0:
        return np.zeros(values.shape, bool)
    cut = float(np.quantile(values, 1.0 - share))
    return (values >= cut) & (values > 0)


def top_contours(heatmap: np.ndarray, size: tuple[int, int] | None = None,
                 share: float = TOP_SHARE) -> list[np.ndarray]:
    """The outlines of the map's top `share` at `size` (width, height; default: the map's own), each an int32
    (N, 2) array of the x, y pixels along it (OpenCV's outer contours; none for an empty map): what the report
    draws and the window traces over its images."""
    height, width = np.asarray(heatmap).shape[:2]
    region = top_region(heatmap, size or (width, height), share).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2) for c in contours]


def draw_top_contour(image_rgb: np.ndarray, heatmap: np.ndarray, share: float = TOP_SHARE,
                     colour: tuple = CONTOUR_COLOUR) -> np.ndarray:
    """The image with the outline of the map's top `share` drawn on it (a dark line under a light one, so it
    shows on skin and on the colours alike)."""
    height, width = image_rgb.shape[:2]
    contours = top_contours(heatmap, (width, height), share)
    out = np.ascontiguousarray(image_rgb.copy())
    thickness = max(1, round(max(width, height) / 260))
    cv2.drawContours(out, contours, -1, (0, 0, 0), thickness + 2, lineType=cv2.LINE_AA)
    cv2.drawContours(out, contours, -1, colour, thickness, lineType=cv2.LINE_AA)
    return out


def hatch(image_rgb: np.ndarray, step: int = HATCH_STEP) -> np.ndarray:
    """The image dimmed towards grey and crossed by diagonal lines: the mark of a map that did not explain the
    score better than chance, drawn on the image itself so that no copy of the picture loses it."""
    out = (image_rgb.astype(np.float32) * 0.55 + 128 * 0.45).astype(np.uint8)
    height, width = out.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    out[((xx + yy) % step) < max(1, step // 6)] = (40, 40, 40)
    return out


def rgba_layer(heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """uint8 RGBA (H, W, 4) layer whose alpha is the map value: composited at a layer opacity, it equals blend()."""
    rgba = np.empty(heatmap.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = colorize(heatmap, colormap)
    rgba[..., 3] = np.clip(np.nan_to_num(heatmap) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return rgba
