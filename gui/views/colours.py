"""Heatmaps and colour ramps as Qt images, coloured by core's one colouring function."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from ..jobs.qimage import array_to_qimage
from ..jobs.tasks import colour_ramp, rgba_layer


def heatmap_qimage(heatmap: np.ndarray, colormap: str) -> QImage:
    """A map in [0, 1] as an RGBA layer whose alpha is the map value."""
    return array_to_qimage(rgba_layer(heatmap, colormap))


def colormap_qimage(colormap: str, width: int = 256, height: int = 1) -> QImage:
    """A horizontal colour ramp of a colormap, for legends."""
    return array_to_qimage(np.repeat(colour_ramp(colormap, width)[None], height, axis=0))
