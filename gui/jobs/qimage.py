"""The one place where numpy / Pillow pixels become Qt images and back."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage


def array_to_qimage(array: np.ndarray) -> QImage:
    """uint8 (H, W, 3) RGB or (H, W, 4) straight-alpha RGBA -> a QImage owning a copy of the pixels."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width, channels = array.shape
    fmt = {3: QImage.Format.Format_RGB888, 4: QImage.Format.Format_RGBA8888}[channels]
    return QImage(array.data, width, height, array.strides[0], fmt).copy()


def pil_to_qimage(image: Image.Image) -> QImage:
    return array_to_qimage(np.asarray(image.convert("RGB")))


def qimage_to_array(image: QImage) -> np.ndarray:
    """Any QImage -> uint8 (H, W, 4) RGBA copy (clipboard images, pixel checks of grabbed widgets)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    height, width = rgba.height(), rgba.width()
    buffer = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=rgba.sizeInBytes())
    return buffer.reshape(height, rgba.bytesPerLine())[:, : width * 4].reshape(height, width, 4).copy()


def qimage_to_pil(image: QImage) -> Image.Image:
    return Image.fromarray(qimage_to_array(image), "RGBA")
