"""The one heatmap colouring function of the product (CLI overlays, GUI layers and reports all use it)."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA,
}


@lru_cache(maxsize=None)
def colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 RGB lookup table of a colormap (index 0 = map value 0, 255 = map value 1)."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    bgr = cv2.applyColorMap(ramp, COLORMAPS[name]).reshape(256, 3)
    lut = np.ascontiguousarray(bgr[:, ::-1])
    lut.setflags(write=False)
    return lut


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """float map in [0, 1] (H, W) -> uint8 RGB (H, W, 3)."""
    index = np.clip(np.nan_to_num(heatmap) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return colormap_lut(colormap)[index]


def blend(image_rgb: np.ndarray, heatmap: np.ndarray, colormap: str = "jet", opacity: float = 0.5) -> np.ndarray:
    """Overlay a map on an image of the same (H, W); opacity scales with the map value, so cold regions stay clear."""
    if image_rgb.shape[:2] != heatmap.shape:
        raise ValueError(f"map shape {heatmap.shape} does not match image shape {image_rgb.shape[:2]}")
    out = np.empty(image_rgb.shape[:2] + (3,), dtype=np.uint8)
    # In bands of rows: the float intermediates of a whole 12 Mpx image would cost ~0.6 GB at once.
    step = max(1, BLEND_BAND_PIXELS // max(1, heatmap.shape[1]))
    for top in range(0, heatmap.shape[0], step):
        rows = slice(top, top + step)
        band = heatmap[rows]
        alpha = (np.clip(np.nan_to_num(band), 0.0, 1.0) * float(opacity))[..., None]
        mixed = image_rgb[rows].astype(np.float32) * (1.0 - alpha) + colorize(band, colormap).astype(np.float32) * alpha
        out[rows] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


BLEND_BAND_PIXELS = 1 << 20


def rgba_layer(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """uint8 RGBA (H, W, 4) layer whose alpha is the map value: composited at a layer opacity, it equals blend()."""
    rgba = np.empty(heatmap.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = colorize(heatmap, colormap)
    rgba[..., 3] = np.clip(np.nan_to_num(heatmap) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return rgba
